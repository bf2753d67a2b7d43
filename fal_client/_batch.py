"""Fan-out: many inputs through one app with bounded concurrency (``AsyncClient.map``).

Structure: a small state machine. ``MapResults`` is the consumer's face, an async iterator and
async context manager; entering it creates a ``_Fanout`` (the map's state as fields: counts,
admission slots, the ordered window, the manifest, the result stream) and opens the task group
the block owns, which runs the producer (``_Fanout.produce``: the feeder reads inputs lazily
and starts a ``_Job`` per admitted input, in a task group of its own) and the progress
reporter. Jobs never raise into a group: each outcome, success or failure, travels to the
consumer through a memory stream as a ``BatchResult``, and ``produce`` puts the end marker
(``_END``) on it once every job is over. The consumer side only receives, and never runs user
code inside the map's task groups (no ``yield`` from inside a group, as trio's
``as_safe_channel``): the first failure cancels the producer's group (``_Fanout.stop``) and is
raised from ``__anext__`` once the jobs' remote cancels are answered; leaving the block early
cancels the block's group.

Admission: a job starts only when ``AdaptiveLimit`` (``_aimd.py``) allows one more in flight.
Every job in flight holds exactly one waiter (a status stream, or a poller when the server has
none); inputs not yet started are not even read from the iterable. So 10,000 inputs at
``concurrency=16`` mean at most 16 submissions, 16 status streams and 16 connections at a time.

Rate limits: ``Retry-After`` is honoured per request, and only a real rate limit shrinks the
limit (``AdaptiveLimit`` decides, I/O-free). A refused submit (429) means no job was created:
the transport does not retry it; the input gives its slot back, waits out its own
``Retry-After`` while other inputs use the slot, and queues again. A 429 on an existing job's
request is retried by the transport after its ``Retry-After`` (that job holds its slot: it
exists). The transport reports every answer through ``_rate_signal``, so the limit sees the
share of 429s, not only their number: scattered ones leave it alone.

Resumable runs (``manifest=``, see ``_manifest.py`` for the file format): every submission and
every outcome is journalled, a result only once the consumer has handled it (``MapResults``
queues its ``done`` record when the consumer comes back for the next value), so the manifest
never runs ahead of what the consumer stored. Jobs are then waited for without ``subscribe``'s
cancel-on-give-up:
when the map is interrupted from outside (Ctrl-C, a cancel scope, the consumer leaving early) the
jobs in flight keep running on fal and a re-run re-attaches to them. Jobs the map gives up on
deliberately (the first-failure policy, ``client_timeout``) are cancelled remotely and journalled
as cancelled, so a re-run submits them afresh.
"""

from __future__ import annotations

import inspect
import math
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sized
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from os import PathLike
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Optional, TypeVar, Union

import anyio

from ._aclosing import aclosing
from ._aimd import AdaptiveLimit
from ._budget import Budget, open_budget
from ._endpoints import join_path, parse_app_id
from ._errors import FalClientTimeoutError, RateLimitError
from ._manifest import (
    Entry,
    ManifestError,
    ManifestWriter,
    check_input,
    format_at,
    input_key,
    read_entries,
)
from ._platform_api import Platform
from ._queue import cancel_remotely, fetch_result
from ._rate_signal import listening_for_answers
from ._status import Completed, InProgress, Status

if TYPE_CHECKING:
    from ._queue import AsyncRequestHandle, Queue

T = TypeVar("T")


@dataclass(frozen=True)
class BatchResult:
    """The outcome of one input of a ``map``.

    Attributes:
        index: the input's position (0-based).
        arguments: the input itself.
        result: the app's result, when it succeeded.
        error: the exception, when it failed.
        request_id: the fal request id, when the job was submitted.
        latency: seconds from the start of the submit to the result (or the failure).
    """

    index: int
    arguments: Any
    result: Any = None
    error: Optional[Exception] = None
    request_id: Optional[str] = None
    latency: Optional[float] = None

    @property
    def ok(self) -> bool:
        """Whether the job succeeded."""
        return self.error is None


