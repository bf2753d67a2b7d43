"""File operations of the clients: upload, upload_file, upload_image, download.

Mixins of ``AsyncClient`` (the engine) and ``SyncClient`` (the same through the portal), kept
in their own module so the files work has one home.
"""

from __future__ import annotations

from functools import partial
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import anyio

from . import _validate as check
from ._download import download
from ._encoding import guess_content_type, image_bytes, read_file_checked
from ._upload import CDNTokenCache, Lifecycle, lifecycle_headers, upload_bytes

if TYPE_CHECKING:
    from ._client import AsyncClient
    from ._portal import Portal
    from ._transport import Transport


class AsyncFilesAPI:
    """The file operations of ``AsyncClient``."""

    _transport: Transport
    _cdn_tokens: CDNTokenCache

    async def upload(
        self,
        data: Union[bytes, str],
        content_type: str,
        file_name: Optional[str] = None,
        *,
        lifecycle: Optional[Lifecycle] = None,
    ) -> str:
        """Upload bytes (or a str, as UTF-8) to fal's storage and return their URL.

        Args:
            data: the content.
            content_type: its MIME type, e.g. ``"image/png"``.
            file_name: a name for the stored object.
            lifecycle: fal's object lifecycle, e.g. ``{"expiration_duration_seconds": 3600}``.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes or str, got {type(data).__name__}")
        if not isinstance(content_type, str) or "/" not in content_type:
            raise ValueError(
                f"content_type must be a MIME type like 'image/png', got {content_type!r}"
            )
        check.optional_str("file_name", file_name)
        lifecycle_headers(lifecycle)  # validate before sending anything
        return await upload_bytes(
            self._transport, self._cdn_tokens, data, content_type, file_name, lifecycle=lifecycle
        )

    async def upload_file(
        self, path: Union[str, PathLike[str]], *, lifecycle: Optional[Lifecycle] = None
    ) -> str:
        """Upload a file; its MIME type is guessed from its name. Returns the URL."""
        checked = read_file_checked(path)
        data = await anyio.Path(checked).read_bytes()
        return await self.upload(
            data, guess_content_type(checked), checked.name, lifecycle=lifecycle
        )

    async def upload_image(
        self, image: Any, format: str = "jpeg", *, lifecycle: Optional[Lifecycle] = None
    ) -> str:
        """Upload a PIL image saved in ``format``. Returns the URL."""
        data, mime = image_bytes(image, format)
        return await self.upload(data, mime, f"image.{format.lower()}", lifecycle=lifecycle)

    async def download(
        self,
        url: str,
        destination: Union[str, PathLike[str]] = ".",
        *,
        overwrite: bool = False,
    ) -> Path:
        """Download ``url`` to ``destination`` (a file, or a directory to put it in).

        The file is streamed to a temporary name and renamed into place when complete, so a
        failed or cancelled download never leaves a partial file. Returns the path.
        """
        return await download(self._transport, url, destination, overwrite=overwrite)


class SyncFilesAPI:
    """The file operations of ``SyncClient``."""

    _async: AsyncClient
    _portal: Portal

    def upload(
        self,
        data: Union[bytes, str],
        content_type: str,
        file_name: Optional[str] = None,
        *,
        lifecycle: Optional[Lifecycle] = None,
    ) -> str:
        return self._portal.call(
            partial(self._async.upload, data, content_type, file_name, lifecycle=lifecycle)
        )

    def upload_file(
        self, path: Union[str, PathLike[str]], *, lifecycle: Optional[Lifecycle] = None
    ) -> str:
        return self._portal.call(partial(self._async.upload_file, path, lifecycle=lifecycle))

    def upload_image(
        self, image: Any, format: str = "jpeg", *, lifecycle: Optional[Lifecycle] = None
    ) -> str:
        return self._portal.call(
            partial(self._async.upload_image, image, format, lifecycle=lifecycle)
        )

    def download(
        self,
        url: str,
        destination: Union[str, PathLike[str]] = ".",
        *,
        overwrite: bool = False,
    ) -> Path:
        return self._portal.call(
            partial(self._async.download, url, destination, overwrite=overwrite)
        )
