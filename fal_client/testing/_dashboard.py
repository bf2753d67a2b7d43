"""The live dashboard at ``/__emulator/ui``: its static files, and the change events that keep
it current (``/__emulator/events``, Server-Sent Events).

The page is plain HTML, CSS and JavaScript shipped inside the package (``_static/``): no build
step and nothing fetched from elsewhere, so it works offline, and its Content-Security-Policy
forbids any other origin. It loads the lists from the control API and re-fetches the ones the
event stream says changed.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, AsyncIterator, Dict, Optional, Set

import anyio
from sse_starlette.sse import EventSourceResponse
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._exchange import TRANSPORT_SCOPE_KEY
from ._jobs import Job
from ._state import Change, RequestEntry, StreamEntry
from ._wakeup import LoopWaker
from ._webhooks import Delivery

if TYPE_CHECKING:
    from ._state import EmulatorState

#: The files under ``/__emulator/ui/`` and their media types.
ASSETS: Dict[str, str] = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}

#: What the change events name.
TOPICS = ("apps", "jobs", "requests", "files", "webhooks", "streams", "faults")

#: The shortest time between two change events: a 500-job fan-out becomes a few events a
#: second instead of thousands, while a single change still shows at once.
MIN_EVENT_INTERVAL = 0.2

# Everything the page loads comes from the emulator itself (and images it stored).
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_cache: Dict[str, bytes] = {}


def _read(name: str) -> bytes:
    data = _cache.get(name)
    if data is None:
        data = (resources.files(__package__) / "_static" / name).read_bytes()
        _cache[name] = data
    return data


def page() -> Response:
    """The dashboard's HTML page."""
    return Response(
        _read("index.html"),
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"},
    )


def asset(name: str) -> Response:
    """One of :data:`ASSETS`, or a 404."""
    media_type = ASSETS.get(name)
    if media_type is None:
        body = json.dumps({"detail": f"No dashboard asset {name!r}"})
        return Response(body, 404, media_type="application/json")
    return Response(_read(name), media_type=media_type, headers={"Cache-Control": "no-cache"})


def topic_of(change: object) -> Optional[str]:
    """The change-event topic a published change belongs to (None: not shown)."""
    if isinstance(change, Job):
        return "jobs"
    if isinstance(change, RequestEntry):
        return "requests"
    if isinstance(change, StreamEntry):
        return "streams"
    if isinstance(change, Delivery):
        return "webhooks"
    if isinstance(change, Change):
        return change.topic
    return None


class ChangeSubscription:
    """The topics that changed since the last look, for one event stream.

    Created on the emulator's loop; the feed calls it under the state lock from whichever thread
    published, so taking the topics and arming a new waker happen under that lock too: a change
    is either in the batch taken or wakes the next wait.
    """

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self._topics: Set[str] = set()
        self._waker = LoopWaker()
        self._unlisten = state.feed.listen(self._on_change)

    def _on_change(self, change: object) -> None:
        topic = topic_of(change)
        if topic is not None:
            self._topics.add(topic)
            self._waker.set()

    async def next_topics(self) -> Set[str]:
        """Wait until something changed; returns what."""
        await self._waker.event.wait()
        with self._state.lock:
            topics, self._topics = self._topics, set()
            self._waker = LoopWaker()
        return topics

    def close(self) -> None:
        """Stop listening."""
        self._unlisten()


def _event(name: str, payload: object) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


async def _events(subscription: ChangeSubscription) -> AsyncIterator[bytes]:
    yield _event("hello", {"topics": [*TOPICS]})
    while True:
        topics = await subscription.next_topics()
        if "reset" in topics:
            topics |= set(TOPICS)
        yield _event("change", {"topics": sorted(topics)})
        await anyio.sleep(MIN_EVENT_INTERVAL)


async def serve_events(state: EmulatorState, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer ``GET /__emulator/events``: change events until the client leaves or the
    emulator stops (which closes the connection at once rather than waiting for it)."""
    if state.stopping:
        body = json.dumps({"detail": "The emulator is stopping"})
        await Response(body, 503, media_type="application/json")(scope, receive, send)
        return
    subscription = ChangeSubscription(state)
    response = EventSourceResponse(
        _events(subscription), ping=15, sep="\n", headers={"X-Accel-Buffering": "no"}
    )
    with anyio.CancelScope() as stop_scope:
        state.control_streams.add(stop_scope)
        try:
            await response(scope, receive, send)
        finally:
            state.control_streams.discard(stop_scope)
            subscription.close()
    if stop_scope.cancel_called:
        # Close the connection rather than leave uvicorn waiting for the stream to end, then
        # wait until the server has seen it go (else it reports an unfinished response).
        transport = scope.get(TRANSPORT_SCOPE_KEY)
        if transport is not None and not transport.is_closing():
            transport.abort()
        with anyio.move_on_after(5, shield=True):
            while (await receive())["type"] != "http.disconnect":
                pass