@dataclass(frozen=True)
class Progress:
    """Counts of a running ``map``, passed to ``on_progress``.

    ``queued`` and ``running`` are jobs in flight by their last known status; ``done`` and
    ``failed`` are finished ones (``done`` includes results taken from a manifest); ``total``
    is known once the inputs are exhausted. ``limit`` is the current in-flight limit: below the
    configured concurrency while a rate limit holds it down; ``rate_limited`` counts the 429
    answers the map's requests received, whether the client's retries absorbed them or the
    refused submission was put back.
    """

    submitted: int
    queued: int
    running: int
    done: int
    failed: int
    total: Optional[int]
    elapsed: float
    limit: int = 0
    rate_limited: int = 0

    @property
    def finished(self) -> int:
        """Jobs that are done or failed."""
        return self.done + self.failed

    @property
    def throughput(self) -> float:
        """Finished jobs per second so far."""
        return self.finished / self.elapsed if self.elapsed > 0 else 0.0


class _Counters:
    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.submitted = self.queued = self.running = self.done = self.failed = 0
        self.total: Optional[int] = None
        self.state: dict[int, str] = {}
        self.limit = 0
        self.rate_limited = 0

    def move(self, index: int, state: str) -> None:
        old = self.state.get(index)
        if old == state:
            return
        if old == "queued":
            self.queued -= 1
        elif old == "running":
            self.running -= 1
        if state == "queued":
            self.queued += 1
        elif state == "running":
            self.running += 1
        if state in ("done", "failed"):
            self.state.pop(index, None)
            if state == "done":
                self.done += 1
            else:
                self.failed += 1
        else:
            self.state[index] = state

    def snapshot(self) -> Progress:
        return Progress(
            self.submitted,
            self.queued,
            self.running,
            self.done,
            self.failed,
            self.total,
            time.monotonic() - self.started_at,
            self.limit,
            self.rate_limited,
        )


async def _aiter(inputs: Union[Iterable[T], AsyncIterable[T]]) -> AsyncIterator[T]:
    if isinstance(inputs, AsyncIterable):
        try:
            async for item in inputs:
                yield item
        finally:
            # An async generator handed to map exists for this map: close it with the map,
            # in this task, rather than leave its cleanup to the garbage collector.
            if inspect.isasyncgen(inputs):
                await inputs.aclose()
    else:
        for item in inputs:
            yield item


# How often one input is put back after its submit was refused with 429 before the
# RateLimitError is delivered as its outcome.
MAX_RATE_LIMIT_REQUEUES = 25


class _End:
    """The end marker of a map's result stream: every input was read and every job is over,
    so nothing follows it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<end of the map's results>"


_END = _End()


@dataclass(frozen=True)
class _Fatal:
    """A map-level error (a manifest that does not match, ``on_progress`` raising): ends the
    whole map and is raised as it is."""

    error: Exception


#: What travels from the producer side to the consumer, in the order it happened.
_Message = Union[BatchResult, _Fatal, _End]


@dataclass(frozen=True)
class MapSpec:
    """Everything ``map`` was called with, checked; a ``MapResults`` runs it when entered."""

    queue: Queue
    application: str
    inputs: Union[Iterable[Any], AsyncIterable[Any]]
    concurrency: int
    ordered: bool
    return_exceptions: bool
    on_progress: Optional[Callable[[Progress], Any]]
    subscribe_options: Mapping[str, Any]
    manifest: Union[str, PathLike[str], None] = None
    #: With ``max_cost``: the platform resource that prices the calls.
    platform: Optional[Platform] = None
    max_cost: Optional[float] = None


def _submits(entry: Optional[Entry]) -> bool:
    """Whether an input's job is submitted (again), rather than re-attached to: not recorded
    as submitted by an earlier run, or recorded as a job the map itself cancelled."""
    return entry is None or not entry.request_id or entry.resubmit


class _Admission:
    """Concurrency slots over the adaptive in-flight limit (``AdaptiveLimit``).

    A job may start once ``acquire`` returns and gives its slot back with ``release``, also
    while a refused submit waits out its ``Retry-After`` (its place is used meanwhile). The
    limit moves with what the server answers: the jobs report it here.
    """

    def __init__(self, concurrency: int):
        self.limit = AdaptiveLimit(concurrency)
        self.in_flight = 0
        # Jobs holding a slot whose submit the server accepted: what it carries of ours.
        self.carried = 0
        # Replaced on each wake-up, so waiters re-check the limit once per freed slot.
        self._freed = anyio.Event()

    async def acquire(self) -> int:
        """Wait until one more job may start; returns the limit's epoch at admission."""
        while True:
            now = anyio.current_time()
            if self.limit.may_start(self.in_flight, now):
                self.in_flight += 1
                return self.limit.epoch
            pause = self.limit.wait_time(now)
            if pause > 0:
                await anyio.sleep(pause)
            else:
                await self._freed.wait()

    def release(self, *, carried: bool) -> None:
        """Give a slot back (the job finished, or its refused submit waits to come back);
        ``carried`` when the server had accepted that job."""
        self.in_flight -= 1
        if carried:
            self.carried -= 1
        self._wake()

    def accepted(self, epoch: int) -> None:
        """A job admitted in ``epoch`` was accepted by the server (it holds its slot on)."""
        self.carried += 1
        if self.limit.on_accepted(epoch):
            self._wake()

    def refused(self, epoch: int, wait: float) -> None:
        """A submit of a job admitted in ``epoch`` was refused with 429 (no job exists); the
        input comes back after ``wait`` seconds."""
        self.limit.on_refused(epoch, carried=self.carried, now=anyio.current_time(), wait=wait)

    def _wake(self) -> None:
        self._freed.set()
        self._freed = anyio.Event()


