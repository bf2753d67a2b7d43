"""The emulated CDN's file store: files on disk, metadata in memory, expiry after a TTL.

Uploads may be 150 MB, so bodies are streamed to disk in chunks (large writes and their hashing
happen in a worker thread to keep the event loop responsive) and never held whole in memory.

A multipart file is kept as its part files, in order: completing an upload checks the parts and
records them, without copying 150 MB into a new file (a copy that made the emulator's share of a
benchmark larger and noisier than the client's). Its sha256 is computed when first asked for.
"""

from __future__ import annotations

import hashlib
import heapq
import mimetypes
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    IO,
    Any,
    AsyncIterator,
    Callable,
    Collection,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)
from urllib.parse import quote

import anyio.to_thread

from ._records import FileInfo
from ._sequence import next_seq

# Bodies are buffered up to this size before a write; writes of a full buffer go to a thread.
_FLUSH_BYTES = 1024 * 1024

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")

#: The live CDN's answer to an empty multipart part.
ZERO_LENGTH_PART_MESSAGE = "Content length appears to be zero - refusing to proceed"


def safe_file_name(name: Optional[str], content_type: str, fallback_stem: str) -> str:
    """A file name safe to use as one URL segment, with an extension guessed if there is none."""
    if name:
        name = _UNSAFE_NAME_CHARS.sub("_", os.path.basename(name)).strip("._") or ""
    if not name:
        extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
        name = f"{fallback_stem}{extension}"
    return name


@dataclass
class Written:
    """What streaming a body to disk produced."""

    path: Path
    size: int
    digest: str
    """Hex digest of the body by the algorithm asked for (sha256 for files, md5 for parts)."""


async def write_body(
    chunks: AsyncIterator[bytes], path: Path, algorithm: str = "sha256"
) -> Written:
    """Stream ``chunks`` into a new file at ``path``, hashing as it goes with ``algorithm``."""
    hasher = hashlib.new(algorithm, usedforsecurity=False)
    size = 0
    buffer = bytearray()
    handle: Optional[IO[bytes]] = None

    def flush(data: bytearray, file: IO[bytes]) -> None:
        file.write(data)
        hasher.update(data)

    try:
        async for chunk in chunks:
            if not chunk:
                continue
            buffer += chunk
            size += len(chunk)
            if len(buffer) >= _FLUSH_BYTES:
                if handle is None:
                    handle = await anyio.to_thread.run_sync(path.open, "wb")
                # Hand the full buffer to the thread and start a new one: no copy.
                full, buffer = buffer, bytearray()
                await anyio.to_thread.run_sync(flush, full, handle)
        if handle is None:
            # Small body (the common case): one quick write on the loop beats two thread hops.
            with path.open("wb") as small:
                flush(buffer, small)
        else:
            await anyio.to_thread.run_sync(flush, buffer, handle)
    except BaseException:
        _discard_partial_file(path, handle)
        raise
    if handle is not None:
        handle.close()
    return Written(path, size, hasher.hexdigest())


def _discard_partial_file(path: Path, handle: Optional[IO[bytes]]) -> None:
    # Synchronous on purpose: this runs while a cancellation or error propagates, when awaiting
    # would be interrupted again; closing and unlinking one file is quick.
    if handle is not None:
        handle.close()
    path.unlink(missing_ok=True)


def hash_files(paths: Sequence[Path]) -> str:
    """The sha256 of the files in ``paths``, one after the other (blocking: reads them all)."""
    sha256 = hashlib.sha256()
    for path in paths:
        with path.open("rb") as source:
            while True:
                block = source.read(_FLUSH_BYTES)
                if not block:
                    break
                sha256.update(block)
    return sha256.hexdigest()


