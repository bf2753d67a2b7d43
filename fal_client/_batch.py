"""Fan-out: many inputs through one app with bounded concurrency (``AsyncClient.map``).

Structure: one task group owns a feeder task (reads inputs lazily, starts a worker per input
once a concurrency slot is free) and the workers (each a full ``subscribe``: submit, wait,
result, and a remote cancel if it is cancelled). Workers never raise into the task group: each
outcome, success or failure, travels to the consumer as a ``BatchResult``. So the only
cancellations of the group are the ones the consumer starts itself (first failure, early exit)
or that come from outside; this is what lets ``map`` be an async generator safely, provided the
consumer finishes the loop or closes it (``async with client.map(...) as results``).

Admission: a job starts only when ``AdaptiveLimit`` (``_aimd.py``) allows one more in flight.
Every job in flight holds exactly one waiter (a status stream, or a poller when the server has
none); inputs not yet started are not even read from the iterable. So 10,000 inputs at
``concurrency=16`` mean at most 16 submissions, 16 status streams and 16 connections at a time.

Rate limits: every 429 any of a job's requests receives halves the limit (once per epoch) and
pauses new submissions for ``Retry-After``, also when the transport's retry then gets through
(the transport reports each 429 through ``_rate_signal``). A submit still refused after those
retries means no job was created, so the input is put back and submitted again once a slot is
free. Successes add the slots back one by one.

Resumable runs (``manifest=``, see ``_manifest.py`` for the file format): every submission and
every outcome is journalled. Jobs are then waited for without ``subscribe``'s cancel-on-give-up:
when the map is interrupted from outside (Ctrl-C, a cancel scope, the consumer leaving early) the
jobs in flight keep running on fal and a re-run re-attaches to them. Jobs the map gives up on
deliberately (the first-failure policy, ``client_timeout``) are cancelled remotely and journalled
as cancelled, so a re-run submits them afresh.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from os import PathLike
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union

import anyio

from ._aclosing import aclosing
from ._aimd import AdaptiveLimit
from ._errors import FalClientTimeoutError, RateLimitError
from ._manifest import Entry, ManifestError, ManifestWriter, check_input, input_key
from ._rate_signal import listening_for_rate_limits
from ._status import Completed, InProgress, Status

if sys.version_info < (3, 11):  # pragma: no cover - depends on the interpreter
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from ._client import AsyncClient, AsyncRequestHandle

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
    configured concurrency while backing off from rate limits; ``rate_limited`` counts the
    429 answers the map's requests received, whether the client's retries absorbed them or
    the refused submission was put back.
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


class MapResults(AsyncIterator[Any]):
    """The async iterator ``AsyncClient.map`` returns; also an async context manager.

    Prefer ``async with client.map(...) as results: async for r in results: ...``: leaving the
    block early cancels the jobs still in flight (remotely too) before it returns.
    """

    def __init__(self, generator: AsyncIterator[Any]):
        self._generator = generator

    def __aiter__(self) -> MapResults:
        return self

    async def __anext__(self) -> Any:
        return await self._generator.__anext__()

    async def aclose(self) -> None:
        """Cancel what is still in flight and wait until it is cleaned up."""
        await self._generator.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> MapResults:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# How often one input is put back after its submit was refused with 429 before the
# RateLimitError is delivered as its outcome.
MAX_RATE_LIMIT_REQUEUES = 25


@dataclass(frozen=True)
class _Fatal:
    """A map-level error (a manifest that does not match, ``on_progress`` raising): ends the
    whole map and is raised as it is."""

    error: Exception


async def run_map(
    client: AsyncClient,
    application: str,
    inputs: Union[Iterable[Any], AsyncIterable[Any]],
    *,
    concurrency: int,
    ordered: bool,
    return_exceptions: bool,
    on_progress: Optional[Callable[[Progress], Any]],
    subscribe_options: Mapping[str, Any],
    manifest: Union[str, PathLike[str], None] = None,
) -> AsyncIterator[Any]:
    """The body of ``AsyncClient.map`` (see there)."""
    counters = _Counters()
    limit = AdaptiveLimit(concurrency)
    counters.limit = limit.limit
    # Unbounded is safe: at most ``window`` results exist at once (see below).
    send, receive = anyio.create_memory_object_stream[Union[BatchResult, int, _Fatal]](math.inf)
    # In ordered mode a slow head job must not let finished results pile up without bound.
    window = anyio.Semaphore(max(2 * concurrency, 64))
    progress_dirty = False
    in_flight = 0
    slot_freed = anyio.Event()
    # Set before the map cancels its own jobs on purpose (first failure): those are cancelled
    # remotely even when a manifest would otherwise leave them running for a re-run.
    failing = False
    writer = ManifestWriter(manifest) if manifest is not None else None
    entries: dict[int, Entry] = {}
    options = dict(subscribe_options)
    client_timeout: Optional[float] = options.pop("client_timeout", None)
    if client_timeout is not None and options.get("start_timeout") is None and client_timeout > 1:
        options["start_timeout"] = client_timeout  # as subscribe does

    progress_changed = anyio.Event()

    def mark(index: int, state: str) -> None:
        nonlocal progress_dirty
        counters.move(index, state)
        progress_dirty = True
        progress_changed.set()

    # --- admission: the adaptive in-flight limit ------------------------------------------
    async def acquire_slot() -> int:
        """Wait until one more job may start; returns the limit's epoch at admission."""
        nonlocal in_flight
        while True:
            now = anyio.current_time()
            if limit.may_start(in_flight, now):
                in_flight += 1
                return limit.epoch
            pause = limit.wait_time(now)
            if pause > 0:
                await anyio.sleep(pause)
            else:
                await slot_freed.wait()

    def release_slot() -> None:
        nonlocal in_flight, slot_freed
        in_flight -= 1
        slot_freed.set()
        slot_freed = anyio.Event()

    # --- one job ---------------------------------------------------------------------------
    def record(event: str, index: int, key: str, request_id: Optional[str], **extra: Any) -> Any:
        assert writer is not None
        return writer.write(
            {"event": event, "index": index, "key": key, "request_id": request_id, **extra}
        )

    def updated(index: int, status: Status) -> None:
        if isinstance(status, (InProgress, Completed)):
            mark(index, "running")

    async def wait_detached(
        handle: AsyncRequestHandle,
        index: int,
        key: str,
        scope: Optional[anyio.CancelScope],
        *,
        journal_submission: bool,
    ) -> Any:
        """Journal (if new) and wait for a job; cancel it remotely only when giving up on
        purpose, so an interrupted run leaves it running for the next one."""
        completed: Optional[Completed] = None
        try:
            if journal_submission:
                # Durable before we wait: a crash from here on re-attaches, never resubmits.
                await record("submitted", index, key, handle.request_id)
            # Counted as queued only once journalled, so a ``Progress`` never shows a job that a
            # crash right then would submit again.
            mark(index, "queued")
            async with aclosing(handle.iter_events()) as statuses:
                async for status in statuses:
                    updated(index, status)
                    if isinstance(status, Completed):
                        completed = status
            assert completed is not None
            return await handle._fetch_result(completed)
        except BaseException:
            deliberate = failing or (scope is not None and scope.cancel_called)
            if completed is None and deliberate:
                await handle._cancel_on_give_up()
                with anyio.CancelScope(shield=True):
                    await record("cancelled", index, key, handle.request_id)
            raise

    async def run_journalled(
        index: int, arguments: Any, key: str, entry: Optional[Entry], on_id: Callable[[str], None]
    ) -> Any:
        fresh = entry is None or not entry.request_id or entry.resubmit
        if fresh:
            handle = await client.submit(application, arguments, **options)
        else:
            # Submitted by an earlier run: re-attach, never submit again.
            assert entry is not None and entry.request_id is not None
            handle = await client.get_handle(application, entry.request_id)
        on_id(handle.request_id)
        if client_timeout is None:
            return await wait_detached(handle, index, key, None, journal_submission=fresh)
        with anyio.move_on_after(client_timeout) as scope:
            return await wait_detached(handle, index, key, scope, journal_submission=fresh)
        raise FalClientTimeoutError(
            client_timeout,
            handle.request_id,
            app=application,
            message="no result within client_timeout; the job was cancelled",
        )

    async def worker(
        index: int, arguments: Any, key: str, entry: Optional[Entry], epoch: int
    ) -> None:
        request_id: Optional[str] = None
        started = time.monotonic()
        holding = True

        def enqueued(rid: str) -> None:
            nonlocal request_id
            request_id = rid
            counters.submitted += 1
            limit.on_success()
            counters.limit = limit.limit
            if writer is None:
                mark(index, "queued")

        def rate_limited(retry_after: Optional[float]) -> None:
            # Any 429 of this job's requests, retried by the transport or not: back off.
            limit.on_rate_limited(epoch, anyio.current_time(), retry_after)
            counters.limit = limit.limit
            counters.rate_limited += 1

        try:
            requeues = 0
            while True:
                try:
                    with listening_for_rate_limits(rate_limited):
                        if writer is not None:
                            result = await run_journalled(index, arguments, key, entry, enqueued)
                        else:
                            result = await client.subscribe(
                                application,
                                arguments,
                                on_enqueue=enqueued,
                                on_queue_update=partial(updated, index) if on_progress else None,
                                client_timeout=client_timeout,
                                **options,
                            )
                    break
                except RateLimitError:
                    # No request id: the submit itself was refused, so no job exists and
                    # putting the input back cannot create a second one. (The limit has
                    # already backed off: the 429 was reported as it arrived.)
                    if request_id is not None or requeues >= MAX_RATE_LIMIT_REQUEUES:
                        raise
                    requeues += 1
                    holding = False
                    release_slot()
                    epoch = await acquire_slot()
                    holding = True
            outcome = BatchResult(
                index,
                arguments,
                result=result,
                request_id=request_id,
                latency=time.monotonic() - started,
            )
            if writer is not None:
                await record("done", index, key, request_id, result=result, latency=outcome.latency)
            mark(index, "done")
        except Exception as exc:
            outcome = BatchResult(
                index,
                arguments,
                error=exc,
                request_id=request_id,
                latency=time.monotonic() - started,
            )
            if writer is not None:
                with anyio.CancelScope(shield=True):
                    await record(
                        "failed",
                        index,
                        key,
                        request_id,
                        error=str(exc),
                        error_type=type(exc).__name__,
                        status_code=getattr(exc, "status_code", None),
                    )
            mark(index, "failed")
        finally:
            if holding:
                release_slot()
        send.send_nowait(outcome)

    # --- the feeder: reads inputs lazily, starts a worker per admitted input ---------------
    async def feeder(task_group: anyio.abc.TaskGroup) -> None:
        count = 0
        try:
            async with aclosing(_aiter(inputs)) as source:
                async for arguments in source:
                    key = ""
                    entry = None
                    if writer is not None:
                        try:
                            key = input_key(arguments)
                        except TypeError:
                            key = "unserializable"  # the submit reports it as this input's error
                        entry = entries.get(count)
                        check_input(entry, count, key, source=str(writer.path))
                    await window.acquire()
                    if entry is not None and entry.done:
                        # Finished in an earlier run: delivered from the manifest, no request.
                        mark(count, "done")
                        send.send_nowait(
                            BatchResult(
                                count,
                                arguments,
                                result=entry.result,
                                request_id=entry.request_id,
                                latency=entry.latency,
                            )
                        )
                    else:
                        epoch = await acquire_slot()
                        task_group.start_soon(worker, count, arguments, key, entry, epoch)
                    count += 1
            extra = [i for i in entries if i >= count]
            if extra:
                assert writer is not None
                raise ManifestError(
                    f"{writer.path} records {max(extra) + 1} or more inputs but only {count} "
                    "were given: the inputs changed since that run"
                )
        except ManifestError as exc:
            send.send_nowait(_Fatal(exc))
            return
        except Exception as exc:
            send.send_nowait(BatchResult(count, None, error=exc))
            count += 1
        counters.total = count
        send.send_nowait(-count - 1)  # the end marker carries the total

    async def report() -> None:
        nonlocal progress_dirty
        if on_progress is not None and progress_dirty:
            progress_dirty = False
            value = on_progress(counters.snapshot())
            if inspect.isawaitable(value):
                await value

    async def reporter() -> None:
        # Reports every change of the counts (coalesced while on_progress runs), not only
        # finished jobs: submissions and starts matter to a progress bar too. A failing
        # on_progress ends the map with its exception, like a failing consumer would.
        nonlocal progress_changed
        with reporter_scope:
            while True:
                await progress_changed.wait()
                progress_changed = anyio.Event()
                try:
                    await report()
                except Exception as exc:
                    send.send_nowait(_Fatal(exc))
                    return

    reporter_scope = anyio.CancelScope()
    failure: Optional[Exception] = None
    fatal: Optional[Exception] = None
    # Closed after the task group, i.e. after every worker has finished sending.
    closed_early = False
    with send, receive:
        if writer is not None:
            state = await writer.open(
                app=application, path=str(subscribe_options.get("path") or "")
            )
            entries = state.entries
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(feeder, tg)
                if on_progress is not None:
                    tg.start_soon(reporter)
                total: Optional[int] = None
                received = 0
                next_index = 0
                held: dict[int, BatchResult] = {}
                while total is None or received < total:
                    message = await receive.receive()
                    if isinstance(message, int):
                        total = -message - 1
                        continue
                    if isinstance(message, _Fatal):
                        fatal = message.error
                        tg.cancel_scope.cancel()
                        break
                    received += 1
                    if message.error is not None and not return_exceptions:
                        failure = message.error
                        failing = True
                        tg.cancel_scope.cancel()
                        break
                    ready: list[Any] = []
                    if ordered:
                        held[message.index] = message
                        while next_index in held:
                            item = held.pop(next_index)
                            next_index += 1
                            ready.append(item.error if item.error is not None else item.result)
                    else:
                        ready.append(message)
                    for value in ready:
                        window.release()
                        try:
                            yield value
                        except GeneratorExit:
                            # The consumer closed us: leave the task group normally (a
                            # GeneratorExit inside it would come out wrapped in a group).
                            closed_early = True
                            break
                    if closed_early:
                        tg.cancel_scope.cancel()
                        break
                reporter_scope.cancel()
                if not closed_early and fatal is None:
                    await report()
        finally:
            if writer is not None:
                await writer.aclose()
    if fatal is not None:
        raise fatal
    if failure is not None:
        raise ExceptionGroup(f"a job of the map over {application} failed", [failure])