class _Fanout:
    """The state of one running map, shared by the feeder, its jobs and the reporter.

    Created when a ``MapResults`` is entered (anyio objects need the running loop). The
    producer side (``produce``, ``reporter``) runs in the task group of that context; results
    reach the consumer only through ``receive``, never by a ``yield`` from inside a group.
    """

    def __init__(self, spec: MapSpec):
        self.spec = spec
        self.counters = _Counters()
        self.admission = _Admission(spec.concurrency)
        self.counters.limit = self.admission.limit.limit
        # Unbounded is safe: at most ``window`` results exist at once (see below).
        self.send, self.receive = anyio.create_memory_object_stream[_Message](math.inf)
        # In ordered mode a slow head job must not let finished results pile up without bound:
        # the consumer gives a place back as it hands each result out.
        self.window = anyio.Semaphore(max(2 * spec.concurrency, 64))
        options = dict(spec.subscribe_options)
        self.client_timeout: Optional[float] = options.pop("client_timeout", None)
        timeout = self.client_timeout
        if timeout is not None and options.get("start_timeout") is None and timeout > 1:
            options["start_timeout"] = timeout  # as subscribe does
        self.options = options
        self.writer = ManifestWriter(spec.manifest) if spec.manifest is not None else None
        self.entries: dict[int, Entry] = {}
        # Every request id this map holds (from the manifest, and each submit's as it comes):
        # a lost submit's job is none of these. Live: a lookup reads it at each look.
        self.claimed: set[str] = set()
        self.opened_at = datetime.now(timezone.utc)
        self.budget: Optional[Budget] = None
        # ``done`` records of finished jobs whose result the consumer has not handled yet.
        self.unjournalled: dict[int, dict[str, Any]] = {}
        self.progress_dirty = False
        self.progress_changed = anyio.Event()
        # Set before the map cancels its own jobs on purpose (first failure): those are
        # cancelled remotely even when a manifest would otherwise leave them running.
        self.failing = False
        # Whether the producer calls on_progress once more after the last job (not when the
        # map ends on a fatal error or the consumer left early).
        self.final_report = True
        # Cancelled by the consumer to stop the feeder and every job (first failure, fatal).
        self.jobs_scope = anyio.CancelScope()
        self.reporter_scope = anyio.CancelScope()
        # Set once ``produce`` is over: every job has finished or been cancelled.
        self.finished = anyio.Event()

    # --- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        """Open the manifest (if any) and load what an earlier run recorded; price the batch
        when it has a budget (refused here, before the first submit, when it is over)."""
        spec = self.spec
        path = str(spec.subscribe_options.get("path") or "")
        # Priced before the manifest is opened: a batch refused for its budget leaves no
        # manifest behind (the same command with a larger budget then starts afresh).
        if spec.max_cost is not None:
            assert spec.platform is not None
            planned: Optional[int] = None
            if isinstance(spec.inputs, Sized):
                # Inputs an earlier run submitted cost nothing new.
                earlier = await read_entries(spec.manifest) if spec.manifest is not None else {}
                submitted = sum(1 for e in earlier.values() if not _submits(e))
                planned = max(len(spec.inputs) - submitted, 0)
            endpoint = join_path(parse_app_id(spec.application), path)
            self.budget = await open_budget(spec.platform, endpoint, spec.max_cost, planned)
        if self.writer is not None:
            state = await self.writer.open(app=spec.application, path=path)
            self.entries = state.entries
            self.claimed.update(state.request_ids)

    async def aclose(self) -> None:
        """Close the manifest and the result stream (after the producer side is over)."""
        try:
            if self.writer is not None:
                await self.writer.aclose()
        finally:
            self.send.close()
            self.receive.close()

    async def stop(self, *, final_report: bool) -> None:
        """Cancel the feeder and every job, and wait until they are cleaned up."""
        self.final_report = final_report
        self.jobs_scope.cancel()
        await self.finished.wait()

    # --- the producer: feeder and jobs, then the end marker -----------------------------------
    async def produce(self) -> None:
        """Read the inputs, run a job per input, and end the stream once all are over."""
        try:
            with self.jobs_scope:
                async with anyio.create_task_group() as jobs:
                    await self._feed(jobs)
            self.reporter_scope.cancel()
            if self.final_report:
                try:
                    await self.report()
                except Exception as exc:
                    self.send.send_nowait(_Fatal(exc))
                    return
            self.send.send_nowait(_END)
        finally:
            self.finished.set()

    async def _feed(self, jobs: anyio.abc.TaskGroup) -> None:
        """Read the inputs lazily: the next one only once the previous one was admitted."""
        count = 0
        try:
            async with aclosing(_aiter(self.spec.inputs)) as source:
                async for arguments in source:
                    await self._admit(jobs, count, arguments)
                    count += 1
            self._check_no_more_recorded(count)
        except ManifestError as exc:
            self.send.send_nowait(_Fatal(exc))
            return
        except Exception as exc:
            # The inputs themselves failed: delivered as the outcome of the next index.
            self.send.send_nowait(BatchResult(count, None, error=exc))
            count += 1
        self.counters.total = count

    async def _admit(self, jobs: anyio.abc.TaskGroup, index: int, arguments: Any) -> None:
        """Start the job of one input once the window and a slot allow it (or deliver its
        result from the manifest)."""
        key = ""
        entry = None
        if self.writer is not None:
            try:
                key = input_key(arguments)
            except TypeError:
                key = "unserializable"  # the submit reports it as this input's error
            entry = self.entries.get(index)
            check_input(entry, index, key, source=str(self.writer.path))
        await self.window.acquire()
        if entry is not None and entry.done:
            # Finished in an earlier run: delivered from the manifest, no request.
            self.mark(index, "done")
            self.send.send_nowait(
                BatchResult(
                    index,
                    arguments,
                    result=entry.result,
                    request_id=entry.request_id,
                    latency=entry.latency,
                )
            )
        else:
            refusal = self.budget.admit() if self.budget and _submits(entry) else None
            if refusal is not None:
                # Not submitted, not journalled: a resume with a larger budget submits it.
                self.mark(index, "failed")
                self.send.send_nowait(BatchResult(index, arguments, error=refusal))
                return
            epoch = await self.admission.acquire()
            jobs.start_soon(_Job(self, index, arguments, key, entry, epoch).run)

    def _check_no_more_recorded(self, count: int) -> None:
        extra = [i for i in self.entries if i >= count]
        if extra:
            assert self.writer is not None
            raise ManifestError(
                f"{self.writer.path} records {max(extra) + 1} or more inputs but only {count} "
                "were given: the inputs changed since that run"
            )

    # --- progress ------------------------------------------------------------------------------
    def mark(self, index: int, state: str) -> None:
        """Move one input to ``state`` in the counts, and wake the reporter."""
        self.counters.move(index, state)
        self.changed()

    def changed(self) -> None:
        """The counts changed (a move, the limit): wake the reporter."""
        self.progress_dirty = True
        self.progress_changed.set()

    def updated(self, index: int, status: Status) -> None:
        """A job's status arrived: it counts as running once the app has it."""
        if isinstance(status, (InProgress, Completed)):
            self.mark(index, "running")

    async def report(self) -> None:
        """Call ``on_progress`` with the counts, if they changed since the last call."""
        on_progress = self.spec.on_progress
        if on_progress is not None and self.progress_dirty:
            self.progress_dirty = False
            value = on_progress(self.counters.snapshot())
            if inspect.isawaitable(value):
                await value

    async def reporter(self) -> None:
        """Report every change of the counts (coalesced while ``on_progress`` runs), not only
        finished jobs: submissions and starts matter to a progress bar too. A failing
        ``on_progress`` ends the map with its exception, like a failing consumer would."""
        with self.reporter_scope:
            while True:
                await self.progress_changed.wait()
                self.progress_changed = anyio.Event()
                try:
                    await self.report()
                except Exception as exc:
                    self.send.send_nowait(_Fatal(exc))
                    return

    # --- the journal ---------------------------------------------------------------------------
    @staticmethod
    def entry_record(
        event: str, index: int, key: str, request_id: Optional[str], **extra: Any
    ) -> dict[str, Any]:
        """One manifest record of an input."""
        return {"event": event, "index": index, "key": key, "request_id": request_id, **extra}

    def record(
        self, event: str, index: int, key: str, request_id: Optional[str], **extra: Any
    ) -> Any:
        """Journal one event of an input (awaitable: durable once it returns)."""
        assert self.writer is not None
        return self.writer.write(self.entry_record(event, index, key, request_id, **extra))

    def journal_taken(self, index: int) -> None:
        """The consumer has handled input ``index``'s result: queue its ``done`` record (written
        with the next group commit; lost only by a crash, when a re-run fetches that result
        again by its request id)."""
        record = self.unjournalled.pop(index, None)
        if record is not None:
            assert self.writer is not None
            self.writer.write_soon(record)

    async def flush_journal(self) -> None:
        """Make the queued ``done`` records durable (the consumer is about to wait anyway)."""
        if self.writer is not None and self.writer.has_pending:
            await self.writer.flush()