@dataclass
class StoredFile:
    """A file the CDN holds: the concatenation of ``segments`` (one, or a multipart's parts)."""

    file_id: str
    file_name: str
    segments: Tuple[Path, ...]
    size: int
    content_type: str
    lifecycle: Optional[Mapping[str, Any]]
    source: str
    created_at: float
    expires_monotonic: float
    known_sha256: Optional[str] = None
    app: Optional[str] = None
    request_id: Optional[str] = None
    seq: int = 0
    _hash_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def url_path(self) -> str:
        """The path (under the emulator's root) it is served at."""
        return f"/cdn/files/{self.file_id}/{quote(self.file_name)}"

    @property
    def sha256(self) -> str:
        """Hex sha256 of the content (hashed on first use when not known at upload)."""
        with self._hash_lock:
            if self.known_sha256 is None:
                self.known_sha256 = hash_files(self.segments)
            return self.known_sha256

    def read_bytes(self) -> bytes:
        """The whole content, read from disk into memory."""
        return b"".join(segment.read_bytes() for segment in self.segments)

    def delete(self) -> None:
        """Remove its content from disk."""
        for segment in self.segments:
            segment.unlink(missing_ok=True)

    def info(self, base_url: str) -> FileInfo:
        """An immutable snapshot, with the URL made absolute against ``base_url``."""
        return FileInfo(
            url=base_url + self.url_path,
            size=self.size,
            sha256=self.sha256,
            content_type=self.content_type,
            file_name=self.file_name,
            lifecycle=self.lifecycle,
            source=self.source,
            created_at=self.created_at,
            file_id=self.file_id,
            app=self.app,
            request_id=self.request_id,
        )


@dataclass
class Part:
    """One received multipart part."""

    number: int
    path: Path
    size: int
    etag: str


@dataclass
class PendingUpload:
    """An upload that was initiated but not finished: a signed single PUT, or a multipart."""

    upload_id: str
    file_id: str
    file_name: str
    content_type: str
    lifecycle: Optional[Mapping[str, Any]]
    source: str
    multipart: bool
    parts: Dict[int, Part] = field(default_factory=dict)


