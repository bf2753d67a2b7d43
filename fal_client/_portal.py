"""The bridge from sync code to the async engine: one event-loop thread behind a blocking portal.

A ``Portal`` owns one thread running one AnyIO event loop (asyncio or trio) for its whole life,
inside an anyio ``BlockingPortal`` that manages the loop's start and stop. Sync calls run in a
task group owned by that thread, so every call is a structured task: cancelled with its caller,
and cancelled and awaited when the portal stops.

Starting a call costs one non-blocking hop into the loop (``call_soon_threadsafe`` on asyncio,
``TrioToken.run_sync_soon`` on trio). anyio's ``start_task_soon`` blocks the caller once to
spawn the task and once more for the result; on a fast local round trip that second hop is a
large part of a sync call's cost.

Async iterators and callbacks cross back through a single producer task feeding a memory object
stream that the caller drains in batches (never one portal call per item: that is slow and
breaks generators that hold cancel scopes).

If the waiting caller is interrupted (Ctrl-C, an exception in a callback, ``break`` out of an
iterator) the task in the loop is cancelled and the caller waits, bounded, for its cleanup (such
as the remote cancel of a fal job) before re-raising.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextvars
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.from_thread import BlockingPortal
from anyio.streams.memory import MemoryObjectReceiveStream

from . import _deadline as deadline
from ._aclosing import aclose

# asyncio (about 30 ms to import) is loaded by anyio when a loop thread starts on it, so
# ``import fal_client`` and a trio-only program do not pay for it here.
if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")

# How long a sync caller waits for the loop-side cleanup after interrupting a call.
CLEANUP_GRACE_SECONDS = 10.0
# Short waits keep the waiting thread responsive to signals on every platform.
_WAIT_SLICE_SECONDS = 0.5
_BATCH_LIMIT = 1024

_live_portals: weakref.WeakSet[Portal] = weakref.WeakSet()


class _Loop:
    """What a running portal thread offers: its portal, its task group, and a thread-safe,
    non-blocking way to schedule a callback in it."""

    def __init__(self, portal: BlockingPortal, task_group: anyio.abc.TaskGroup, backend: str):
        self.portal = portal
        self.task_group = task_group
        # Set once the loop thread has finished: a call not settled by then never will be.
        self.closed = False
        # asyncio tasks started directly (see ``start``), cancelled and awaited at stop.
        self.tasks: set[asyncio.Task[None]] = set()
        native: Any = anyio.lowlevel.current_token().native_token
        self.call_soon: Callable[..., None]
        self.start: Callable[[Callable[[], Awaitable[None]]], None]
        if backend == "asyncio":
            # Callbacks run in the loop's own context, not the caller's: the caller's context
            # variables (sniffio's "trio" when called from inside trio.run, for one) must not
            # leak into this loop's tasks, and anyio finds its backend through that context.
            context = contextvars.copy_context()
            self.call_soon = lambda fn, *args: native.call_soon_threadsafe(
                fn, *args, context=context
            )

            # Python 3.12+: the task runs its first step at once, in this callback, instead
            # of one more turn of the loop later (the request is on the wire a turn sooner).
            import asyncio  # this loop is asyncio's: it is loaded

            eager = getattr(asyncio, "eager_task_factory", None)

            def start(fn: Callable[[], Awaitable[None]]) -> None:
                # A plain asyncio task, tracked here: anyio's TaskGroup.start_soon costs as much
                # again as the whole hop, and the set gives the same structure at stop.
                coro = fn()
                task = native.create_task(coro) if eager is None else eager(native, coro)
                if not task.done():  # an eager task may be over already
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)

            self.start = lambda fn: self.call_soon(start, fn)
        else:
            self.call_soon = native.run_sync_soon
            self.start = lambda fn: self.call_soon(task_group.start_soon, fn)

    async def cancel_started_tasks(self) -> None:
        """Cancel the directly started asyncio tasks and wait for their cleanup."""
        tasks = [t for t in self.tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            import asyncio  # tasks exist only on an asyncio loop, which has loaded it

            with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_GRACE_SECONDS):
                await asyncio.gather(*tasks, return_exceptions=True)


class Portal:
    """One event-loop thread and its task group, started lazily, stopped by ``stop()``.

    Args:
        backend: the AnyIO backend of the loop thread. ``asyncio`` (the default) also serves
            callers inside a running trio loop, which a trio portal cannot (anyio issue 525).
        name: the thread's name, visible in debuggers and thread dumps.
    """

    def __init__(self, backend: str = "asyncio", name: str = "fal_client-portal"):
        self.backend = backend
        self.name = name
        self._lock = threading.Lock()
        self._loop: Optional[_Loop] = None
        self._thread: Optional[threading.Thread] = None
        self._stopped = False
        _live_portals.add(self)

    def __repr__(self) -> str:
        state = "running" if self._loop else ("stopped" if self._stopped else "idle")
        return f"<Portal {self.name} {self.backend} {state}>"

    @property
    def thread(self) -> Optional[threading.Thread]:
        """The loop thread, once started."""
        return self._thread

    def _ensure(self) -> _Loop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._stopped:
                raise RuntimeError("this client is closed")
            if self._loop is None:
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        made: list[_Loop] = []

        async def serve() -> None:
            async with BlockingPortal() as portal, anyio.create_task_group() as task_group:
                loop = self._loop = _Loop(portal, task_group, self.backend)
                made.append(loop)
                ready.set()
                await portal.sleep_until_stopped()
                # What still runs is cancelled, then awaited.
                await loop.cancel_started_tasks()
                task_group.cancel_scope.cancel()

        def main() -> None:
            try:
                anyio.run(serve, backend=self.backend)
            except BaseException as exc:
                failure.append(exc)
                ready.set()
            finally:
                for loop in made:
                    loop.closed = True

        thread = threading.Thread(target=main, name=self.name, daemon=True)
        thread.start()
        ready.wait()
        if failure:
            raise RuntimeError(
                f"could not start the {self.backend} event loop thread"
            ) from failure[0]
        self._thread = thread

    def stop(self) -> None:
        """Cancel whatever still runs in the loop, stop it, and join its thread."""
        with self._lock:
            self._stopped = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if threading.current_thread() is thread:
            raise RuntimeError("a client cannot be closed from its own event loop thread")
        try:
            loop.portal.call(loop.portal.stop)
        except RuntimeError:
            pass  # already stopping
        thread.join(CLEANUP_GRACE_SECONDS)

    def _forget_after_fork(self) -> None:
        # In a forked child the loop thread does not exist: calling the old portal would hang.
        self._lock = threading.Lock()
        self._loop = self._thread = None

    def _check_thread(self) -> None:
        if self._thread is not None and threading.current_thread() is self._thread:
            raise RuntimeError(
                "a sync fal_client call was made from the client's own event loop thread "
                "(for example inside an async callback); use AsyncClient there"
            )

    def _prepare(self, fn: Callable[[], Awaitable[T]]) -> _Call[T]:
        """A call of ``fn()`` in the loop, not started yet: the caller starts it inside the
        ``try`` that abandons it, so an interrupt can never fall between the two."""
        self._check_thread()
        return _Call(self._ensure(), fn)

    # --- calls ------------------------------------------------------------------------
    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` in the loop thread and return its result here."""
        return self._prepare(lambda: fn(*args)).wait()

    def call_with_callbacks(
        self,
        make: Callable[[Callable[..., Awaitable[None]]], Awaitable[T]],
    ) -> T:
        """Run the coroutine ``make(relay)``; each ``await relay(callback, *args)`` inside it
        runs ``callback(*args)`` on *this* (the caller's) thread, in order.

        The loop side waits while the relay buffer is full, so a slow callback slows the job's
        watcher instead of growing memory. If a callback raises, the coroutine is cancelled.
        """
        send, receive = anyio.create_memory_object_stream[
            tuple[Callable[..., Any], tuple[Any, ...]]
        ](64)

        async def relay(callback: Callable[..., Any], *args: Any) -> None:
            await send.send((callback, args))

        async def run() -> T:
            async with send:
                return await make(relay)

        call = self._prepare(run)
        try:
            call.start()
            while True:
                batch = self._next_batch(receive)
                if batch is None:
                    break
                for callback, args in batch:
                    callback(*args)
            return call.wait()
        finally:
            call.abandon()
            receive.close()

    def iterate(self, make: Callable[[], AsyncIterator[T]]) -> SyncIterator[T]:
        """Iterate ``make()`` (an async iterator) from sync code.

        Leaving the loop early (``break``, an exception, garbage collection of the generator,
        ``close()``, the end of a ``with`` block) cancels the producer, which closes the async
        iterator, and waits for that cleanup.
        """
        return SyncIterator(self._pumped(make))

    def _pumped(self, make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        send, receive = anyio.create_memory_object_stream[Any](_BATCH_LIMIT)

        async def pump() -> None:
            async with send:
                iterator = make()
                if isinstance(iterator, AbstractAsyncContextManager):
                    # An iterator that owns a task group (``MapResults``) is entered as a block
                    # in this task: closing it from the shielded scope below would exit its
                    # group out of order (anyio raises, trio corrupts its scope stack).
                    async with iterator:
                        async for item in iterator:
                            await send.send(item)
                    return
                try:
                    async for item in iterator:
                        await send.send(item)
                finally:
                    with anyio.CancelScope(shield=True):
                        await aclose(iterator)

        call = self._prepare(pump)
        try:
            call.start()
            while True:
                batch = self._next_batch(receive)
                if batch is None:
                    break
                yield from batch
            call.wait()
        finally:
            call.abandon()
            receive.close()

    def _next_batch(self, receive: MemoryObjectReceiveStream[T]) -> Optional[list[T]]:
        async def take() -> Optional[list[T]]:
            try:
                items = [await receive.receive()]
            except anyio.EndOfStream:
                return None
            while len(items) < _BATCH_LIMIT:
                try:
                    items.append(receive.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            return items

        return self._prepare(take).wait()


class SyncIterator(Iterator[T]):
    """What a sync operation that yields many items returns (``stream``, ``map``,
    ``iter_events``, ``platform.history``...): an iterator, and a context manager that closes it.

    ``with client.map(app, inputs) as results: for r in results: ...`` stops the work still in
    flight (remotely too, for jobs) when the block is left, however it is left; a plain
    ``for`` loop does the same when it ends or breaks. ``close()`` does it explicitly.
    """

    def __init__(self, items: Iterator[T]):
        self._items = items

    def __iter__(self) -> SyncIterator[T]:
        return self

    def __next__(self) -> T:
        return next(self._items)

    def close(self) -> None:
        """Stop the producer and wait until it has cleaned up; iterating ends."""
        close = getattr(self._items, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> SyncIterator[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Call(concurrent.futures.Future[T]):
    """One sync call: a future the caller waits on, tied to the cancel scope of its task.

    The future stays PENDING until the task settles, so the caller's ``cancel()`` always
    reaches the task; ``wait_finished`` tells when the task, cleanup included, is over.
    """

    def __init__(self, loop: _Loop, fn: Callable[[], Awaitable[T]]):
        super().__init__()
        self._loop = loop
        self._fn = fn
        self._scheduled = False
        # Set by the task as it begins: only a task that began can have cleanup to wait for.
        # A plain flag is enough because of the order on each side: run() sets it *before*
        # reading cancelled(), abandon() reads it *after* cancel(), and both of those go
        # through the future's lock. So either run() sees the cancel and returns at once, or
        # abandon() sees the flag and waits for the cleanup.
        self._began = False
        # Held until the task, cleanup included, is over: a plain lock released by the loop
        # thread costs a fraction of an Event, on every call, for a wait only abandon() makes.
        self._unfinished = threading.Lock()
        self._unfinished.acquire()
        # The caller's overall deadline (subscribe's client_timeout over its submit and its
        # wait, two calls), read on the caller's thread: the task runs bounded by it.
        self._deadline = deadline.current()

    def start(self) -> None:
        """Schedule the task in the loop (one non-blocking hop)."""
        self._loop.start(self.run)
        self._scheduled = True

    async def run(self) -> None:
        fn = self._fn
        self._began = True
        try:
            if self.cancelled():
                return  # given up before it started: nothing ran, nothing to clean up
            with anyio.CancelScope() as scope:
                self.add_done_callback(partial(self._cancel_soon, scope))
                try:
                    if self._deadline is None:
                        value = await fn()
                    else:
                        with deadline.adopted(self._deadline):
                            with anyio.move_on_after(self._deadline - time.monotonic()) as bound:
                                value = await fn()
                        if bound.cancelled_caught:
                            raise deadline.DeadlinePassed()
                except anyio.get_cancelled_exc_class():
                    self.cancel()
                    raise
                except BaseException as exc:
                    if self.set_running_or_notify_cancel():
                        self.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise  # KeyboardInterrupt and friends still end the loop
                    return
            if scope.cancelled_caught:
                self.cancel()
            elif self.set_running_or_notify_cancel():
                self.set_result(value)
        finally:
            self._unfinished.release()

    def wait(self) -> T:
        """Start the call if it is not yet, and return its result, waiting in short slices; an
        interrupted wait abandons the call."""
        try:
            if not self._scheduled:
                self.start()
            while True:
                try:
                    return self.result(timeout=_WAIT_SLICE_SECONDS)
                except concurrent.futures.TimeoutError:
                    # On 3.11+ this is the builtin TimeoutError, which our own timeout errors
                    # subclass: only a wait that ended with the call still running means
                    # "keep waiting".
                    if self.done():
                        raise
                    if self._loop.closed and not self.done():
                        # The loop ended without settling this call (the client was closed
                        # from another thread): its task was dropped and never will.
                        raise RuntimeError(
                            "the client was closed while this call was waiting"
                        ) from None
        except BaseException:
            self.abandon()
            raise

    def wait_finished(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the task to be over; whether it is."""
        if not self._unfinished.acquire(timeout=timeout):
            return False
        self._unfinished.release()  # stays open for any later wait
        return True

    def _cancel_soon(self, scope: anyio.CancelScope, future: object) -> None:
        """Done callback: a cancelled future cancels its task's scope, in the loop."""
        if not self.cancelled():
            return
        try:
            self._loop.call_soon(scope.cancel)
        except RuntimeError:
            pass  # the loop is closed: its tasks are gone, nothing is left to cancel

    def abandon(self) -> None:
        """Cancel the task if it still runs, and wait (bounded) until its cleanup is over.

        A task that has not begun yet finds itself cancelled when it does, and returns at once,
        so there is nothing to wait for (and it may never have been scheduled at all).
        """
        if (self.cancel() or not self.done()) and self._began:
            # Bounded, and cut short if the loop ends first (a client closed from another
            # thread): a task that loop dropped will never finish its cleanup.
            deadline = time.monotonic() + CLEANUP_GRACE_SECONDS
            while not self.wait_finished(_WAIT_SLICE_SECONDS):
                if self._loop.closed or time.monotonic() > deadline:
                    break


def _stop_all_at_exit() -> None:
    for portal in list(_live_portals):
        try:
            portal.stop()
        except Exception:
            pass


def _reset_all_after_fork() -> None:
    for portal in list(_live_portals):
        portal._forget_after_fork()


atexit.register(_stop_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)