class _Job:
    """One input through the app: submit (or re-attach), wait, fetch the result.

    Its outcome, success or failure, goes to the result stream as a ``BatchResult``; it never
    raises into the task group, so the group is only ever cancelled on purpose.
    """

    def __init__(
        self,
        fanout: _Fanout,
        index: int,
        arguments: Any,
        key: str,
        entry: Optional[Entry],
        epoch: int,
    ):
        self.fanout = fanout
        self.index = index
        self.arguments = arguments
        self.key = key
        self.entry = entry
        self.epoch = epoch  # the limit's epoch when this job (last) got its slot
        self.request_id: Optional[str] = None
        self.started = time.monotonic()
        self.holding = True  # holds an admission slot
        # Set once the map itself cancelled this job (and journalled it as cancelled).
        self.cancelled_by_map = False

    async def run(self) -> None:
        """Run the job to its outcome and deliver it."""
        fanout = self.fanout
        try:
            result = await self._attempts()
            outcome = BatchResult(
                self.index,
                self.arguments,
                result=result,
                request_id=self.request_id,
                latency=time.monotonic() - self.started,
            )
            if fanout.writer is not None:
                # Journalled once the consumer has taken this result and come back for more
                # (``MapResults``), not now: a manifest must never record as done a result the
                # consumer has not handled (the CLI's output file would miss it after kill -9).
                fanout.unjournalled[self.index] = fanout.entry_record(
                    "done",
                    self.index,
                    self.key,
                    self.request_id,
                    result=result,
                    latency=outcome.latency,
                )
            fanout.mark(self.index, "done")
        except Exception as exc:
            outcome = BatchResult(
                self.index,
                self.arguments,
                error=exc,
                request_id=self.request_id,
                latency=time.monotonic() - self.started,
            )
            # A job the map cancelled itself (its client_timeout) stays journalled as cancelled,
            # so a resume submits it again instead of re-reading its 499 for ever.
            if fanout.writer is not None and not self.cancelled_by_map:
                with anyio.CancelScope(shield=True):
                    await fanout.record(
                        "failed",
                        self.index,
                        self.key,
                        self.request_id,
                        error=str(exc),
                        error_type=type(exc).__name__,
                        status_code=getattr(exc, "status_code", None),
                    )
            fanout.mark(self.index, "failed")
        finally:
            if self.holding:
                fanout.admission.release(carried=self.request_id is not None)
        fanout.send.send_nowait(outcome)

    async def _attempts(self) -> Any:
        """The job, put back in line while its submit is refused with 429.

        The transport does not retry a map's refused submit itself (it would hold the slot
        through the ``Retry-After``): the input gives its slot back, waits out its own
        ``Retry-After`` (or the client's backoff) while other inputs use the slot, and then
        queues for a slot again. Whether the refusal also shrinks the limit is
        ``AdaptiveLimit``'s decision.
        """
        admission = self.fanout.admission
        requeues = 0
        while True:
            try:
                with listening_for_answers(self._answered):
                    return await self._attempt()
            except RateLimitError as exc:
                # No request id: the submit itself was refused, so no job exists and
                # putting the input back cannot create a second one.
                if self.request_id is not None or requeues >= MAX_RATE_LIMIT_REQUEUES:
                    raise
                requeues += 1
                wait = self.fanout.spec.queue.retry_policy.delay(requeues, exc.retry_after)
                admission.refused(self.epoch, wait)
                self.fanout.counters.limit = admission.limit.limit
                self.fanout.changed()
                self.holding = False
                admission.release(carried=False)
                await anyio.sleep(wait)
                self.epoch = await admission.acquire()
                self.holding = True

    async def _attempt(self) -> Any:
        fanout = self.fanout
        if fanout.writer is not None:
            return await self._journalled()
        return await fanout.spec.queue.subscribe(
            fanout.spec.application,
            self.arguments,
            on_enqueue=self._enqueued,
            on_queue_update=partial(fanout.updated, self.index)
            if fanout.spec.on_progress
            else None,
            client_timeout=fanout.client_timeout,
            retry_rate_limited_submit=False,
            claimed=fanout.claimed,
            **fanout.options,
        )

    def _enqueued(self, request_id: str) -> None:
        fanout = self.fanout
        self.request_id = request_id
        fanout.claimed.add(request_id)
        fanout.counters.submitted += 1
        fanout.admission.accepted(self.epoch)
        fanout.counters.limit = fanout.admission.limit.limit
        if fanout.writer is None:
            fanout.mark(self.index, "queued")

    def _answered(self, status_code: int) -> None:
        # Every answer to this job's requests, retried by the transport or not. A refused
        # submit is judged where its RateLimitError arrives (``_attempts``); the answers to an
        # existing job's requests are judged here, by their share of 429s.
        fanout = self.fanout
        rate_limited = status_code == 429
        if rate_limited:
            fanout.counters.rate_limited += 1
        if self.request_id is not None:
            fanout.admission.limit.on_answer(self.epoch, rate_limited=rate_limited)
        if rate_limited:
            fanout.counters.limit = fanout.admission.limit.limit
            # Reported as it happens: a progress view shows the 429 and the limit at once.
            fanout.changed()

    async def _journalled(self) -> Any:
        """The job with a manifest: journalled, re-attached to when an earlier run submitted it,
        and not cancelled remotely when the map is interrupted from outside."""
        fanout, entry = self.fanout, self.entry
        queue, application = fanout.spec.queue, fanout.spec.application
        fresh = _submits(entry)
        handle = None
        if fresh and entry is not None and entry.submitting_at is not None:
            handle = await self._find_in_flight(entry.submitting_at)
        if fresh and handle is None:
            assert fanout.writer is not None
            # The intent first: if the process dies with the POST in flight, the resume knows
            # that a job may exist and since when, and looks it up instead of paying twice.
            await fanout.writer.write(
                {
                    "event": "submitting",
                    "index": self.index,
                    "key": self.key,
                    "at": format_at(datetime.now(timezone.utc)),
                },
                fsync=False,
            )
            handle = await queue.submit(
                application,
                self.arguments,
                retry_rate_limits=False,
                claimed=fanout.claimed,
                **fanout.options,
            )
        elif handle is None:
            # Submitted by an earlier run: re-attach, never submit again.
            assert entry is not None and entry.request_id is not None
            handle = queue.handle(application, entry.request_id)
        self._enqueued(handle.request_id)
        timeout = fanout.client_timeout
        if timeout is None:
            return await self._wait_detached(handle, None, journal_submission=fresh)
        with anyio.move_on_after(timeout) as scope:
            return await self._wait_detached(handle, scope, journal_submission=fresh)
        raise FalClientTimeoutError(
            timeout,
            handle.request_id,
            app=application,
            message="no result within client_timeout; the job was cancelled",
        )

    async def _find_in_flight(self, since: datetime) -> Optional[AsyncRequestHandle]:
        """The job an earlier run's submit of this input may have made as it died: its handle
        when the request history lists it, ``None`` when it proves there is none (or when
        lookups are off: then the input is submitted again, as before intents were recorded).
        """
        fanout = self.fanout
        if not fanout.options.get("recover_lost_submit", True):
            return None
        return await fanout.spec.queue.find_lost(
            fanout.spec.application,
            self.arguments,
            path=str(fanout.options.get("path") or ""),
            not_before=since,
            # The earlier process is over: whatever it sent, it sent before this run began.
            not_after=fanout.opened_at,
            claimed=fanout.claimed,
        )

    async def _wait_detached(
        self,
        handle: AsyncRequestHandle,
        scope: Optional[anyio.CancelScope],
        *,
        journal_submission: bool,
    ) -> Any:
        """Journal (if new) and wait for a job; cancel it remotely only when giving up on
        purpose, so an interrupted run leaves it running for the next one."""
        fanout, index = self.fanout, self.index
        completed: Optional[Completed] = None
        try:
            if journal_submission:
                # Durable before we wait: a crash from here on re-attaches, never resubmits.
                await fanout.record("submitted", index, self.key, handle.request_id)
            # Counted as queued only once journalled, so a ``Progress`` never shows a job that a
            # crash right then would submit again.
            fanout.mark(index, "queued")
            async with aclosing(handle.iter_events()) as statuses:
                async for status in statuses:
                    fanout.updated(index, status)
                    if isinstance(status, Completed):
                        completed = status
            assert completed is not None
            return await fetch_result(handle, completed)
        except BaseException:
            deliberate = fanout.failing or (scope is not None and scope.cancel_called)
            if completed is None and deliberate:
                await cancel_remotely(handle)
                with anyio.CancelScope(shield=True):
                    await fanout.record("cancelled", index, self.key, handle.request_id)
                self.cancelled_by_map = True
            raise


