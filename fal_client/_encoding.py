"""Data URLs (``data:<mime>;base64,...``): inline inputs that fal accepts wherever a URL is."""

from __future__ import annotations

import base64
import mimetypes
import os
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


def read_file_checked(path: Union[str, os.PathLike[str]]) -> Path:
    """``path`` as a ``Path`` after checking it names a readable regular file."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {str(p)!r}")
    if p.is_dir():
        raise IsADirectoryError(f"expected a file, got a directory: {str(p)!r}")
    if not os.access(p, os.R_OK):
        raise PermissionError(f"file is not readable: {str(p)!r}")
    return p


def encode_file(path: Union[str, os.PathLike[str]]) -> str:
    """A data URL of a file's contents, its MIME type guessed from the name."""
    p = read_file_checked(path)
    return encode(p.read_bytes(), guess_content_type(p))


def image_bytes(image: Any, format: str) -> tuple[bytes, str]:
    """Serialise a PIL image; returns the bytes and their MIME type."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "encode_image/upload_image need Pillow: pip install 'fal-client-anyio[image]'"
        ) from exc
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL.Image.Image, got {type(image).__name__}")
    if not isinstance(format, str) or format.upper() not in Image.registered_extensions().values():
        raise ValueError(f"unknown image format {format!r}; use e.g. 'jpeg' or 'png'")
    import io

    buffer = io.BytesIO()
    fmt = format.upper()
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")  # JPEG has no alpha channel
    image.save(buffer, format=fmt)
    mime = Image.MIME.get(fmt) or f"image/{format.lower()}"
    return buffer.getvalue(), mime


def encode_image(image: Any, format: str = "jpeg") -> str:
    """A data URL of a PIL image saved in ``format`` (``jpeg``, ``png``, ...)."""
    data, mime = image_bytes(image, format)
    return encode(data, mime)
