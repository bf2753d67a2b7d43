"""uvicorn, adapted to run inside an emulator: on a socket we bound, stoppable at once, with
access to each connection's transport (to reset it on purpose) and a signal when one closes."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Callable, List, Optional

import anyio
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol

from ._exchange import TRANSPORT_SCOPE_KEY

# How long stop() lets in-flight responses finish before cancelling them.
_GRACEFUL_SHUTDOWN_SECONDS = 2.0


def _base_http_protocol() -> type[asyncio.Protocol]:
    # httptools is several times faster than h11 when it is installed; both work.
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return HttpToolsProtocol


def make_protocols(on_connection_closed: Callable[[], None]) -> tuple[type, type]:
    """HTTP and WebSocket protocol classes for one emulator.

    The HTTP protocol puts its transport into each request's ASGI scope (under
    ``TRANSPORT_SCOPE_KEY``), so a handler can reset the TCP connection to inject a fault; both
    call ``on_connection_closed`` when a connection goes away, so tests can wait for that.
    """
    base: Any = _base_http_protocol()

    class EmulatorHTTPProtocol(base):  # type: ignore[misc]
        app: ASGIApp

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            inner = self.app
            protocol = self

            async def app_with_transport(scope: Scope, receive: Receive, send: Send) -> None:
                scope[TRANSPORT_SCOPE_KEY] = protocol.transport
                await inner(scope, receive, send)

            self.app = app_with_transport

        def connection_lost(self, exc: Optional[Exception]) -> None:
            super().connection_lost(exc)
            on_connection_closed()

    class EmulatorWSProtocol(WSProtocol):
        def connection_lost(self, exc: Optional[Exception]) -> None:
            super().connection_lost(exc)
            on_connection_closed()

    return EmulatorHTTPProtocol, EmulatorWSProtocol


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (IPv4 or IPv6 by the host's form); port 0 picks a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def make_config(app: ASGIApp, http_protocol: type, ws_protocol: type) -> uvicorn.Config:
    """A quiet uvicorn config: no access log, no lifespan, no global logging setup."""
    return uvicorn.Config(
        app,
        http=http_protocol,
        ws=ws_protocol,
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=int(_GRACEFUL_SHUTDOWN_SECONDS),
        ws_max_size=64 * 1024 * 1024,
    )


class EmulatorServer(uvicorn.Server):
    """A uvicorn server whose main loop wakes at once on :meth:`request_exit` (uvicorn polls a
    flag every 0.1 s, which would make every emulator stop cost that much), and whose shutdown
    waits for connections to close on an event instead of sleeping in 0.1 s steps."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_requested: Optional[anyio.Event] = None
        self._connection_closed: Optional[anyio.Event] = None

    def request_exit(self) -> None:
        """Ask the server to stop (event loop thread only)."""
        self.should_exit = True
        if self._exit_requested is not None:
            self._exit_requested.set()

    def connection_closed(self) -> None:
        """Note that a connection went away (event loop thread only)."""
        if self._connection_closed is not None:
            self._connection_closed.set()

    async def main_loop(self) -> None:
        self._exit_requested = anyio.Event()
        # on_tick(0) refreshes the Date header and reports should_exit.
        while not await self.on_tick(0):
            with anyio.move_on_after(1.0):
                await self._exit_requested.wait()

    async def shutdown(self, sockets: Optional[List[socket.socket]] = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        connections = self.server_state.connections
        for connection in list(connections):
            connection.shutdown()
        with anyio.move_on_after(_GRACEFUL_SHUTDOWN_SECONDS):
            while connections:
                self._connection_closed = anyio.Event()
                await self._connection_closed.wait()
        tasks = list(self.server_state.tasks)
        if tasks:
            # uvicorn's request tasks are asyncio tasks; give them a moment, then cancel.
            _, pending = await asyncio.wait(tasks, timeout=_GRACEFUL_SHUTDOWN_SECONDS)
            for task in pending:
                task.cancel()
        with anyio.move_on_after(_GRACEFUL_SHUTDOWN_SECONDS):
            for server in self.servers:
                await server.wait_closed()