class MapResults(AsyncIterator[Any]):
    """The async iterator ``AsyncClient.map`` returns; also an async context manager.

    Prefer ``async with client.map(...) as results: async for r in results: ...``: entering
    the block starts the map (the manifest is opened, the feeder and jobs start in a task
    group the block owns); leaving it early cancels the jobs still in flight (remotely too)
    before it returns. Iterating without the block works too: the map then starts with the
    first ``__anext__`` and is cleaned up when the results end or an error leaves the loop;
    leave such a loop early only through ``aclose()``.
    """

    def __init__(self, spec: MapSpec):
        self._spec = spec
        self._fanout: Optional[_Fanout] = None
        self._task_group: Optional[anyio.abc.TaskGroup] = None
        self._entered_by_iteration = False
        self._closed = False
        # The consumer's side: ``done`` once the end marker (or an error) was taken.
        self._done = False
        self._next_index = 0
        self._held: dict[int, BatchResult] = {}
        # (index, value) pairs ready to be handed out, in the order they are handed out.
        self._ready: deque[tuple[int, Any]] = deque()
        # The index of the value handed out last, until the consumer comes back for the next
        # one: only then has it handled that value, and its result is journalled as done.
        self._taken: Optional[int] = None

    async def __aenter__(self) -> MapResults:
        if self._fanout is not None or self._closed:
            raise RuntimeError("a MapResults can be entered (or iterated) only once")
        fanout = _Fanout(self._spec)
        try:
            await fanout.open()
        except BaseException:
            self._closed = True
            fanout.send.close()
            fanout.receive.close()
            raise
        self._fanout = fanout
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(fanout.produce)
        if self._spec.on_progress is not None:
            task_group.start_soon(fanout.reporter)
        return self

    async def __aexit__(self, exc_type: Optional[type[BaseException]], *exc_info: object) -> None:
        if exc_type is None:  # the block handled the last value it took
            self._journal_taken()
        await self._close()

    async def aclose(self) -> None:
        """Cancel what is still in flight and wait until it is cleaned up."""
        self._journal_taken()
        await self._close()

    def _journal_taken(self) -> None:
        if self._taken is not None and self._fanout is not None and not self._closed:
            self._fanout.journal_taken(self._taken)
        self._taken = None

    async def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        fanout, task_group = self._fanout, self._task_group
        if fanout is None or task_group is None:
            return
        try:
            if not self._done:
                fanout.final_report = False  # the consumer left early
            # Whatever the producer side still runs is not wanted any more. The body's own
            # exception (if any) is not passed on: the group would wrap it in a group.
            task_group.cancel_scope.cancel()
            self._done = True
            self._ready.clear()
            await task_group.__aexit__(None, None, None)
        finally:
            await fanout.aclose()

    def __aiter__(self) -> MapResults:
        return self

    async def __anext__(self) -> Any:
        if self._fanout is None and not self._closed:
            await self.__aenter__()
            self._entered_by_iteration = True
        try:
            return await self._next()
        except BaseException:
            if self._entered_by_iteration:
                # Without a block, the end of the results (or an error) closes the map here.
                await self.aclose()
            raise

    async def _next(self) -> Any:
        fanout = self._fanout
        if fanout is None:
            raise StopAsyncIteration  # closed before it started
        self._journal_taken()  # the consumer is back: it has handled the previous value
        while not self._ready:
            if self._done:
                raise StopAsyncIteration
            try:
                message = fanout.receive.receive_nowait()
            except anyio.WouldBlock:
                # Nothing to hand out yet: a good moment to make the done records durable.
                await fanout.flush_journal()
                message = await fanout.receive.receive()
            if not self._take(message):
                await self._fail(fanout, message)
        # The value leaves the map: its place in the window is free again.
        fanout.window.release()
        self._taken, value = self._ready.popleft()
        return value

    def _take(self, message: _Message) -> bool:
        """File one message (no await on this path: it runs once per result); ``False`` when
        it ends the map with an error."""
        if isinstance(message, _End):
            self._done = True
        elif isinstance(message, _Fatal):
            return False
        elif message.error is not None and not self._spec.return_exceptions:
            return False
        elif self._spec.ordered:
            self._held[message.index] = message
            while self._next_index in self._held:
                item = self._held.pop(self._next_index)
                self._next_index += 1
                value = item.error if item.error is not None else item.result
                self._ready.append((item.index, value))
        else:
            self._ready.append((message.index, message))
        return True

    async def _fail(self, fanout: _Fanout, message: _Message) -> NoReturn:
        """Stop every job (remotely too) and wait for that, then raise what ended the map."""
        self._done = True
        if isinstance(message, _Fatal):
            await fanout.stop(final_report=False)
            raise message.error
        assert isinstance(message, BatchResult) and message.error is not None
        fanout.failing = True
        await fanout.stop(final_report=True)
        # Raised bare, as the single call would raise it: ``except FalClientTimeoutError``
        # around a map catches a job's timeout, in sync code too.
        raise message.error
