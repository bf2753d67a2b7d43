"""Reading the files an app's input points to, without the network.

A fal app downloads the URLs in its input (``image_url`` and the like). The emulator's apps can
read two kinds: ``data:`` URLs (what ``fal_client.encode_image`` makes) and files on this
emulator's own CDN (what uploads and app outputs return). Nothing else is fetched, so an emulated
app can never reach an outside address. Parsing is here, free of I/O; the file store does the
reading.
"""

from __future__ import annotations

import base64
import binascii
from typing import Optional, Sequence, Tuple
from urllib.parse import unquote_to_bytes, urlsplit

_FILES_PREFIX = "/cdn/files/"
_DEFAULT_DATA_TYPE = "text/plain;charset=US-ASCII"  # RFC 2397's default media type


def decode_data_url(url: str) -> Tuple[str, bytes]:
    """The media type and bytes of a ``data:`` URL (RFC 2397, base64 or percent-encoded).

    Raises:
        ValueError: it is not a well-formed data URL.
    """
    if not url[:5].lower() == "data:":
        raise ValueError("not a data: URL")
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise ValueError("a data: URL needs a ',' before its data")
    params = [part.strip() for part in header.split(";")]
    is_base64 = len(params) > 1 and params[-1].lower() == "base64"
    if is_base64:
        params = params[:-1]
    media_type = ";".join(params) if params and params[0] else _DEFAULT_DATA_TYPE
    if is_base64:
        try:
            data = base64.b64decode(unquote_to_bytes(payload), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"invalid base64 in data: URL ({exc})") from None
    else:
        data = unquote_to_bytes(payload)
    return media_type, data


def cdn_file_id(url: str, base_urls: Sequence[str]) -> Optional[str]:
    """The file id in ``url`` if it addresses ``{base}/cdn/files/{id}/{name}`` for one of
    ``base_urls`` (``scheme://host:port``), else None. Query and fragment are ignored."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if origin not in {base.rstrip("/").lower() for base in base_urls if base}:
        return None
    if not parts.path.startswith(_FILES_PREFIX):
        return None
    file_id, slash, _name = parts.path[len(_FILES_PREFIX) :].partition("/")
    return file_id if file_id and slash else None
