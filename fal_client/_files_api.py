"""File operations of the clients: upload, upload_file, upload_image, download, download_files.

The files resource, over the client's engine; ``AsyncClient`` delegates to it and
``SyncClient``'s methods are generated from those (``tools/gen_sync_api.py``). Every argument
is checked before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from os import PathLike
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar, Union

import anyio

from . import _validate as check
from ._download import download, download_all
from ._encoding import check_content_type, guess_content_type, image_bytes, read_file_checked
from ._engine import Engine
from ._lifecycle import lifecycle_payload, normalize_repositories
from ._upload import Lifecycle, UploadRequest, bytes_request, upload
from ._upload_options import UploadOptions
from ._upload_source import FileSource

T = TypeVar("T")

DEFAULT_UPLOAD_OPTIONS = UploadOptions()


def _options(
    base: UploadOptions,
    multipart_threshold: Optional[int],
    chunk_size: Optional[int],
    max_concurrency: Optional[int],
) -> UploadOptions:
    if not isinstance(base, UploadOptions):
        raise TypeError(f"upload_options must be an UploadOptions, got {type(base).__name__}")
    return base.override(multipart_threshold, chunk_size, max_concurrency)


def _check_progress(progress: Any) -> None:
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable(sent, total), got {progress!r}")


def _prepare_bytes(
    data: Any,
    content_type: Any,
    file_name: Any,
    repository: Any,
    fallback_repository: Any,
    lifecycle: Any,
    options: UploadOptions,
) -> UploadRequest:
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes or str, got {type(data).__name__}")
    return bytes_request(
        data,
        check_content_type(content_type),
        check.optional_str("file_name", file_name),
        repositories=normalize_repositories(repository, fallback_repository),
        lifecycle=lifecycle,
        options=options,
    )


def _prepare_file(
    path: Any,
    content_type: Any,
    file_name: Any,
    repository: Any,
    fallback_repository: Any,
    lifecycle: Any,
    options: UploadOptions,
) -> UploadRequest:
    checked = read_file_checked(path)
    size = checked.stat().st_size
    return UploadRequest(
        FileSource(checked, size),
        check_content_type(content_type)
        if content_type is not None
        else guess_content_type(checked),
        check.optional_str("file_name", file_name) or checked.name,
        normalize_repositories(repository, fallback_repository),
        lifecycle_payload(lifecycle),
        options,
    )


class Files:
    """Uploads and downloads for one client. Each method here is the one definition of its
    operation, signature and docstring: ``AsyncClient``'s method of the same name is generated
    from it (``tools/gen_sync_api.py``), and ``SyncClient``'s from that."""

    def __init__(self, engine: Engine):
        self._engine = engine

    async def upload(
        self,
        data: Union[bytes, str],
        content_type: str,
        file_name: Optional[str] = None,
        *,
        repository: Optional[str] = None,
        fallback_repository: Union[str, Iterable[str], None] = None,
        lifecycle: Optional[Lifecycle] = None,
        progress: Optional[Callable[[int, int], Any]] = None,
        multipart_threshold: Optional[int] = None,
        chunk_size: Optional[int] = None,
        max_concurrency: Optional[int] = None,
    ) -> str:
        """Upload bytes (or a str, as UTF-8) to fal's storage and return their URL.

        Bodies larger than the multipart threshold (100 MiB unless ``upload_options`` say
        otherwise) go in parts, ``max_concurrency`` at a time, each retried on its own.

        Args:
            data: the content.
            content_type: its MIME type, e.g. ``"image/png"``.
            file_name: a name for the stored object.
            repository: ``"fal_v3"`` (fal's CDN, the default; ``"cdn"`` is a deprecated alias)
                or ``"fal"`` (the REST-initiated signed upload).
            fallback_repository: tried in order if ``repository`` fails (default ``["fal"]``).
            lifecycle: a ``StorageSettings`` (expiry, initial ACL), or fal's raw JSON such as
                ``{"expiration_duration_seconds": 3600}``.
            progress: called as ``progress(bytes_sent, total)`` (sync or async), first with 0,
                never decreasing, last with ``total``.
            multipart_threshold: overrides ``upload_options.multipart_threshold``.
            chunk_size: overrides ``upload_options.chunk_size``.
            max_concurrency: overrides ``upload_options.max_concurrency``.

        Returns:
            The URL of the stored file.

        Raises:
            TypeError, ValueError: bad arguments, before anything is sent.
            FalClientError: every repository failed (the last error, chained to the earlier).
        """
        _check_progress(progress)
        request = _prepare_bytes(
            data,
            content_type,
            file_name,
            repository,
            fallback_repository,
            lifecycle,
            _options(self._engine.upload_options, multipart_threshold, chunk_size, max_concurrency),
        )
        return await upload(self._engine.transport, self._engine.cdn_tokens, request, progress)

    async def upload_file(
        self,
        path: Union[str, PathLike[str]],
        *,
        content_type: Optional[str] = None,
        file_name: Optional[str] = None,
        repository: Optional[str] = None,
        fallback_repository: Union[str, Iterable[str], None] = None,
        lifecycle: Optional[Lifecycle] = None,
        progress: Optional[Callable[[int, int], Any]] = None,
        multipart_threshold: Optional[int] = None,
        chunk_size: Optional[int] = None,
        max_concurrency: Optional[int] = None,
    ) -> str:
        """Upload a file, streamed from disk (never read whole into memory). Returns the URL.

        Args:
            path: the file.
            content_type: its MIME type; guessed from the name by default
                (``application/octet-stream`` when unknown).
            file_name: the stored name; the file's own name by default.

        The other arguments are as for ``upload``.

        Raises:
            FileNotFoundError, IsADirectoryError, PermissionError: before anything is sent.
            FalClientError: every repository failed.
        """
        _check_progress(progress)
        options = _options(
            self._engine.upload_options, multipart_threshold, chunk_size, max_concurrency
        )
        request = await anyio.to_thread.run_sync(
            partial(
                _prepare_file,
                path,
                content_type,
                file_name,
                repository,
                fallback_repository,
                lifecycle,
                options,
            )
        )
        return await upload(self._engine.transport, self._engine.cdn_tokens, request, progress)

    async def upload_image(
        self,
        image: Any,
        format: str = "jpeg",
        *,
        repository: Optional[str] = None,
        fallback_repository: Union[str, Iterable[str], None] = None,
        lifecycle: Optional[Lifecycle] = None,
        progress: Optional[Callable[[int, int], Any]] = None,
    ) -> str:
        """Upload a PIL image saved in ``format`` (``"jpeg"``, ``"png"``, ``"webp"``...).

        Needs Pillow (``pip install 'fal-client-anyio[image]'``). Returns the URL.

        Raises:
            ImportError: Pillow is not installed.
            TypeError: ``image`` is not a PIL image.
            ValueError: an unknown format.
        """
        data, mime = image_bytes(image, format)
        return await self.upload(
            data,
            mime,
            f"image.{format.strip().lstrip('.').lower()}",
            repository=repository,
            fallback_repository=fallback_repository,
            lifecycle=lifecycle,
            progress=progress,
        )

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
        return await download(self._engine.transport, url, destination, overwrite=overwrite)

    async def download_files(
        self,
        result: Any,
        directory: Union[str, PathLike[str]] = ".",
        *,
        overwrite: bool = False,
        max_concurrency: int = 4,
    ) -> dict[str, Path]:
        """Download every file of a result (each ``{"url": ...}`` at any depth) into a directory.

        Names come from the URLs, made unique (``image.png``, ``image-1.png``). Downloads run
        ``max_concurrency`` at a time; each is published by an atomic rename.

        Returns:
            ``{url: local path}`` in the order the files appear in ``result``.

        Raises:
            FileExistsError: a target exists and ``overwrite`` is false (before downloading).
            FalClientError: a download failed; the others are stopped.
        """
        return await download_all(
            self._engine.transport,
            result,
            directory,
            overwrite=overwrite,
            max_concurrency=max_concurrency,
        )


__all__ = ["Files"]
