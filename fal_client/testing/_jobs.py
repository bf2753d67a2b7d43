"""Jobs (one per fal request the emulator runs) and the table that holds them until they expire."""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Deque, Dict, Iterator, List, Mapping, Optional, Tuple

import anyio

from ._apps import AppSpec
from ._records import JobInfo
from ._responses import StoredResponse, dumps
from ._sequence import next_seq

IN_QUEUE = "IN_QUEUE"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"

#: How far along each status is; a waiter for a status is satisfied by any later one too.
STATUS_RANK = {IN_QUEUE: 0, IN_PROGRESS: 1, COMPLETED: 2}

#: How a request was made.
VIA_QUEUE = "queue"
VIA_RUN = "run"
VIA_STREAM = "stream"


class Job:
    """The mutable state of one request. Only the emulator's event loop thread mutates it,
    holding the state lock, so that inspection from other threads sees consistent snapshots."""

    __slots__ = (
        "_changed",
        "arguments",
        "base_url",
        "cancelled",
        "deadline_scope",
        "finished_at",
        "finished_monotonic",
        "headers",
        "hint",
        "input_bytes",
        "logs",
        "path",
        "priority",
        "request_id",
        "response",
        "root",
        "scope",
        "seq",
        "sink",
        "spec",
        "start_timeout",
        "started_at",
        "started_monotonic",
        "status",
        "submitted_at",
        "via",
        "webhook_url",
    )

    def __init__(
        self,
        *,
        request_id: str,
        spec: AppSpec,
        root: str,
        path: Optional[str],
        via: str,
        arguments: Any,
        headers: Mapping[str, str],
        base_url: str,
        priority: str = "normal",
        hint: Optional[str] = None,
        start_timeout: Optional[float] = None,
        webhook_url: Optional[str] = None,
    ) -> None:
        self.request_id = request_id
        self.seq = next_seq()
        self.spec = spec
        self.root = root
        self.path = path
        self.via = via
        self.arguments: Any = arguments
        # The input as JSON, once the job completed and dropped ``arguments`` (the request
        # history serves it; bytes are a fraction of the parsed object's size).
        self.input_bytes: Optional[bytes] = None
        self.headers = headers
        self.base_url = base_url
        self.priority = priority
        self.hint = hint
        self.start_timeout = start_timeout
        self.webhook_url = webhook_url
        self.status = IN_QUEUE
        self.cancelled = False
        self.submitted_at = time.time()
        self.started_at: Optional[float] = None
        self.started_monotonic: Optional[float] = None
        self.finished_at: Optional[float] = None
        self.finished_monotonic: Optional[float] = None
        self.logs: List[Dict[str, str]] = []
        self.response: Optional[StoredResponse] = None
        # The cancel scope around the running app (cancelling it cancels the app's task).
        self.scope: Optional[anyio.CancelScope] = None
        # The cancel scope of the start-timeout timer, while one is armed.
        self.deadline_scope: Optional[anyio.CancelScope] = None
        # Where a /stream request receives the items a streaming app yields.
        self.sink: Optional[Any] = None
        self._changed: Optional[anyio.Event] = None

    @property
    def app(self) -> str:
        """The registered app name."""
        return self.spec.name

    @property
    def status_code(self) -> Optional[int]:
        """The HTTP status of its result, once completed."""
        return self.response.status_code if self.response is not None else None

    @property
    def endpoint(self) -> str:
        """The full endpoint id the client addressed: the app's registered name plus the
        sub-path beyond it (``fal-ai/flux/dev`` whether ``fal-ai/flux`` or ``fal-ai/flux/dev``
        is the registered app)."""
        # Not ``root``: an app registered under a sub-path (``fal-ai/fast-sdxl/image-to-image``)
        # is addressed beyond the root with no sub-path left over.
        return f"{self.spec.name}/{self.path}" if self.path else self.spec.name

    def input_json(self) -> Optional[bytes]:
        """The job's input as JSON bytes (None if it is not JSON)."""
        if self.input_bytes is not None:
            return self.input_bytes
        try:
            return dumps(self.arguments)
        except (TypeError, ValueError):
            return None

    def changed(self) -> anyio.Event:
        """An event set at this job's next change (status, logs, queue position)."""
        if self._changed is None:
            self._changed = anyio.Event()
        return self._changed

    def notify(self) -> None:
        """Wake whoever waits on :meth:`changed` (event loop thread only)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def info(self, queue_position: Optional[int] = None) -> JobInfo:
        """An immutable snapshot (``queue_position`` is the scheduler's to tell)."""
        response = self.response
        return JobInfo(
            request_id=self.request_id,
            app=self.spec.name,
            status=self.status,
            cancelled=self.cancelled,
            submitted_at=self.submitted_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            error_type=response.error_type if response is not None else None,
            status_code=response.status_code if response is not None else None,
            via=self.via,
            path=self.path,
            priority=self.priority,
            hint=self.hint,
            start_timeout=self.start_timeout,
            webhook_url=self.webhook_url,
            queue_position=queue_position if self.status == IN_QUEUE else None,
        )


class JobTable:
    """Every known job by request id, with completed jobs expiring after a TTL.

    Completed jobs are appended to an expiry queue in completion order; with one TTL for all jobs
    that order is also expiry order, so a sweep only looks at jobs that are due.
    """

    def __init__(self) -> None:
        self._jobs: Dict[str, Job] = {}
        self._expiry: Deque[Tuple[float, str]] = deque()

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._jobs.values()))

    def add(self, job: Job) -> None:
        """Start tracking ``job``."""
        self._jobs[job.request_id] = job

    def get(self, request_id: str) -> Optional[Job]:
        """The job with this id, if it is still known."""
        return self._jobs.get(request_id)

    def completed(self, job: Job, expires_at: float) -> None:
        """Record that ``job`` completed and may be forgotten at monotonic time ``expires_at``."""
        self._expiry.append((expires_at, job.request_id))

    def expire(self, now: float) -> List[Job]:
        """Forget the completed jobs due at monotonic time ``now``; returns them."""
        expired = []
        while self._expiry and self._expiry[0][0] <= now:
            _, request_id = self._expiry.popleft()
            job = self._jobs.pop(request_id, None)
            if job is not None:
                expired.append(job)
        return expired

    def clear(self) -> List[Job]:
        """Forget every job; returns them."""
        jobs = list(self._jobs.values())
        self._jobs.clear()
        self._expiry.clear()
        return jobs
