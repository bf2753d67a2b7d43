"""An interrupt (Ctrl-C) anywhere in a sync call never leaves its task running in the portal.

The hard spot is the instant between scheduling the task and entering the ``try`` that would
abandon it: an interrupt there used to leave the task running unobserved (the census caught
it under load). The task is now scheduled inside that ``try``.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from fal_client._portal import Portal, _Loop

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(params=["asyncio", "trio"])
def portal(request: pytest.FixtureRequest) -> Iterator[Portal]:
    p = Portal(backend=str(request.param), name="test-portal")
    yield p
    p.stop()


class Held:
    """An async function that parks until cancelled, recording both ends."""

    def __init__(self) -> None:
        self.began = threading.Event()
        self.cancelled = threading.Event()

    async def __call__(self) -> None:
        self.began.set()
        try:
            await anyio.sleep_forever()
        finally:
            self.cancelled.set()


def test_an_interrupt_right_after_scheduling_still_cancels_the_task(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal.call(anyio.sleep, 0)  # the loop is running
    held = Held()
    loop: _Loop = portal._ensure()
    original = loop.start

    def start_then_interrupt(fn: Any) -> None:
        original(fn)
        raise KeyboardInterrupt  # as if Ctrl-C landed the instant after scheduling

    monkeypatch.setattr(loop, "start", start_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        portal.call(held)
    monkeypatch.undo()
    # Either the task never began (it finds itself cancelled and does nothing), or it began
    # and was cancelled before call() returned; never does it keep running.
    assert not held.began.is_set() or held.cancelled.is_set()
    portal.call(anyio.sleep, 0)  # one more round trip: a task that was scheduled has begun
    assert not held.began.is_set() or held.cancelled.is_set()


def test_an_interrupt_in_the_wait_cancels_a_running_task(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held()
    calls = 0
    original_result = concurrent.futures.Future.result

    def result_interrupted_once_begun(self: Any, timeout: Any = None) -> Any:
        nonlocal calls
        if held.began.wait(10) and calls == 0:
            calls += 1
            raise KeyboardInterrupt
        return original_result(self, timeout)

    monkeypatch.setattr("concurrent.futures.Future.result", result_interrupted_once_begun)
    with pytest.raises(KeyboardInterrupt):
        portal.call(held)
    monkeypatch.undo()
    assert held.cancelled.is_set()  # cleanup done before call() let the interrupt through


def test_abandoning_a_call_that_never_started_returns_at_once(portal: Portal) -> None:
    held = Held()
    call = portal._prepare(held)
    call.abandon()  # nothing to wait for: it was never scheduled
    assert call.cancelled()
    call.start()  # even if scheduled now, it finds itself cancelled and does nothing
    portal.call(anyio.sleep, 0)
    assert call.wait_finished(10)
    assert not held.began.is_set()


def test_a_call_whose_loop_closed_under_it_raises_instead_of_hanging(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another thread closed the client between scheduling this call and the loop running it:
    # the task never runs, so its future would stay pending forever.
    portal.call(anyio.sleep, 0)
    loop: _Loop = portal._ensure()
    held = Held()
    call = portal._prepare(held)
    monkeypatch.setattr(loop, "start", lambda fn: None)  # dropped, as by a loop shutting down
    loop.closed = True
    with pytest.raises(RuntimeError, match="closed while this call was waiting"):
        call.wait()
    assert not held.began.is_set()
