"""The resumable manifest of a ``map``: an append-only JSONL journal of every input's job.

File format (one JSON object per line, UTF-8, ``\\n``-terminated, appended and fsync'd):

* line 1, the header: ``{"fal_manifest": 1, "app": "owner/alias", "path": "", "created_at": T}``
* ``{"event": "submitting", "index": i, "key": K, "at": "2026-12-01T12:00:00.000000Z"}`` just
  before input ``i`` is submitted afresh (written, not fsync'd: a ``kill -9`` keeps the page
  cache, and a power cut loses at most this intent), so that a resume knows a submit may have
  been in flight when the process died, and since when;
* ``{"event": "submitted", "index": i, "key": K, "request_id": R}`` as soon as input ``i``'s job
  is queued (before the client starts waiting for it);
* ``{"event": "done", "index": i, "key": K, "request_id": R, "result": {...}, "latency": s}``
  once its result has been fetched and the consumer of the map has taken it and come back for
  the next one (see ``_batch.MapResults``), so that a consumer's own output always holds every
  result the manifest records as done;
* ``{"event": "failed", "index": i, "key": K, "request_id": R or null, "error": "...",
  "error_type": "ValidationError", "status_code": 422}`` when it failed;
* ``{"event": "cancelled", "index": i, "key": K, "request_id": R}`` when this client cancelled
  the job itself (first-failure policy, ``client_timeout``).

``K`` is the first 32 hex digits of the SHA-256 of the input's canonical JSON (sorted keys, no
spaces), so a re-run can tell that input ``i`` is still the same input.

On a re-run the last record of each index decides what happens (the pure function
``plan_resume``): ``done`` is delivered from the file without any request; ``submitted`` and
``failed`` with a request id re-attach to that job and fetch its result (a ``GET``, never a new
submission); ``cancelled``, ``failed`` without a request id, and indices with no record are
submitted afresh, except an input whose last record is ``submitting`` (or a ``failed`` whose
submit answer was lost, after one): its submit may have created a job, so the map looks that
job up in the request history first (``Entry.submitting_at``). Manifests written before the
``submitting`` record existed read as before.

Durability: records are written by whichever writer finds unwritten records first, in a worker
thread (never on the event loop), and fsync'd once per group of records ("group commit"), so
many concurrent jobs share one fsync. ``await ManifestWriter.write(record)`` returns once that
record is on disk. A line torn by a crash mid-write is cut off when the file is reopened.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Union

import anyio

FORMAT_VERSION = 1
#: The ``error_type`` of a failure whose submit answer was lost: the job may exist.
_UNCONFIRMED = ("SubmitNotConfirmedError", "SubmitNotRecoveredError")


def format_at(moment: datetime) -> str:
    """A ``submitting`` record's time: ISO 8601 UTC with microseconds and ``Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_at(value: Any, where: str) -> datetime:
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise ManifestError(f"{where}: a submitting record without a valid 'at' time") from exc


class ManifestError(ValueError):
    """The manifest cannot be used for this ``map``: another app, changed inputs, or damaged."""


def input_key(arguments: Any) -> str:
    """A short, stable fingerprint of one input (its canonical JSON), as stored in the manifest."""
    try:
        canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"an input of map must be JSON-serializable: {exc}") from exc
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


@dataclass
class Entry:
    """What the manifest knows about one input (the fold of its records)."""

    index: int
    key: str
    request_id: Optional[str] = None
    done: bool = False
    result: Any = None
    latency: Optional[float] = None
    # True when the recorded request id must not be re-attached (we cancelled that job).
    resubmit: bool = False
    # When the last submit of this input may have created a job nobody recorded (its intent
    # was journalled, and nothing after it says what became of it): our UTC clock then.
    submitting_at: Optional[datetime] = None


@dataclass
class ManifestState:
    """A manifest file read back: its header and one ``Entry`` per recorded index."""

    header: Optional[dict[str, Any]]
    entries: dict[int, Entry]
    valid_bytes: int
    #: Every request id any record names (a job this manifest's runs made or cancelled).
    request_ids: set[str] = field(default_factory=set)


