"""Serving Server-Sent Events (through sse-starlette) with the emulator's bookkeeping: each
stream is tracked for inspection, can be cut by an ``sse_cut`` fault, and can be stopped when the
emulator shuts down."""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable, Optional

import anyio
from sse_starlette.sse import EventSourceResponse

from ._exchange import Exchange
from ._responses import dumps
from ._state import StreamEntry


def sse_event(payload: Any) -> bytes:
    """One ``data:`` event carrying ``payload`` as compact JSON."""
    return b"data: " + dumps(payload) + b"\n\n"


async def serve_sse(
    ex: Exchange,
    entry: StreamEntry,
    events: AsyncIterator[bytes],
    *,
    request_id: str,
    on_client_gone: Optional[Callable[[], None]] = None,
    drop_at_end: Callable[[], bool] = lambda: False,
) -> None:
    """Stream ``events`` to the client as ``text/event-stream``.

    Args:
        ex: the exchange to answer.
        entry: the stream's inspection record (updated as events go out).
        events: pre-encoded SSE events.
        request_id: sent as ``x-fal-request-id``.
        on_client_gone: called if the client disconnects before the stream ends.
        drop_at_end: consulted when ``events`` is exhausted; True resets the connection instead
            of ending the stream cleanly (how an app crashing mid-stream looks on the wire).
    """
    state = ex.state
    fault = ex.fault.rule if ex.fault.kind == "sse_cut" else None
    cut_after = int(fault.params.get("after_events", 1)) if fault is not None else None
    ended_by_server = False

    async def body() -> AsyncIterator[bytes]:
        nonlocal ended_by_server
        async for chunk in events:
            if cut_after is not None and entry.events_sent >= cut_after:
                ended_by_server = True
                await ex.drop_connection()
                return
            yield chunk
            # Resumed: sse-starlette has written the previous event.
            entry.events_sent += 1
            state.feed.publish(entry)  # waiters on events_sent re-check
        ended_by_server = True
        if drop_at_end():
            await ex.drop_connection()

    response = EventSourceResponse(body(), headers={"x-fal-request-id": request_id}, sep="\n")
    scope = anyio.CancelScope()
    entry.scope = scope
    try:
        with scope:
            await ex.respond(response)
    finally:
        entry.scope = None
        stopped = scope.cancel_called
        client_gone = not ended_by_server and not stopped
        if stopped:
            # The emulator is stopping or resetting: drop the connection so the server does not
            # wait for a response that will never complete.
            with anyio.CancelScope(shield=True):
                await ex.drop_connection()
        state.close_stream(entry, client_disconnected=client_gone)
        if client_gone and on_client_gone is not None:
            on_client_gone()
