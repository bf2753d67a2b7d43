"""A minimal WebSocket client over anyio sockets and wsproto, for the realtime tests."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Dict, List, Optional, Union

import anyio
from anyio.abc import SocketStream
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)


@dataclass
class Closed:
    """The server closed the connection."""

    code: int
    reason: Optional[str]


class Rejected(Exception):
    """The server refused the handshake."""

    def __init__(self, status_code: int, body: bytes) -> None:
        super().__init__(status_code)
        self.status_code = status_code
        self.body = body


class WebSocket:
    """One client connection: send frames, receive frames or the close."""

    def __init__(self, stream: SocketStream, connection: WSConnection) -> None:
        self._stream = stream
        self._connection = connection
        self._events: List[Event] = []

    async def send_bytes(self, data: bytes) -> None:
        await self._stream.send(self._connection.send(BytesMessage(data=data)))

    async def send_text(self, text: str) -> None:
        await self._stream.send(self._connection.send(TextMessage(data=text)))

    async def receive(self) -> Union[bytes, str, Closed]:
        """The next whole message, or :class:`Closed`."""
        while True:
            for event in self._connection.events():
                self._events.append(event)
            while self._events:
                event = self._events.pop(0)
                if isinstance(event, BytesMessage):
                    return bytes(event.data)
                if isinstance(event, TextMessage):
                    return event.data
                if isinstance(event, CloseConnection):
                    try:
                        await self._stream.send(self._connection.send(event.response()))
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass
                    return Closed(event.code, event.reason)
            try:
                data = await self._stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return Closed(1006, None)
            self._connection.receive_data(data)


@asynccontextmanager
async def open_websocket(
    host: str, port: int, target: str, headers: Optional[Dict[str, str]] = None
) -> AsyncIterator[WebSocket]:
    """Connect and complete the handshake; raises :class:`Rejected` if it is refused."""
    stream = await anyio.connect_tcp(host, port)
    async with stream:
        connection = WSConnection(ConnectionType.CLIENT)
        extra = [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
        await stream.send(
            connection.send(Request(host=f"{host}:{port}", target=target, extra_headers=extra))
        )
        status: Optional[int] = None
        body = b""
        while True:
            try:
                connection.receive_data(await stream.receive())
            except anyio.EndOfStream:
                connection.receive_data(None)
            done = False
            for event in connection.events():
                if isinstance(event, AcceptConnection):
                    done = True
                elif isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        raise Rejected(status, body)
                elif isinstance(event, RejectData):
                    body += bytes(event.data)
                    if event.body_finished:
                        raise Rejected(status or 0, body)
            if done:
                break
        yield WebSocket(stream, connection)
