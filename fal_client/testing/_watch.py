"""Waiting, from any thread or event loop, until something true of the emulator's state holds.

Tests must never sleep and hope; they wait on conditions ("job X is IN_PROGRESS", "the stream
closed"). The emulator publishes every relevant change (a job changed status, a stream ended, a
connection closed) to a :class:`ChangeFeed`; each waiter re-checks its condition against the
change and is woken when it holds. Listeners (the dashboard's event stream) see every change.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, List, Optional, TypeVar

import anyio

from ._wakeup import LoopWaker

T = TypeVar("T")

#: ``check(change)`` returns the awaited value once the condition holds, else None. It is called
#: once with ``change=None`` when the wait starts (it may scan the whole state then), then with
#: each published change (it should look at that change only).
Check = Callable[[Optional[object]], Optional[T]]


class _Waiter(Generic[T]):
    def __init__(self, check: Check[T], wake: Callable[[], None]) -> None:
        self.check = check
        self.wake = wake
        self.result: Optional[T] = None


class ChangeFeed:
    """Fan-out of state changes to waiting threads and tasks.

    All methods take ``lock``, the emulator's state lock, so a check sees a consistent state.
    """

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._waiters: List[_Waiter[object]] = []
        self._listeners: List[Callable[[object], None]] = []

    def publish(self, change: object) -> None:
        """Tell waiters that ``change`` happened; wakes those whose condition now holds."""
        if not self._waiters and not self._listeners:  # the hot path: nobody is watching
            return
        with self._lock:
            for listener in list(self._listeners):
                listener(change)
            for waiter in list(self._waiters):
                if waiter.result is None:
                    result = waiter.check(change)
                    if result is not None:
                        waiter.result = result
                        waiter.wake()

    def listen(self, listener: Callable[[object], None]) -> Callable[[], None]:
        """Call ``listener(change)`` for every change from now on, until the returned function
        is called. It runs under the state lock on whichever thread published the change, so it
        must be quick, must not block and must be thread-safe."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def wait_blocking(self, check: Check[T], timeout: float, describe: str) -> T:
        """Block the calling thread until ``check`` yields a value.

        Raises:
            TimeoutError: after ``timeout`` seconds, naming ``describe``.
        """
        done = threading.Event()
        waiter = self._register(check, done.set)
        try:
            if waiter.result is None and not done.wait(timeout):
                raise TimeoutError(f"timed out after {timeout}s waiting for {describe}")
            assert waiter.result is not None
            return waiter.result
        finally:
            self._unregister(waiter)

    async def wait(self, check: Check[T], timeout: float, describe: str) -> T:
        """Wait in the caller's event loop (asyncio or trio) until ``check`` yields a value.

        Raises:
            TimeoutError: after ``timeout`` seconds, naming ``describe``.
        """
        waker = LoopWaker()
        waiter = self._register(check, waker.set)
        try:
            if waiter.result is None:
                with anyio.move_on_after(timeout):
                    await waker.event.wait()
            if waiter.result is None:
                raise TimeoutError(f"timed out after {timeout}s waiting for {describe}")
            return waiter.result
        finally:
            self._unregister(waiter)

    def _register(self, check: Check[T], wake: Callable[[], None]) -> _Waiter[T]:
        waiter: _Waiter[T] = _Waiter(check, wake)
        with self._lock:
            waiter.result = check(None)
            if waiter.result is None:
                self._waiters.append(waiter)  # type: ignore[arg-type]
        return waiter

    def _unregister(self, waiter: _Waiter[T]) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)  # type: ignore[arg-type]