class FileStore:
    """Files and in-flight uploads. Metadata changes are guarded by a lock (inspection reads
    them from other threads); content lives under ``directory``."""

    def __init__(
        self,
        directory: Optional[Path],
        ttl: float,
        *,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._on_change = on_change
        self._configured_directory = directory
        self._directory: Optional[Path] = None
        self._owns_directory = False
        self.ttl = ttl
        self._lock = threading.Lock()
        self._files: Dict[str, StoredFile] = {}
        self._expiry: List[Tuple[float, str]] = []
        self._uploads: Dict[str, PendingUpload] = {}

    # --- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Create the storage directory (a fresh temporary one unless ``storage_dir`` was set)."""
        if self._configured_directory is not None:
            self._directory = Path(self._configured_directory)
            self._directory.mkdir(parents=True, exist_ok=True)
            self._owns_directory = False
        else:
            self._directory = Path(tempfile.mkdtemp(prefix="fal-emulator-"))
            self._owns_directory = True
        (self._directory / "files").mkdir(exist_ok=True)
        (self._directory / "parts").mkdir(exist_ok=True)

    def close(self) -> None:
        """Drop in-flight uploads; delete the directory if it was a temporary one."""
        with self._lock:
            self._uploads.clear()
            if self._owns_directory:
                self._files.clear()
                self._expiry.clear()
        if self._owns_directory and self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def clear(self) -> None:
        """Forget and delete every file and in-flight upload."""
        with self._lock:
            files = list(self._files.values())
            uploads = list(self._uploads.values())
            self._files.clear()
            self._expiry.clear()
            self._uploads.clear()
        for stored in files:
            stored.delete()
        for upload in uploads:
            self._discard_parts(upload)

    @property
    def directory(self) -> Path:
        """Where content is written (the store must be open)."""
        if self._directory is None:
            raise RuntimeError("the emulator is not running: its file store is closed")
        return self._directory

    # --- files -----------------------------------------------------------------------------

    @staticmethod
    def new_id() -> str:
        """A fresh random id for a file or upload."""
        return secrets.token_hex(12)

    def file_path(self, file_id: str) -> Path:
        """Where the content of file ``file_id`` lives."""
        return self.directory / "files" / file_id

    def part_path(self, upload_id: str, number: int) -> Path:
        """A fresh path for an attempt at part ``number`` of upload ``upload_id``.

        Every attempt gets its own file, so a retried PUT never writes into a part that was
        already accepted (and may now be a segment of a completed file).
        """
        return self.directory / "parts" / f"{upload_id}.{number}.{secrets.token_hex(4)}"

    def add(
        self,
        *,
        file_id: str,
        file_name: str,
        written_size: int,
        sha256: Optional[str],
        content_type: str,
        lifecycle: Optional[Mapping[str, Any]],
        source: str,
        segments: Optional[Sequence[Path]] = None,
        app: Optional[str] = None,
        request_id: Optional[str] = None,
    ) -> StoredFile:
        """Register a file whose content is already on disk: at :meth:`file_path`, or in
        ``segments`` (in order). ``sha256`` may be left for the first reader to compute."""
        ttl = self.ttl
        if lifecycle is not None:
            expiration = lifecycle.get("expiration_duration_seconds")
            if isinstance(expiration, (int, float)) and expiration > 0:
                ttl = min(ttl, float(expiration))
        stored = StoredFile(
            file_id=file_id,
            file_name=file_name,
            segments=tuple(segments) if segments is not None else (self.file_path(file_id),),
            size=written_size,
            known_sha256=sha256,
            content_type=content_type,
            lifecycle=lifecycle,
            source=source,
            created_at=time.time(),
            expires_monotonic=time.monotonic() + ttl,
            app=app,
            request_id=request_id,
            seq=next_seq(),
        )
        with self._lock:
            self._files[file_id] = stored
            heapq.heappush(self._expiry, (stored.expires_monotonic, file_id))
        self._on_change()
        return stored

    def save_bytes(
        self,
        data: bytes,
        *,
        content_type: str,
        file_name: Optional[str],
        source: str,
        lifecycle: Optional[Mapping[str, Any]] = None,
        app: Optional[str] = None,
        request_id: Optional[str] = None,
    ) -> StoredFile:
        """Write ``data`` as a new file (blocking; fine for small files, thread-safe)."""
        file_id = self.new_id()
        name = safe_file_name(file_name, content_type, file_id)
        path = self.file_path(file_id)
        path.write_bytes(data)
        return self.add(
            file_id=file_id,
            file_name=name,
            written_size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type=content_type,
            lifecycle=lifecycle,
            source=source,
            app=app,
            request_id=request_id,
        )

    def get(self, file_id: str) -> Optional[StoredFile]:
        """The file with this id, if it is held and not expired."""
        stored = self._files.get(file_id)
        if stored is None or stored.expires_monotonic <= time.monotonic():
            return None
        return stored

    def files(self) -> List[StoredFile]:
        """Every held file, oldest first."""
        with self._lock:
            return list(self._files.values())

    def expire(self, now: float) -> int:
        """Delete the files due at monotonic time ``now``; returns how many."""
        due: List[StoredFile] = []
        with self._lock:
            while self._expiry and self._expiry[0][0] <= now:
                _, file_id = heapq.heappop(self._expiry)
                stored = self._files.pop(file_id, None)
                if stored is not None:
                    due.append(stored)
        for stored in due:
            stored.delete()
        return len(due)

    # --- uploads in flight -----------------------------------------------------------------

    def begin_upload(
        self,
        *,
        file_name: Optional[str],
        content_type: str,
        lifecycle: Optional[Mapping[str, Any]],
        source: str,
        multipart: bool,
    ) -> PendingUpload:
        """Reserve a file id and name for an upload that will arrive later."""
        file_id = self.new_id()
        upload = PendingUpload(
            upload_id=self.new_id(),
            file_id=file_id,
            file_name=safe_file_name(file_name, content_type, file_id),
            content_type=content_type,
            lifecycle=lifecycle,
            source=source,
            multipart=multipart,
        )
        with self._lock:
            self._uploads[upload.upload_id] = upload
        return upload

    def upload(self, upload_id: str) -> Optional[PendingUpload]:
        """The in-flight upload with this id, if any."""
        return self._uploads.get(upload_id)

    def finish_upload(self, upload_id: str, keep: Collection[int] = ()) -> None:
        """Forget an in-flight upload and its part files, except parts numbered in ``keep``
        (now segments of a stored file)."""
        with self._lock:
            upload = self._uploads.pop(upload_id, None)
        if upload is not None:
            self._discard_parts(upload, keep)

    def _discard_parts(self, upload: PendingUpload, keep: Collection[int] = ()) -> None:
        for part in upload.parts.values():
            if part.number not in keep:
                part.path.unlink(missing_ok=True)
