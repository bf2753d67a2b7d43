"""Fan-out: many inputs through one app with bounded concurrency (``AsyncClient.map``).

Structure: one task group owns a feeder task (reads inputs lazily, starts a worker per input
once a concurrency slot is free) and the workers (each a full ``subscribe``: submit, wait,
result, and a remote cancel if it is cancelled). Workers never raise into the task group: each
outcome, success or failure, travels to the consumer as a ``BatchResult``. So the only
cancellations of the group are the ones the consumer starts itself (first failure, early exit)
or that come from outside; this is what lets ``map`` be an async generator safely, provided the
consumer finishes the loop or closes it (``async with client.map(...) as results``).
"""

from __future__ import annotations

import inspect
import math
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union

import anyio

from ._aclosing import aclosing
from ._status import Completed, InProgress, Status

if sys.version_info < (3, 11):  # pragma: no cover - depends on the interpreter
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from ._client import AsyncClient

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
    ``failed`` are finished ones; ``total`` is known once the inputs are exhausted.
    """

    submitted: int
    queued: int
    running: int
    done: int
    failed: int
    total: Optional[int]
    elapsed: float

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
) -> AsyncIterator[Any]:
    """The body of ``AsyncClient.map`` (see there)."""
    counters = _Counters()
    # Unbounded is safe: at most ``window`` results exist at once (see below).
    send, receive = anyio.create_memory_object_stream[Union[BatchResult, int]](math.inf)
    slots = anyio.Semaphore(concurrency)
    # In ordered mode a slow head job must not let finished results pile up without bound.
    window = anyio.Semaphore(max(2 * concurrency, 64))
    progress_dirty = False

    def mark(index: int, state: str) -> None:
        nonlocal progress_dirty
        counters.move(index, state)
        progress_dirty = True

    async def worker(index: int, arguments: Any) -> None:
        request_id: Optional[str] = None
        started = time.monotonic()

        def enqueued(rid: str) -> None:
            nonlocal request_id
            request_id = rid
            counters.submitted += 1
            mark(index, "queued")

        def updated(status: Status) -> None:
            if isinstance(status, InProgress):
                mark(index, "running")
            elif isinstance(status, Completed):
                mark(index, "running")

        try:
            result = await client.subscribe(
                application,
                arguments,
                on_enqueue=enqueued,
                on_queue_update=updated if on_progress else None,
                **subscribe_options,
            )
            outcome = BatchResult(
                index,
                arguments,
                result=result,
                request_id=request_id,
                latency=time.monotonic() - started,
            )
            mark(index, "done")
        except Exception as exc:
            outcome = BatchResult(
                index,
                arguments,
                error=exc,
                request_id=request_id,
                latency=time.monotonic() - started,
            )
            mark(index, "failed")
        finally:
            slots.release()
        send.send_nowait(outcome)

    async def feeder(task_group: anyio.abc.TaskGroup) -> None:
        count = 0
        try:
            async with aclosing(_aiter(inputs)) as source:
                async for arguments in source:
                    await window.acquire()
                    await slots.acquire()
                    task_group.start_soon(worker, count, arguments)
                    count += 1
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

    failure: Optional[Exception] = None
    # Closed after the task group, i.e. after every worker has finished sending.
    closed_early = False
    with send, receive:
        async with anyio.create_task_group() as tg:
            tg.start_soon(feeder, tg)
            total: Optional[int] = None
            received = 0
            next_index = 0
            held: dict[int, BatchResult] = {}
            while total is None or received < total:
                message = await receive.receive()
                if isinstance(message, int):
                    total = -message - 1
                    continue
                received += 1
                await report()
                if message.error is not None and not return_exceptions:
                    failure = message.error
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
            if not closed_early:
                await report()
    if failure is not None:
        raise ExceptionGroup(f"a job of the map over {application} failed", [failure])
