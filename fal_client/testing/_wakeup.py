"""Waking an AnyIO task from any thread or event loop.

The emulator's state lives on its own asyncio loop, while tests wait on it from their own thread
and loop, which may be trio. An ``anyio.Event`` may only be set from the loop that owns it, so a
waiter captures a thread-safe way back into its loop when it starts waiting.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

import anyio
import anyio.lowlevel


class LoopWaker:
    """An ``anyio.Event`` of the current event loop that any thread may set.

    Create it inside the loop that will wait on it; call :meth:`set` from anywhere.
    """

    def __init__(self) -> None:
        self.event = anyio.Event()
        self._thread_id = threading.get_ident()
        self._schedule = _threadsafe_scheduler()

    def set(self) -> None:
        """Set the event, hopping into its loop when called from another thread."""
        if threading.get_ident() == self._thread_id:
            self.event.set()
            return
        try:
            self._schedule(self.event.set)
        except RuntimeError:
            # The waiter's loop has finished (trio.RunFinishedError and a closed asyncio loop
            # both derive from RuntimeError): nobody is left to wake.
            pass


def _threadsafe_scheduler() -> Callable[[Callable[[], object]], object]:
    # anyio's token wraps the native loop handle: an asyncio loop or a trio TrioToken. Both have a
    # fire-and-forget, thread-safe "run this soon" method; anyio.from_thread.run_sync would block
    # the caller until the callback ran, which a waker (possibly called under a lock) must not do.
    native = anyio.lowlevel.current_token().native_token
    schedule: Optional[Callable[[Callable[[], object]], object]] = getattr(
        native, "call_soon_threadsafe", None
    ) or getattr(native, "run_sync_soon", None)
    if schedule is None:  # pragma: no cover - a backend anyio does not ship today
        raise RuntimeError(f"cannot schedule callbacks on {native!r} from another thread")
    return schedule
