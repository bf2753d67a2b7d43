"""Downloads of result files: streamed to disk, published by an atomic rename."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union
from urllib.parse import unquote, urlsplit

import anyio

from ._errors import FalClientConnectionError

if TYPE_CHECKING:
    from ._transport import Transport

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_name_from_url(url: str) -> str:
    """A safe local file name taken from the last path segment of ``url``."""
    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    name = _UNSAFE.sub("_", name).lstrip(".")
    return name or "download.bin"


async def _resolve_target(target: Path, url: str, overwrite: bool) -> Path:
    def resolve() -> Path:
        path = target
        if path.is_dir() or str(target).endswith(os.sep):
            path = path / file_name_from_url(url)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True to replace it")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # File-system checks can block on slow disks: keep them off the event loop.
    return await anyio.to_thread.run_sync(resolve)


async def download(
    transport: Transport, url: str, destination: Union[str, os.PathLike[str]], *, overwrite: bool
) -> Path:
    """Stream ``url`` into ``destination`` (a file path, or a directory to put it in)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"url must be an absolute http(s) URL, got {url!r}")
    target = await _resolve_target(Path(destination), url, overwrite)
    lib = transport.lib
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp: Optional[Path] = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            file = anyio.wrap_file(raw)
            async with transport.stream("GET", url, repeatable=True, authorize=False) as response:
                try:
                    async for chunk in response.aiter_bytes():
                        await file.write(chunk)
                except lib.TransportError as exc:
                    raise FalClientConnectionError(
                        f"download of {url.split('?', 1)[0]} interrupted: {type(exc).__name__}"
                    ) from exc
        os.replace(tmp_name, target)
        tmp = None
        return target
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
