"""A sync call crosses to the loop thread once (subscribe: once for each of the two calls it is
made of): each trip costs two thread wake-ups, which on a fast local round trip are a large part
of the call (issue 18). Counted, not timed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

import fal_client
from fal_client._portal import Portal

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every call handed to a portal's loop, in order."""
    seen: list[str] = []
    prepare = Portal._prepare

    def counting(self: Portal, fn: Callable[[], Any]) -> Any:
        seen.append(getattr(fn, "__qualname__", repr(fn)))
        return prepare(self, fn)

    monkeypatch.setattr(Portal, "_prepare", counting)
    yield seen


def test_each_sync_operation_is_one_trip_to_the_loop(
    sync_client: fal_client.SyncClient, trips: list[str]
) -> None:
    sync_client.run("fal-ai/echo", {})  # the loop thread starts here: not counted below
    counts: dict[str, int] = {}

    def count(name: str, call: Callable[[], Any]) -> Any:
        trips.clear()
        value = call()
        counts[name] = len(trips)
        return value

    count("run", lambda: sync_client.run("fal-ai/echo", {"a": 1}))
    count("subscribe", lambda: sync_client.subscribe("fal-ai/echo", {"a": 1}))
    handle = count("submit", lambda: sync_client.submit("fal-ai/echo", {"a": 1}))
    same = count("get_handle", lambda: sync_client.get_handle("fal-ai/echo", handle.request_id))
    count("handle.get", handle.get)
    count("handle.status", same.status)
    count("status", lambda: sync_client.status("fal-ai/echo", handle.request_id))
    count("result", lambda: sync_client.result("fal-ai/echo", handle.request_id))
    assert counts == {
        "run": 1,
        # submit, then the handle's get, through the public methods as in the official
        # client (metering wrappers on them see it): one trip each.
        "subscribe": 2,
        "submit": 1,
        "get_handle": 0,  # a handle is made on the caller's thread: nothing to send
        "handle.get": 1,
        "handle.status": 1,
        "status": 1,
        "result": 1,
    }
