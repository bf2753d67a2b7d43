"""Data URLs (``data:<mime>;base64,...``): inline inputs that fal accepts wherever a URL is."""

from __future__ import annotations

import base64
import io
import mimetypes
import os
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
    """A base64 data URL of ``data`` (str is encoded as UTF-8) with the given MIME type."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes or str, got {type(data).__name__}")
    if (
        not isinstance(content_type, str)
        or "/" not in content_type
        or any(c in content_type for c in ",;\r\n ")
    ):
        raise ValueError(f"content_type must be a MIME type like 'image/png', got {content_type!r}")
    return f"data:{content_type};base64,{base64.b64encode(bytes(data)).decode('ascii')}"


def check_content_type(content_type: Any) -> str:
    """``content_type`` if it looks like a MIME type (parameters allowed) safe for a header.

    Raises:
        ValueError: not a ``type/subtype`` string, or it contains a control character.
    """
    if (
        not isinstance(content_type, str)
        or "/" not in content_type.split(";", 1)[0]
        or any(ord(c) < 32 or ord(c) == 127 for c in content_type)
    ):
        raise ValueError(f"content_type must be a MIME type like 'image/png', got {content_type!r}")
    return content_type


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
