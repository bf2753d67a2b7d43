"""A server-sent-events decoder: feed it lines, get events. Pure, no I/O.

Follows the WHATWG event-stream rules that matter to fal: ``data:`` lines join with newlines, a
blank line dispatches, comments (``:``) are ignored, ``event``/``id``/``retry`` are kept. An
event whose blank line never came before the stream ended is dropped, per the spec: nothing
needs to be flushed at the end.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event."""

    data: str
    event: str = "message"
    id: Optional[str] = None
    retry: Optional[int] = None

    def json(self) -> Any:
        """The ``data`` field parsed as JSON."""
        return json.loads(self.data)


class SSEDecoder:
    """Incremental decoder. Call ``feed(line)`` per line (without its line ending)."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._id: Optional[str] = None
        self._retry: Optional[int] = None

    def feed(self, line: str) -> Optional[ServerSentEvent]:
        """Consume one line; return an event when the line completes one."""
        line = line.rstrip("\r\n")
        if not line:
            if not self._data and not self._event:
                return None
            event = ServerSentEvent(
                data="\n".join(self._data),
                event=self._event or "message",
                id=self._id,
                retry=self._retry,
            )
            self._data, self._event, self._retry = [], "", None
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None


async def events(
    lines: AsyncIterable[str], *, after_each_line: Optional[Callable[[], None]] = None
) -> AsyncIterator[ServerSentEvent]:
    """The events with data in a stream of lines: the one SSE read loop over the decoder.

    ``after_each_line`` runs after every line (comments and keep-alives included), so a caller
    can enforce a deadline on a stream that keeps talking without sending events.
    """
    decoder = SSEDecoder()
    async for line in lines:
        event = decoder.feed(line)
        if event is not None and event.data:
            yield event
        if after_each_line is not None:
            after_each_line()
