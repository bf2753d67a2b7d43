"""Downloads of result files: streamed to disk, published by an atomic rename."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union
from urllib.parse import unquote, urlsplit

import anyio

from ._tasks import until_first_failure

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
    import tempfile  # about 4 ms (shutil, bz2, lzma) that only a download needs

    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp: Optional[Path] = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            file = anyio.wrap_file(raw)
            async with transport.stream("GET", url, repeatable=True, authorize=False) as response:
                with transport.reading(f"download of {url.split('?', 1)[0]}"):
                    async for chunk in response.aiter_bytes():
                        await file.write(chunk)
        os.replace(tmp_name, target)
        tmp = None
        return target
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def file_urls(result: Any) -> list[str]:
    """Every file URL in a result, in order, without repeats.

    A file is fal's ``File`` shape: a dict whose ``"url"`` is an absolute http(s) URL, found
    at any depth in dicts and lists (``{"images": [{"url": ...}]}``, ``{"video": {"url": ...}}``).
    """
    found: dict[str, None] = {}

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            url = value.get("url")
            if isinstance(url, str) and urlsplit(url).scheme in ("http", "https"):
                found.setdefault(url)
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(result)
    return list(found)


def unique_names(urls: list[str]) -> dict[str, str]:
    """A distinct local file name per URL (``image.png``, ``image-1.png``, ...)."""
    taken: set[str] = set()
    names: dict[str, str] = {}
    for url in urls:
        name = file_name_from_url(url)
        stem, dot, extension = name.rpartition(".")
        if not dot or not stem:
            stem, extension = name, ""
        candidate, n = name, 0
        while candidate.lower() in taken:
            n += 1
            candidate = f"{stem}-{n}.{extension}" if extension else f"{stem}-{n}"
        taken.add(candidate.lower())
        names[url] = candidate
    return names


async def download_all(
    transport: Transport,
    result: Any,
    directory: Union[str, os.PathLike[str]],
    *,
    overwrite: bool,
    max_concurrency: int,
) -> dict[str, Path]:
    """Download every file URL of ``result`` into ``directory``, ``max_concurrency`` at a time.

    Returns ``{url: path}`` in the order the URLs appear. On the first failure the others are
    cancelled and that error is raised; files finished before it stay, none is left partial.
    """
    if (
        not isinstance(max_concurrency, int)
        or isinstance(max_concurrency, bool)
        or max_concurrency < 1
    ):
        raise ValueError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a str or os.PathLike, got {type(directory).__name__}")
    folder = Path(directory)
    urls = file_urls(result)
    names = unique_names(urls)

    def prepare() -> None:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"not a directory: {str(folder)!r}")
        folder.mkdir(parents=True, exist_ok=True)
        if not overwrite:
            for name in names.values():
                if (folder / name).exists():
                    raise FileExistsError(
                        f"{str(folder / name)!r} exists; pass overwrite=True to replace it"
                    )

    await anyio.to_thread.run_sync(prepare)
    paths: dict[str, Path] = {}
    limiter = anyio.CapacityLimiter(max_concurrency)

    async def fetch(url: str) -> None:
        async with limiter:
            paths[url] = await download(transport, url, folder / names[url], overwrite=overwrite)

    await until_first_failure(partial(fetch, url) for url in urls)
    return {url: paths[url] for url in urls}
