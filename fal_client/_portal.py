"""The bridge from sync code to the async engine: one event-loop thread behind a blocking portal.

A ``Portal`` owns one thread running one AnyIO event loop for its whole life. Sync calls hand
coroutines to it and wait; async iterators and callbacks cross back through a single producer
task feeding a memory object stream that the caller drains in batches (never one portal call per
item: that is slow and breaks generators that hold cancel scopes).

Cancellation crosses the bridge too: if the waiting caller is interrupted (Ctrl-C, an exception
in a callback, ``break`` out of an iterator) the task in the loop is cancelled and the caller
waits, bounded, for its cleanup (such as the remote cancel of a fal job) before re-raising.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import os
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterator
from functools import partial
from typing import Any, Callable, Optional, TypeVar

import anyio
from anyio.from_thread import BlockingPortal
from anyio.streams.memory import MemoryObjectReceiveStream

T = TypeVar("T")

# How long a sync caller waits for the loop-side cleanup after interrupting a call.
CLEANUP_GRACE_SECONDS = 10.0
# Short waits keep the waiting thread responsive to signals on every platform.
_WAIT_SLICE_SECONDS = 0.5
_BATCH_LIMIT = 1024

_live_portals: weakref.WeakSet[Portal] = weakref.WeakSet()


class Portal:
    """One event-loop thread and its ``BlockingPortal``, started lazily, stopped by ``stop()``.

    Args:
        backend: the AnyIO backend of the loop thread. ``asyncio`` (the default) also serves
            callers inside a running trio loop, which a trio portal cannot (anyio issue 525).
        name: the thread's name, visible in debuggers and thread dumps.
    """

    def __init__(self, backend: str = "asyncio", name: str = "fal_client-portal"):
        self.backend = backend
        self.name = name
        self._lock = threading.Lock()
        self._portal: Optional[BlockingPortal] = None
        self._thread: Optional[threading.Thread] = None
        # asyncio only: the loop, and the tasks started on it by the one-hop fast path.
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False
        _live_portals.add(self)

    def __repr__(self) -> str:
        state = "running" if self._portal else ("stopped" if self._stopped else "idle")
        return f"<Portal {self.name} {self.backend} {state}>"

    @property
    def thread(self) -> Optional[threading.Thread]:
        """The loop thread, once started."""
        return self._thread

    def _ensure(self) -> BlockingPortal:
        portal = self._portal
        if portal is not None:
            return portal
        with self._lock:
            if self._stopped:
                raise RuntimeError("this client is closed")
            if self._portal is None:
                self._start()
            assert self._portal is not None
            return self._portal

    def _start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            async with BlockingPortal() as portal:
                if self.backend == "asyncio":
                    self._loop = asyncio.get_running_loop()
                self._portal = portal
                ready.set()
                try:
                    await portal.sleep_until_stopped()
                finally:
                    await self._cancel_fast_tasks()

        def main() -> None:
            try:
                anyio.run(serve, backend=self.backend)
            except BaseException as exc:
                failure.append(exc)
                ready.set()

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
            portal, thread = self._portal, self._thread
            self._portal = self._thread = None
        if portal is None or thread is None:
            return
        if threading.current_thread() is thread:
            raise RuntimeError("a client cannot be closed from its own event loop thread")
        try:
            portal.call(portal.stop, True)
        except RuntimeError:
            pass  # already stopping
        thread.join(CLEANUP_GRACE_SECONDS)

    def _forget_after_fork(self) -> None:
        # In a forked child the loop thread does not exist: calling the old portal would hang.
        self._lock = threading.Lock()
        self._portal = self._thread = None
        self._loop = None
        self._tasks = set()

    async def _cancel_fast_tasks(self) -> None:
        # The fast path's tasks live outside the portal's task group: stopping the portal
        # cancels them and waits for their cleanup here, as the task group would.
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_GRACE_SECONDS):
                await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(
        self, portal: BlockingPortal, fn: Callable[[], Awaitable[T]]
    ) -> concurrent.futures.Future[T]:
        """Start ``fn()`` in the loop; return a future that cancels it when cancelled.

        On asyncio this costs one non-blocking hop (``call_soon_threadsafe``); anyio's
        ``start_task_soon`` blocks the caller once to spawn and once more for the result,
        which is most of a sync call's overhead on a fast local round trip.
        """
        loop = self._loop
        if loop is None:
            return portal.start_task_soon(fn)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def start() -> None:
            if future.cancelled():
                return  # cancelled before it started: nothing to run, nothing to clean up
            task = loop.create_task(_as_coroutine(fn))
            self._tasks.add(task)
            task.add_done_callback(partial(_settle, future, self._tasks))
            # The future stays PENDING until the task settles, so the caller's cancel() works.
            future.add_done_callback(partial(_cancel_task_from_future, loop, task))

        # A fresh context: the caller's context variables (sniffio's "trio" when called from
        # inside trio.run, for one) must not leak into a task running on this asyncio loop.
        loop.call_soon_threadsafe(start, context=contextvars.Context())
        return future

    def _check_thread(self) -> None:
        if self._thread is not None and threading.current_thread() is self._thread:
            raise RuntimeError(
                "a sync fal_client call was made from the client's own event loop thread "
                "(for example inside an async callback); use AsyncClient there"
            )

    # --- calls ------------------------------------------------------------------------
    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` in the loop thread and return its result here."""
        self._check_thread()
        portal = self._ensure()
        finished = threading.Event()

        async def run() -> T:
            try:
                return await fn(*args)
            finally:
                finished.set()

        return _wait(self._spawn(portal, run), finished)

    def call_with_callbacks(
        self,
        make: Callable[[Callable[..., Awaitable[None]]], Awaitable[T]],
    ) -> T:
        """Run the coroutine ``make(relay)``; each ``await relay(callback, *args)`` inside it
        runs ``callback(*args)`` on *this* (the caller's) thread, in order.

        The loop side waits while the relay buffer is full, so a slow callback slows the job's
        watcher instead of growing memory. If a callback raises, the coroutine is cancelled.
        """
        self._check_thread()
        portal = self._ensure()
        send, receive = anyio.create_memory_object_stream[
            tuple[Callable[..., Any], tuple[Any, ...]]
        ](64)
        finished = threading.Event()

        async def relay(callback: Callable[..., Any], *args: Any) -> None:
            await send.send((callback, args))

        async def run() -> T:
            try:
                async with send:
                    return await make(relay)
            finally:
                finished.set()

        future = self._spawn(portal, run)
        try:
            while True:
                batch = self._next_batch(portal, receive)
                if batch is None:
                    break
                for callback, args in batch:
                    callback(*args)
            return _wait(future, finished)
        except BaseException:
            _abandon(future, finished)
            raise
        finally:
            receive.close()

    def iterate(self, make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        """Iterate ``make()`` (an async iterator) from sync code.

        Leaving the loop early (``break``, an exception, garbage collection of the generator)
        cancels the producer, which closes the async iterator, and waits for that cleanup.
        """
        self._check_thread()
        portal = self._ensure()
        send, receive = anyio.create_memory_object_stream[Any](_BATCH_LIMIT)
        finished = threading.Event()

        async def pump() -> None:
            try:
                async with send:
                    iterator = make()
                    try:
                        async for item in iterator:
                            await send.send(item)
                    finally:
                        aclose = getattr(iterator, "aclose", None)
                        if aclose is not None:
                            with anyio.CancelScope(shield=True):
                                await aclose()
            finally:
                finished.set()

        future = self._spawn(portal, pump)
        try:
            while True:
                batch = self._next_batch(portal, receive)
                if batch is None:
                    break
                yield from batch
            _wait(future, finished)
        finally:
            if not future.done():
                _abandon(future, finished)
            receive.close()

    def _next_batch(
        self, portal: BlockingPortal, receive: MemoryObjectReceiveStream[T]
    ) -> Optional[list[T]]:
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

        finished = threading.Event()

        async def run() -> Optional[list[T]]:
            try:
                return await take()
            finally:
                finished.set()

        return _wait(self._spawn(portal, run), finished)


async def _as_coroutine(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()


def _settle(
    future: concurrent.futures.Future[T], tasks: set[asyncio.Task[Any]], task: asyncio.Task[T]
) -> None:
    tasks.discard(task)
    if task.cancelled():
        future.cancel()
        return
    if not future.set_running_or_notify_cancel():
        return  # the caller cancelled: it waits on its own "finished" event instead
    if task.exception() is not None:
        future.set_exception(task.exception())
    else:
        future.set_result(task.result())


def _cancel_task_from_future(
    loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any], future: concurrent.futures.Future[Any]
) -> None:
    if future.cancelled() and not task.done():
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:
            pass  # the loop is closed: the task went with it


def _wait(future: concurrent.futures.Future[T], finished: threading.Event) -> T:
    try:
        while not future.done():
            concurrent.futures.wait((future,), timeout=_WAIT_SLICE_SECONDS)
        return future.result()
    except BaseException:
        _abandon(future, finished)
        raise


def _abandon(future: concurrent.futures.Future[Any], finished: threading.Event) -> None:
    """Cancel the loop-side task and wait (bounded) until its cleanup has run."""
    if future.cancel() or not future.done():
        finished.wait(CLEANUP_GRACE_SECONDS)


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