def parse_manifest(data: bytes, *, source: str = "manifest") -> ManifestState:
    """Fold the records of a manifest (no I/O). A torn final line (no newline) is ignored."""
    entries: dict[int, Entry] = {}
    request_ids: set[str] = set()
    header: Optional[dict[str, Any]] = None
    valid = data.rfind(b"\n") + 1
    for line_no, raw in enumerate(data[:valid].splitlines(), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise ManifestError(f"{source}:{line_no}: not a JSON record ({exc})") from exc
        if not isinstance(record, dict):
            raise ManifestError(f"{source}:{line_no}: not a JSON object")
        if header is None:
            if record.get("fal_manifest") != FORMAT_VERSION:
                raise ManifestError(
                    f"{source}: not a fal_client manifest (version {FORMAT_VERSION} header missing)"
                )
            header = record
            continue
        event = record.get("event")
        index = record.get("index")
        key = record.get("key")
        if not isinstance(index, int) or not isinstance(key, str):
            raise ManifestError(f"{source}:{line_no}: record without index/key")
        entry = entries.get(index)
        if entry is None:
            entry = entries[index] = Entry(index, key)
        elif entry.key != key:
            raise ManifestError(f"{source}:{line_no}: input {index} recorded with two keys")
        if entry.done:
            continue  # a result is final; nothing after it matters
        request_id = record.get("request_id")
        if isinstance(request_id, str):
            request_ids.add(request_id)
        unconfirmed = event == "failed" and request_id is None
        if not (unconfirmed and record.get("error_type") in _UNCONFIRMED):
            entry.submitting_at = None
        if event == "submitting":
            entry.submitting_at = _parse_at(record.get("at"), f"{source}:{line_no}")
            entry.request_id, entry.resubmit = None, True
        elif event == "submitted":
            entry.request_id, entry.resubmit = request_id, False
        elif event == "done":
            entry.request_id, entry.done = request_id, True
            entry.result, entry.latency = record.get("result"), record.get("latency")
        elif event == "failed":
            # With a request id the job exists: re-attach (its error is fetched again, free).
            entry.request_id = request_id
            entry.resubmit = request_id is None
        elif event == "cancelled":
            entry.request_id, entry.resubmit = request_id, True
        else:
            raise ManifestError(f"{source}:{line_no}: unknown event {event!r}")
    return ManifestState(header, entries, valid, request_ids)


def check_header(state: ManifestState, *, app: str, path: str, source: str) -> None:
    """Refuse a manifest written for another app or endpoint path."""
    header = state.header
    if header is None:
        return
    if header.get("app") != app or (header.get("path") or "") != (path or ""):
        raise ManifestError(
            f"{source} was written for app {header.get('app')!r} path {header.get('path')!r}, "
            f"not {app!r} path {path!r}; use another manifest file"
        )


def check_input(entry: Optional[Entry], index: int, key: str, *, source: str) -> None:
    """Refuse to resume when input ``index`` is not the input the manifest recorded."""
    if entry is not None and entry.key != key:
        raise ManifestError(
            f"input {index} differs from the one recorded in {source}: the inputs changed since "
            "that run. Restore the original inputs, or use a new manifest file for new inputs"
        )


async def read_entries(path: Union[str, os.PathLike[str]]) -> dict[int, Entry]:
    """What a manifest file records, by input index, without opening it for writing (``{}``
    when there is no such file)."""
    try:
        data = await anyio.Path(path).read_bytes()
    except FileNotFoundError:
        return {}
    return parse_manifest(data, source=str(path)).entries


class ManifestWriter:
    """Appends records to a manifest with group-committed fsyncs, off the event loop.

    Safe under concurrency: any number of tasks may ``await write(record)`` at once; one of
    them writes and fsyncs everything queued so far while the others wait for that to finish.
    """

    def __init__(self, path: Union[str, os.PathLike[str]]):
        self.path = Path(path)
        self._fd: Optional[int] = None
        self._pending: list[bytes] = []
        self._queued = 0  # records handed to write()
        self._written = 0  # records written to the file (in the page cache at least)
        self._durable = 0  # records known to be on disk (fsync'd)
        self._lock = anyio.Lock()

    async def open(self, *, app: str, path: str) -> ManifestState:
        """Open (creating if needed) and read back the manifest; check it is for ``app``."""
        state = await anyio.to_thread.run_sync(self._open_sync, app, path)
        check_header(state, app=app, path=path, source=str(self.path))
        return state

    def _open_sync(self, app: str, path: str) -> ManifestState:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
            data = b"".join(chunks)
            state = parse_manifest(data, source=str(self.path))
            if state.valid_bytes != len(data):
                # A crash tore the last record: drop it so the next one starts on a fresh line.
                os.ftruncate(fd, state.valid_bytes)
            os.lseek(fd, 0, os.SEEK_END)
            if state.header is None:
                header = {
                    "fal_manifest": FORMAT_VERSION,
                    "app": app,
                    "path": path,
                    "created_at": time.time(),
                }
                os.write(fd, _line(header))
                os.fsync(fd)
                state.header = header
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return state

    async def write(self, record: Mapping[str, Any], *, fsync: bool = True) -> None:
        """Append ``record`` and return once it is durable (fsync'd), or with ``fsync=False``
        once it is written (it survives a crash of the process, not of the machine)."""
        mine = self.write_soon(record)
        async with self._lock:
            if (self._durable if fsync else self._written) >= mine:
                return  # another writer's flush covered ours
            await self._flush(fsync=fsync)

    def write_soon(self, record: Mapping[str, Any]) -> int:
        """Queue ``record`` without waiting: it is written with the next ``write``, ``flush``
        or ``aclose``, after every record queued before it. Returns its sequence number."""
        self._pending.append(_line(record))
        self._queued += 1
        return self._queued

    @property
    def has_pending(self) -> bool:
        """Whether records are queued but not yet written."""
        return bool(self._pending)

    async def flush(self) -> None:
        """Write and fsync every record queued so far."""
        mine = self._queued
        async with self._lock:
            if self._durable < mine:
                await self._flush()

    async def _flush(self, *, fsync: bool = True) -> None:
        batch, self._pending = self._pending, []
        upto = self._queued
        if batch or (fsync and self._durable < upto):
            # Not cancellable: once started the write completes, so no record is half-written
            # by our own doing (a crash can still tear one; reopening handles that).
            await anyio.to_thread.run_sync(self._write_sync, b"".join(batch), fsync)
        self._written = upto
        if fsync:
            self._durable = upto

    def _write_sync(self, data: bytes, fsync: bool) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        if fsync:
            os.fsync(self._fd)

    async def aclose(self) -> None:
        """Write what is still queued (also when cancelled) and close the file."""
        with anyio.CancelScope(shield=True):
            async with self._lock:
                if self._pending:
                    await self._flush()
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)


def _line(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode("utf-8")


__all__ = [
    "Entry",
    "ManifestError",
    "ManifestState",
    "ManifestWriter",
    "check_header",
    "check_input",
    "format_at",
    "input_key",
    "parse_manifest",
    "read_entries",
]
