"""What an upload reads from: bytes in memory, a file on disk, or an open binary file.

Each source hands out byte ranges as *re-iterable* bodies: every iteration (every attempt of a
retried request) reads its range again from the start, so a retry never needs the whole body
in memory and a file is read only when its part's turn comes.
"""

from __future__ import annotations

import inspect
import io
import os
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Union

import anyio

from ._aclosing import aclosing
from ._asyncfile import open_file

__all__ = [
    "BytesSource",
    "FileObjectSource",
    "FileSource",
    "ProgressCallback",
    "ProgressReporter",
    "RangeBody",
    "UploadSource",
]

# Bytes read from disk per step (one worker-thread hop each). Measured on a 150 MB upload with
# 10 parts in flight (benchmarks/RESULTS.md): 512 KiB costs the client the same CPU as 1 MiB
# (0.10-0.11 s) at about half the memory above baseline (13-19 MB instead of 23-37 MB); 256 KiB
# saves 5 MB more but costs 20% more CPU in thread hops; 2-4 MiB only adds memory.
READ_SIZE = 512 * 1024

#: ``progress(bytes_sent, total)``; may be sync or async.
ProgressCallback = Callable[[int, int], Any]


class UploadSource(Protocol):
    """Something with a known size whose byte ranges can be read, repeatedly, in chunks."""

    size: int

    def chunks(self, offset: int, length: int) -> AsyncIterator[bytes]:
        """The bytes ``[offset, offset + length)`` in chunks of at most ``READ_SIZE``."""
        ...


class BytesSource:
    """Bytes in memory; ranges are slices of one ``memoryview`` (no copy of the whole)."""

    def __init__(self, data: Union[bytes, bytearray, memoryview]):
        self._view = memoryview(data).cast("B")
        self.size = len(self._view)

    def read_all(self) -> bytes:
        """Every byte, as one ``bytes``."""
        return bytes(self._view)

    async def chunks(self, offset: int, length: int) -> AsyncIterator[bytes]:
        end = offset + length
        for start in range(offset, end, READ_SIZE):
            yield bytes(self._view[start : min(start + READ_SIZE, end)])


class FileSource:
    """A regular file, opened anew for every range read (so parts can be read concurrently)."""

    def __init__(self, path: Path, size: int):
        self.path = path
        self.size = size

    async def chunks(self, offset: int, length: int) -> AsyncIterator[bytes]:
        async with open_file(self.path, "rb") as file:
            await file.seek(offset)
            left = length
            while left:
                chunk = await file.read(min(READ_SIZE, left))
                if not chunk:
                    raise OSError(f"{str(self.path)!r} shrank while it was being uploaded")
                left -= len(chunk)
                yield chunk


class FileObjectSource:
    """An open binary file, from its current position to its end; reads are serialised."""

    def __init__(self, file: Any, start: int, size: int):
        self._file = file
        self._start = start
        self.size = size
        self._lock = anyio.Lock()

    @classmethod
    def open(cls, file: Any) -> FileObjectSource:
        """A source for ``file`` (checked: binary, readable and seekable)."""
        if isinstance(file, io.TextIOBase):
            raise TypeError("open the file in binary mode ('rb') to upload it")
        if not callable(getattr(file, "read", None)) or not callable(getattr(file, "seek", None)):
            raise TypeError(f"expected a readable binary file, got {type(file).__name__}")
        if getattr(file, "closed", False):
            raise ValueError("the file is closed")
        if not file.seekable():
            raise ValueError("the file must be seekable (its size is sent before its bytes)")
        start = file.tell()
        end = file.seek(0, os.SEEK_END)
        file.seek(start)
        return cls(file, start, end - start)

    def _read_at(self, position: int, n: int) -> bytes:
        self._file.seek(position)
        data: bytes = self._file.read(n)
        return data

    async def chunks(self, offset: int, length: int) -> AsyncIterator[bytes]:
        position, left = self._start + offset, length
        while left:
            async with self._lock:
                chunk = await anyio.to_thread.run_sync(
                    self._read_at, position, min(READ_SIZE, left)
                )
            if not chunk:
                raise OSError("the file shrank while it was being uploaded")
            position += len(chunk)
            left -= len(chunk)
            yield chunk


class ProgressReporter:
    """Sums the bytes sent by every part and reports each increase to the callback.

    A retried part re-sends bytes already counted; each part's high-water mark is kept, so the
    reported figure never goes back and ends at ``total``.
    """

    def __init__(self, total: int, callback: Optional[ProgressCallback]):
        self.total = total
        self._callback = callback
        self._sent: dict[Any, int] = {}
        self._done = 0
        self._reported = -1

    async def update(self, key: Any, sent: int) -> None:
        """Part ``key`` has now sent ``sent`` bytes of its current attempt."""
        previous = self._sent.get(key, 0)
        if sent <= previous:
            return
        self._sent[key] = sent
        self._done += sent - previous
        await self._report()

    async def start(self) -> None:
        """Report ``(0, total)`` so a progress bar can appear before the first byte."""
        await self._report()

    async def _report(self) -> None:
        if self._callback is None or self._done <= self._reported:
            return
        self._reported = self._done
        result = self._callback(self._done, self.total)
        if inspect.isawaitable(result):
            await result


class RangeBody:
    """A request body for ``source[offset:offset+length]``, iterable once per attempt."""

    def __init__(
        self,
        source: UploadSource,
        offset: int,
        length: int,
        on_sent: Optional[Callable[[int], Awaitable[None]]] = None,
    ):
        self._source = source
        self._offset = offset
        self.length = length
        self._on_sent = on_sent

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        sent = 0
        async with aclosing(self._source.chunks(self._offset, self.length)) as chunks:
            async for chunk in chunks:
                yield chunk
                sent += len(chunk)
                if self._on_sent is not None:
                    await self._on_sent(sent)
