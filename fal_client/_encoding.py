"""Data URLs (``data:<mime>;base64,...``): inline inputs that fal accepts wherever a URL is."""

from __future__ import annotations

import base64
import io
import mimetypes
import os
import re
import sys
from pathlib import Path
from typing import Any, Union

__all__ = ["encode", "encode_file", "encode_image", "guess_content_type"]

DEFAULT_CONTENT_TYPE = "application/octet-stream"


def guess_content_type(name: Union[str, os.PathLike[str]]) -> str:
    """The MIME type of a file name, or ``application/octet-stream``."""
    guessed, _ = mimetypes.guess_type(str(name))
    return guessed or DEFAULT_CONTENT_TYPE


def encode(data: Union[str, bytes], content_type: str) -> str:
    """A base64 data URL of ``data`` (str is encoded as UTF-8) with the given MIME type.

    ``content_type`` may carry parameters (``"text/plain; charset=utf-8"``); they go into the
    URL without spaces, as ``data:text/plain;charset=utf-8;base64,...``. A quoted value that is
    a plain token loses its quotes; any other stays a quoted string, which data URL parsers
    (WHATWG's, Python's ``urllib``) read back unquoted. A value cannot hold a ``,``.

    Raises:
        TypeError: ``data`` is not bytes or str.
        ValueError: ``content_type`` is not ``type/subtype`` with well-formed parameters (the
            message says which part is wrong).
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes or str, got {type(data).__name__}")
    media_type, parameters = parse_media_type(content_type)
    header = media_type + "".join(
        f";{name}={_data_url_value(name, value, content_type)}" for name, value in parameters
    )
    return f"data:{header};base64,{base64.b64encode(bytes(data)).decode('ascii')}"


# RFC 9110: token = 1*tchar; a parameter is ``token "=" ( token / quoted-string )``.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Inside quotes: visible ASCII, space or tab; ``"`` and ``\`` only escaped by a ``\``.
_QUOTED = re.compile(r'"((?:[\t \x21\x23-\x5b\x5d-\x7e]|\\[\t \x21-\x7e])*)"')
_OWS = " \t"


def _bad_type(content_type: Any, why: str = "") -> ValueError:
    detail = f": {why}" if why else ""
    return ValueError(
        f"content_type must be a MIME type like 'image/png' or 'text/plain; charset=utf-8', "
        f"got {content_type!r}{detail}"
    )


def parse_media_type(content_type: Any) -> tuple[str, list[tuple[str, str]]]:
    """Split a MIME type into ``type/subtype`` and its ``(name, value)`` parameters, checked.

    Follows RFC 9110 (section 8.3.1): ``type/subtype`` are tokens; each parameter is
    ``name=value`` after a ``;`` (spaces around the ``;`` allowed, none around ``=``), the name a
    token, the value a token or a quoted string (returned unquoted). Empty parameters (``;;``)
    are skipped; a name given twice (in any case) is refused.

    Raises:
        ValueError: what is malformed, and where.
    """
    if not isinstance(content_type, str):
        raise _bad_type(content_type)
    head, semicolon, _ = content_type.partition(";")
    kind, slash, subtype = head.strip(_OWS).partition("/")
    if not slash:
        raise _bad_type(content_type, "no '/' between type and subtype")
    for what, part in (("type", kind), ("subtype", subtype)):
        if not _TOKEN.fullmatch(part):
            raise _bad_type(content_type, f"the {what} {part!r} is not a token")
    parameters: list[tuple[str, str]] = []
    seen: set[str] = set()
    # Invariant: ``position`` is just after a ';' (or past the end when there is none).
    position = len(head) + len(semicolon)
    while semicolon and position <= len(content_type):
        position = _skip_ows(content_type, position)
        if position == len(content_type):
            break
        if content_type[position] != ";":  # else an empty parameter, which RFC 9110 allows
            name, value, position = _parameter(content_type, position)
            if name.lower() in seen:
                raise _bad_type(content_type, f"parameter {name!r} is given twice")
            seen.add(name.lower())
            parameters.append((name, value))
        position += 1
    return f"{kind}/{subtype}", parameters


def _skip_ows(text: str, position: int) -> int:
    while position < len(text) and text[position] in _OWS:
        position += 1
    return position


def _parameter(content_type: str, start: int) -> tuple[str, str, int]:
    """The parameter at ``start``: its name, its unquoted value, and the index of the ';' (or
    the end) that follows it."""
    raw = content_type[start:].split(";", 1)[0].rstrip(_OWS)  # for messages only

    def bad(why: str) -> ValueError:
        return _bad_type(content_type, why)

    def not_a_value() -> ValueError:
        return bad(
            f"the value of parameter {name!r} must be a token or a quoted string, got "
            f"{raw[len(name) + 1 :]!r}; quote a value that holds spaces or separators"
        )

    name_match = _TOKEN.match(content_type, start)
    if name_match is None:
        raise bad(f"parameter {raw!r} does not start with a name")
    name, position = name_match.group(), name_match.end()
    if not content_type.startswith("=", position):
        if content_type[position:].lstrip(_OWS).startswith("="):
            raise bad(f"no spaces allowed before '=' in parameter {name!r}")
        if content_type[position:].lstrip(_OWS)[:1] in ("", ";"):
            raise bad(f"parameter {name!r} has no value (expected name=value)")
        raise bad(f"parameter {raw!r} is not name=value")
    position += 1
    if content_type.startswith('"', position):
        quoted = _QUOTED.match(content_type, position)
        if quoted is None:
            raise bad(
                f"the quoted value of parameter {name!r} is not closed, or holds a control "
                "or non-ASCII character"
            )
        value, position = re.sub(r"\\(.)", r"\1", quoted.group(1)), quoted.end()
    else:
        token = _TOKEN.match(content_type, position)
        if token is None:
            if content_type[position:].lstrip(_OWS)[:1] in ("", ";"):
                raise bad(f"parameter {name!r} has an empty value")
            if content_type[position] in _OWS:
                raise bad(f"no spaces allowed after '=' in parameter {name!r}")
            raise not_a_value()
        value, position = token.group(), token.end()
    after = _skip_ows(content_type, position)
    if after < len(content_type) and content_type[after] != ";":
        raise not_a_value()
    return name, value, after


def _data_url_value(name: str, value: str, content_type: str) -> str:
    # Data URL parsers (WHATWG's, Python's urllib) read the media type as it is, without
    # percent-decoding it, and parse it as a MIME type: a quoted string comes back unquoted.
    # Only a ',' cannot be carried: it ends the media type.
    if "," in value:
        raise _bad_type(
            content_type, f"parameter {name!r} holds a ',', which would end a data URL's media type"
        )
    if _TOKEN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def check_content_type(content_type: Any) -> str:
    """``content_type`` if it is a well-formed MIME type (parameters allowed), so it is safe
    as a header value; the same rules as ``encode`` (``parse_media_type``).

    Raises:
        ValueError: what is malformed, and where.
    """
    parse_media_type(content_type)
    return str(content_type)


def read_file_checked(path: Union[str, os.PathLike[str]]) -> Path:
    """``path`` as a ``Path`` after checking it names a readable regular file.

    Raises:
        TypeError: ``path`` is not a str or path.
        FileNotFoundError, IsADirectoryError, PermissionError: it cannot be read as a file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {str(p)!r}")
    if p.is_dir():
        raise IsADirectoryError(f"expected a file, got a directory: {str(p)!r}")
    if not p.is_file():
        raise ValueError(f"not a regular file (a device or pipe?): {str(p)!r}")
    try:
        # Opening is the only reliable check (os.access ignores ACLs and lies to root).
        with p.open("rb"):
            pass
    except PermissionError:
        raise PermissionError(f"file is not readable: {str(p)!r}") from None
    return p


