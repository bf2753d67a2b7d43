"""A small HTTP server for tests to receive webhooks on, built on anyio sockets and h11 so it
runs inside the test's own event loop (asyncio or trio)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Dict, List

import anyio
import h11
from anyio.abc import SocketStream


@dataclass
class Received:
    """One request the receiver got."""

    method: str
    path: str
    headers: Dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Where the server listens, what it received, and what it answers next."""

    url: str
    received: List[Received] = field(default_factory=list)
    # Status codes to answer, in order; 200 once they run out.
    script: List[int] = field(default_factory=list)
    arrived: anyio.Event = field(default_factory=anyio.Event)


async def _serve_connection(stream: SocketStream, receiver: Receiver) -> None:
    connection = h11.Connection(h11.SERVER)
    async with stream:
        request = None
        body = b""
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                try:
                    connection.receive_data(await stream.receive())
                except anyio.EndOfStream:
                    connection.receive_data(b"")
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                receiver.received.append(
                    Received(
                        request.method.decode(),
                        request.target.decode(),
                        {k.decode().lower(): v.decode() for k, v in request.headers},
                        body,
                    )
                )
                status = receiver.script.pop(0) if receiver.script else 200
                reply = b'{"ok": true}'
                await stream.send(
                    connection.send(
                        h11.Response(
                            status_code=status,
                            headers=[("content-length", str(len(reply))), ("connection", "close")],
                        )
                    )
                    or b""
                )
                await stream.send(connection.send(h11.Data(data=reply)) or b"")
                await stream.send(connection.send(h11.EndOfMessage()) or b"")
                receiver.arrived.set()
                receiver.arrived = anyio.Event()
                return
            else:
                return


@asynccontextmanager
async def open_receiver() -> AsyncIterator[Receiver]:
    """Serve on a free loopback port for the duration of the block."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hook")

    async def handle(stream: SocketStream) -> None:
        await _serve_connection(stream, receiver)

    async with listener, anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, handle)
        yield receiver
        task_group.cancel_scope.cancel()
