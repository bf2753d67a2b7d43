"""Gates: let a test decide when an emulated app may proceed."""

from __future__ import annotations

import threading
from typing import Optional

from ._wakeup import LoopWaker


class Gate:
    """A one-shot latch that apps wait on and tests open, from any thread or event loop.

    Use it to hold a job at a known point (for example IN_PROGRESS) while the test does something,
    instead of sleeping and hoping::

        gate = emu.gate()

        @emu.app("me/held")
        async def held(arguments, ctx):
            await gate.wait()       # cancellable: a cancelled job stops waiting
            return {"ok": True}

        ...
        emu.wait_job_status(app="me/held", status="IN_PROGRESS")
        gate.open()

    :meth:`open` is thread-safe and may be called from the test's thread, another event loop
    (asyncio or trio) or the emulator's own loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._opened = threading.Event()
        self._wakers: set[LoopWaker] = set()

    @property
    def is_open(self) -> bool:
        """Whether :meth:`open` has been called."""
        return self._opened.is_set()

    def open(self) -> None:
        """Open the gate, releasing every current and future waiter. Idempotent."""
        with self._lock:
            self._opened.set()
            wakers, self._wakers = self._wakers, set()
        for waker in wakers:
            waker.set()

    async def wait(self) -> None:
        """Wait until the gate is open. Returns at once if it already is; cancellable."""
        with self._lock:
            if self._opened.is_set():
                return
            waker = LoopWaker()
            self._wakers.add(waker)
        try:
            await waker.event.wait()
        finally:
            with self._lock:
                self._wakers.discard(waker)

    def wait_blocking(self, timeout: Optional[float] = None) -> bool:
        """Block the calling thread until the gate opens (for synchronous ``def`` apps).

        Returns:
            True if the gate opened, False if ``timeout`` seconds passed first.
        """
        return self._opened.wait(timeout)

    def __repr__(self) -> str:
        return f"<Gate {'open' if self.is_open else 'closed'}>"