def encode_file(path: Union[str, os.PathLike[str]]) -> str:
    """A data URL of a file's contents, its MIME type guessed from the name.

    Raises:
        FileNotFoundError, IsADirectoryError, PermissionError: ``path`` is not a readable file.
    """
    p = read_file_checked(path)
    return encode(p.read_bytes(), guess_content_type(p))


_PILLOW_MISSING = (
    "encode_image/upload_image need Pillow, which is not installed: "
    "pip install 'fal-client-anyio[image]' (or pip install Pillow)"
)


def is_pil_image(value: Any) -> bool:
    """Whether ``value`` is a PIL image, without importing Pillow if nobody has."""
    module = sys.modules.get("PIL.Image")
    return module is not None and isinstance(value, module.Image)


def image_format(format: Any) -> tuple[str, str]:
    """Pillow's name for an image format (``"jpg"`` -> ``"JPEG"``) and its file extension.

    Raises:
        ImportError: Pillow is not installed (the message says how to install it).
        ValueError: Pillow cannot save images in this format.
    """
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_PILLOW_MISSING) from exc
    if not isinstance(format, str) or not format.strip(".").strip():
        raise ValueError(f"unknown image format {format!r}; use e.g. 'jpeg' or 'png'")
    name = format.strip().lstrip(".").lower()
    extensions = Image.registered_extensions()
    fmt = extensions.get(f".{name}") or name.upper()
    if fmt not in Image.SAVE:
        raise ValueError(f"unknown image format {format!r}; use e.g. 'jpeg' or 'png'")
    extension = next((e for e, f in extensions.items() if f == fmt and e[1:] == name), None)
    extension = extension or next((e for e, f in extensions.items() if f == fmt), f".{name}")
    return fmt, extension.lstrip(".")


def image_bytes(image: Any, format: str) -> tuple[bytes, str]:
    """Serialise a PIL image; returns the bytes and their MIME type.

    Raises:
        ImportError: Pillow is not installed.
        TypeError: ``image`` is not a PIL image.
        ValueError: an unknown format, or one that cannot hold this image.
    """
    fmt, _ = image_format(format)
    from PIL import Image

    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL.Image.Image, got {type(image).__name__}")
    buffer = io.BytesIO()
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")  # JPEG has no alpha channel
    try:
        image.save(buffer, format=fmt)
    except (OSError, KeyError) as exc:
        raise ValueError(f"cannot save a {image.mode} image as {fmt}: {exc}") from exc
    mime = Image.MIME.get(fmt) or f"image/{fmt.lower()}"
    return buffer.getvalue(), mime


def encode_image(image: Any, format: str = "jpeg") -> str:
    """A data URL of a PIL image saved in ``format`` (``jpeg``, ``png``, ...)."""
    data, mime = image_bytes(image, format)
    return encode(data, mime)
