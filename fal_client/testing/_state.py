"""Everything one emulator knows, shared by its HTTP handlers and its Python API.

Ownership: the emulator's event loop thread does all mutation, holding ``lock`` wherever a reader
in another thread (inspection, waits) could otherwise see a half-made change. Readers take
``lock`` and copy. Anything another thread needs done on the loop goes through
:meth:`EmulatorState.run_in_loop`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Tuple, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

from ._app_ids import EndpointPath
from ._apps import AppSpec
from ._faults import FaultSet
from ._inputs import cdn_file_id, decode_data_url
from ._jobs import IN_QUEUE, Job, JobTable
from ._records import JobInfo, RequestRecord, StreamInfo
from ._scheduler import AppQueue
from ._sequence import next_seq
from ._storage import FileStore
from ._tokens import TokenAuthority
from ._watch import ChangeFeed
from ._webhooks import Delivery, WebhookSigner

if TYPE_CHECKING:
    import httpx
    from anyio.abc import TaskGroup

T = TypeVar("T")


class Change:
    """A change published to the feed that is not an object of its own (files, faults, apps)."""

    __slots__ = ("topic",)

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def __repr__(self) -> str:
        return f"<Change {self.topic}>"


#: Published when a file was stored, or the TTL sweep deleted files.
FILES_CHANGED = Change("files")
#: Published when a fault was added, removed or fired.
FAULTS_CHANGED = Change("faults")
#: Published when an app was registered.
APPS_CHANGED = Change("apps")
#: Published when everything but the apps was forgotten.
RESET = Change("reset")


@dataclass
class EmulatorConfig:
    """Tunables of one emulator (see :class:`~fal_client.testing.Emulator` for their meaning)."""

    key: str
    workers_per_app: int
    latency: float
    job_ttl: float
    file_ttl: float
    legacy_storage: str
    stream_logs: str
    max_in_flight: Optional[int]
    in_flight_retry_after: float
    webhook_max_attempts: int
    webhook_backoff: float
    webhook_timeout: float
    realtime_idle_timeout: float
    max_recorded_requests: int
    history_lag: float = 0.0
    history_lists_pending: bool = False


class RequestEntry:
    """One received request, filled in as it is handled (loop thread only)."""

    __slots__ = (
        "app",
        "authorized",
        "duration",
        "fault",
        "method",
        "operation",
        "path",
        "query",
        "raw_headers",
        "request_id",
        "seq",
        "started_monotonic",
        "status_code",
        "timestamp",
    )

    def __init__(self, method: str, path: str, query: bytes, raw_headers: Any) -> None:
        self.method = method
        self.path = path
        self.query = query
        # uvicorn's own header list: keeping a reference costs nothing; it is decoded into a
        # dict only when someone inspects the requests.
        self.raw_headers = raw_headers
        self.authorized = False
        self.status_code: Optional[int] = None
        self.operation: Optional[str] = None
        self.app: Optional[str] = None
        self.request_id: Optional[str] = None
        self.fault: Optional[str] = None
        self.timestamp = time.time()
        self.started_monotonic = time.monotonic()
        self.duration: Optional[float] = None
        self.seq = next_seq()

    def finish(self) -> None:
        """Note that the response is complete (or the connection was dropped)."""
        if self.duration is None:
            self.duration = time.monotonic() - self.started_monotonic

    def record(self) -> RequestRecord:
        """An immutable snapshot, with the Authorization value redacted."""
        headers: Dict[str, str] = {}
        for raw_name, raw_value in self.raw_headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            if name == "authorization":
                value = f"{value.partition(' ')[0]} [redacted]"
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return RequestRecord(
            method=self.method,
            path=self.path,
            query=self.query.decode("latin-1"),
            authorized=self.authorized,
            headers=headers,
            status_code=self.status_code,
            operation=self.operation,
            app=self.app,
            request_id=self.request_id,
            fault=self.fault,
            timestamp=self.timestamp,
            duration=self.duration,
        )


class StreamEntry:
    """One streaming response in progress or done (loop thread only)."""

    __slots__ = (
        "app",
        "client_disconnected",
        "closed_at",
        "events_dropped",
        "events_received",
        "events_sent",
        "finished",
        "kind",
        "opened_at",
        "request_id",
        "scope",
        "seq",
    )

    def __init__(self, app: str, request_id: str, kind: str) -> None:
        self.app = app
        self.request_id = request_id
        self.kind = kind
        self.events_sent = 0
        self.events_received = 0
        self.events_dropped = 0
        self.client_disconnected = False
        self.finished = False
        self.scope: Optional[anyio.CancelScope] = None
        self.opened_at = time.time()
        self.closed_at: Optional[float] = None
        self.seq = next_seq()

    def info(self) -> StreamInfo:
        """An immutable snapshot."""
        return StreamInfo(
            app=self.app,
            request_id=self.request_id,
            events_sent=self.events_sent,
            client_disconnected=self.client_disconnected,
            finished=self.finished,
            kind=self.kind,
            events_received=self.events_received,
            events_dropped=self.events_dropped,
            opened_at=self.opened_at,
            closed_at=self.closed_at,
        )


class EmulatorState:
    """The registries, tables and logs of one emulator."""

    def __init__(self, config: EmulatorConfig, storage_dir: Optional[Path]) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.feed = ChangeFeed(self.lock)
        self.apps: Dict[str, AppSpec] = {}
        self.queues: Dict[str, AppQueue[Job]] = {}
        self.jobs = JobTable()
        self.files = FileStore(
            storage_dir, config.file_ttl, on_change=lambda: self.feed.publish(FILES_CHANGED)
        )
        self.faults = FaultSet(on_change=lambda: self.feed.publish(FAULTS_CHANGED))
        self.requests: Deque[RequestEntry] = deque(maxlen=config.max_recorded_requests)
        self.webhooks: Dict[str, Delivery] = {}
        self.streams: Deque[StreamEntry] = deque(maxlen=1000)
        self.open_streams: set[StreamEntry] = set()
        # Injected latency delays in progress (touched only on the emulator's loop).
        self.delays: set[anyio.CancelScope] = set()
        # Bumped by each reset: a request parked in a delay from before it is not handled.
        self.resets = 0
        # Open control streams (the dashboard's change events); stop() ends them at once.
        self.control_streams: set[anyio.CancelScope] = set()
        self.tokens = TokenAuthority()
        self.signer = WebhookSigner()
        # How many status streams watch queue positions (they need a nudge when the queue moves).
        self.position_watchers = 0
        # Set while the server runs:
        self.base_url = ""
        self.task_group: Optional[TaskGroup] = None
        self.http_client: Optional[httpx.AsyncClient] = None
        self.stopping = False
        self.open_connections: Callable[[], int] = lambda: 0
        self._loop_thread: Optional[int] = None
        self._loop_token: Optional[anyio.lowlevel.EventLoopToken] = None

    # --- the event loop ---------------------------------------------------------------------

    def attach_loop(self) -> None:
        """Remember the current thread and loop as the emulator's (call from inside it)."""
        self._loop_thread = threading.get_ident()
        self._loop_token = anyio.lowlevel.current_token()

    def detach_loop(self) -> None:
        """Forget the loop (it is about to stop)."""
        self._loop_thread = None
        self._loop_token = None

    @property
    def in_loop_thread(self) -> bool:
        """Whether the caller runs on the emulator's event loop thread."""
        return threading.get_ident() == self._loop_thread

    def run_in_loop(self, fn: Callable[[], T]) -> Optional[T]:
        """Run ``fn`` on the emulator's loop and return its result, from any thread.

        Runs it inline when the emulator is not running (there is no concurrency then) or when
        already on the loop. Returns None if the loop finished meanwhile.
        """
        token = self._loop_token
        if token is None or self.in_loop_thread:
            return fn()
        try:
            return anyio.from_thread.run_sync(fn, token=token)
        except anyio.RunFinishedError:
            return None

    # --- apps ---------------------------------------------------------------------------------

    def find_app(self, endpoint: EndpointPath) -> Optional[Tuple[AppSpec, Optional[str]]]:
        """The app an endpoint addresses, and the sub-path left over.

        An app may be registered under a longer id (``fal-ai/flux/dev``); the longest registered
        prefix of the endpoint wins.
        """
        rest = endpoint.rest
        for cut in range(len(rest), -1, -1):
            name = "/".join((endpoint.root, *rest[:cut]))
            spec = self.apps.get(name)
            if spec is not None:
                path = "/".join(rest[cut:]) or None
                return spec, path
        return None

    def job_info(self, job: Job) -> JobInfo:
        """A snapshot of ``job`` with its current queue position (call holding ``lock``)."""
        position = None
        if job.status == IN_QUEUE:
            queue = self.queues.get(job.spec.name)
            position = queue.position(job) if queue is not None else None
        return job.info(position)

    def queue_for(self, spec: AppSpec) -> AppQueue[Job]:
        """The queue of ``spec``'s app (created on first use)."""
        queue = self.queues.get(spec.name)
        if queue is None:
            queue = self.queues[spec.name] = AppQueue(spec.workers)
        else:
            queue.workers = spec.workers  # re-registration may change it
        return queue

    # --- logs and files written by apps ------------------------------------------------------

    def job_log_sink(self, job: Job) -> Callable[[Dict[str, str]], None]:
        """A thread-safe callable appending a log entry to ``job``."""

        def append() -> None:
            job.notify()
            self.feed.publish(job)  # the dashboard shows logs as they arrive

        def sink(entry: Dict[str, str]) -> None:
            with self.lock:
                job.logs.append(entry)
            self.run_in_loop(append)

        return sink

    def file_saver(
        self, base_url: str, *, app: Optional[str] = None, request_id: Optional[str] = None
    ) -> Callable[[bytes, str, Optional[str]], str]:
        """A thread-safe callable storing app output on the CDN; returns the file's URL.

        ``app`` and ``request_id`` name who wrote the files (shown by ``files()``).
        """

        def save(data: bytes, content_type: str, file_name: Optional[str]) -> str:
            stored = self.files.save_bytes(
                data,
                content_type=content_type,
                file_name=file_name,
                source="app",
                app=app,
                request_id=request_id,
            )
            return base_url + stored.url_path

        return save

    def file_loader(self, base_url: str) -> Callable[[str], bytes]:
        """A thread-safe callable reading an input URL an app was given: a ``data:`` URL, or a
        file on this emulator's CDN as addressed at ``base_url`` or at the emulator's own URL.

        It raises ValueError, saying why, for any other URL (nothing is fetched from the
        network) and for a file that is not (or no longer) held.
        """

        def load(url: str) -> bytes:
            if url[:5].lower() == "data:":
                return decode_data_url(url)[1]
            file_id = cdn_file_id(url, (base_url, self.base_url))
            if file_id is None:
                raise ValueError(
                    "the emulator reads only data: URLs and files on its own CDN "
                    f"({self.base_url or base_url}/cdn/files/...)"
                )
            stored = self.files.get(file_id)
            if stored is None:
                raise ValueError("no such file on the emulator's CDN (or it expired)")
            try:
                return stored.read_bytes()
            except FileNotFoundError:  # expired and deleted while being read
                raise ValueError("the file expired while it was being read") from None

        return load

    # --- recording ------------------------------------------------------------------------------

    def record_request(self, entry: RequestEntry) -> None:
        """Add a request to the request log (oldest records drop off past the limit)."""
        with self.lock:
            self.requests.append(entry)
        self.feed.publish(entry)

    def finish_request(self, entry: RequestEntry) -> None:
        """Note that a request's response is complete (its duration is known)."""
        entry.finish()
        self.feed.publish(entry)

    def request_records(self) -> List[RequestRecord]:
        """Snapshots of the recorded requests, oldest first."""
        with self.lock:
            entries = list(self.requests)
        return [entry.record() for entry in entries]

    def open_stream(self, app: str, request_id: str, kind: str) -> StreamEntry:
        """Start tracking an SSE response."""
        entry = StreamEntry(app, request_id, kind)
        with self.lock:
            self.streams.append(entry)
            self.open_streams.add(entry)
        self.feed.publish(entry)  # waiters on streams() re-check when one opens, too
        return entry

    def close_stream(self, entry: StreamEntry, *, client_disconnected: bool) -> None:
        """Mark an SSE response as done."""
        with self.lock:
            entry.finished = True
            entry.closed_at = time.time()
            entry.client_disconnected = client_disconnected
            self.open_streams.discard(entry)
        self.feed.publish(entry)

    def stream_infos(self) -> List[StreamInfo]:
        """Snapshots of the tracked SSE responses, oldest first."""
        with self.lock:
            return [entry.info() for entry in self.streams]

    # --- expiry and reset ---------------------------------------------------------------------

    def sweep(self, now: Optional[float] = None) -> int:
        """Forget completed jobs and delete files whose TTL has passed (at monotonic ``now``).

        Returns:
            How many jobs and files were removed.
        """
        now = time.monotonic() if now is None else now
        with self.lock:
            expired = self.jobs.expire(now)
            for job in expired:
                self.webhooks.pop(job.request_id, None)
        for job in expired:
            self.feed.publish(job)
        removed_files = self.files.expire(now)
        if removed_files:
            self.feed.publish(FILES_CHANGED)
        return len(expired) + removed_files

    def forget_everything(self) -> List[Job]:
        """Drop jobs, requests, files, webhooks, streams and faults (apps stay).

        Returns:
            The jobs that were known, so the caller can cancel the live ones.
        """
        with self.lock:
            jobs = self.jobs.clear()
            for queue in self.queues.values():
                for job in queue.waiting():
                    queue.remove(job)
            self.requests.clear()
            self.webhooks.clear()
            self.streams.clear()
        self.faults.clear()
        self.files.clear()
        for job in jobs:
            self.feed.publish(job)
        self.feed.publish(RESET)
        return jobs
