"""The sockets of our own pools on asyncio: asyncio's transports, handed to httpcore directly.

httpcore (under httpx and httpx2) reaches the network through a backend. On asyncio its default
is anyio's socket streams, whose every read and write opens a cancel scope for its timeout and
passes a checkpoint, each an extra turn of the event loop: a request to a local server took
about seven turns and a third more CPU than the same request on a blocking socket. This backend
reads from an ``asyncio.Protocol``'s buffer and waits on a plain future, with a timer for the
timeout: a request takes two turns, and the async engine costs what a sync client does
(``benchmarks/bench_core.py``).

What it keeps from the default backend: a race between a host's addresses ("happy eyeballs";
our own, as asyncio's leaks a socket when a connect is cancelled), the same exceptions
(``ConnectError``, ``ReadTimeout``..., of the library or of its httpcore, whichever it is
given), TLS by the SSL context given, TCP_NODELAY (asyncio sets it), and "is the idle
connection readable?" (data or EOF waiting, or the socket itself readable), the check before
a connection is reused.
Reads stop when a quarter of a megabyte is buffered unread, and writes wait while asyncio's
write buffer is full, so a slow consumer or a slow server never grows memory.

Used by our own pool on asyncio (``_asyncio_pool``), for the direct pools only: a proxy's pool,
or a client the user passed in, keeps the library's own backend. On trio, httpcore's trio
backend is already native.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import itertools
import select
import socket
import ssl
from collections.abc import Awaitable, Iterable
from types import ModuleType
from typing import Any, Optional, Union

import anyio
import anyio.lowlevel

__all__ = ["HAPPY_EYEBALLS_DELAY", "READ_HIGH_WATER", "AsyncioNetwork"]

# Unread bytes at which the socket stops being read until the reader catches up (to half).
READ_HIGH_WATER = 256 * 1024

# anyio's delay before the next address of a host is tried alongside a slow one.
HAPPY_EYEBALLS_DELAY = 0.25

SocketOption = Union[tuple[int, int, int], tuple[int, int, Union[bytes, bytearray]]]


class _Connection(asyncio.Protocol):
    """The protocol side of one connection: what arrived, and who waits for what."""

    def __init__(self) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.eof = False
        # Set when the connection is gone: the error, or None for a clean close.
        self.lost = False
        self.error: Optional[BaseException] = None
        self.reading_paused = False
        self.writing_paused = False
        self.read_waiter: Optional[asyncio.Future[None]] = None
        self.drain_waiter: Optional[asyncio.Future[None]] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered >= READ_HIGH_WATER and not self.reading_paused:
            transport = self.transport
            if transport is not None:
                self.reading_paused = True
                transport.pause_reading()
        _wake(self.read_waiter)

    def eof_received(self) -> bool:
        self.eof = True
        _wake(self.read_waiter)
        return False  # let the transport close itself: HTTP/1.1 has no use for a half-close

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.lost = True
        self.eof = True
        self.error = exc
        _wake(self.read_waiter)
        _wake(self.drain_waiter)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        _wake(self.drain_waiter)


def _wake(waiter: Optional[asyncio.Future[None]]) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def _expire(waiter: asyncio.Future[None], error: BaseException) -> None:
    if not waiter.done():
        waiter.set_exception(error)


class _Stream:
    """One connection as httpcore's ``AsyncNetworkStream`` sees it."""

    def __init__(
        self,
        core: ModuleType,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport,
        connection: _Connection,
    ):
        self._core = core
        self._loop = loop
        self._transport = transport
        self._connection = connection

    async def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        connection = self._connection
        while not connection.chunks:
            if connection.eof:
                if connection.error is not None:
                    raise self._core.ReadError(str(connection.error) or repr(connection.error))
                return b""
            await self._wait("read_waiter", timeout, self._core.ReadTimeout)
        chunk = connection.chunks.popleft()
        if len(chunk) > max_bytes:
            connection.chunks.appendleft(chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        connection.buffered -= len(chunk)
        if connection.reading_paused and connection.buffered <= READ_HIGH_WATER // 2:
            connection.reading_paused = False
            if not connection.lost:
                self._transport.resume_reading()
        return chunk

    async def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        if not buffer:
            return
        connection = self._connection
        # asyncio drops what is written to a lost connection without a word: say so here.
        if connection.lost or self._transport.is_closing():
            raise self._core.WriteError(self._gone())
        self._transport.write(buffer)
        while connection.writing_paused and not connection.lost:
            await self._wait("drain_waiter", timeout, self._core.WriteTimeout)
        if connection.lost:
            raise self._core.WriteError(self._gone())

    def _gone(self) -> str:
        error = self._connection.error
        return f"connection lost: {error}" if error else "connection closed"

    async def _wait(self, slot: str, timeout: Optional[float], timeout_error: type) -> None:
        waiter: asyncio.Future[None] = self._loop.create_future()
        setattr(self._connection, slot, waiter)
        timer = (
            None
            if timeout is None
            else self._loop.call_later(timeout, _expire, waiter, timeout_error("timed out"))
        )
        try:
            await waiter
        finally:
            setattr(self._connection, slot, None)
            if timer is not None:
                timer.cancel()

    def close_now(self) -> None:
        """Close without waiting: gracefully when nothing is left to send (an idle
        connection), else at once, since a server that stopped reading would never take it."""
        transport = self._transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()

    async def aclose(self) -> None:
        # As anyio closes its streams: a FIN, a turn of the loop for what is buffered to go
        # out, then abort, so a socket never waits on a server that stopped reading (a
        # cancelled upload) to take its unsent bytes.
        transport = self._transport
        if transport.is_closing():
            return
        try:
            transport.write_eof()
        except (OSError, NotImplementedError, RuntimeError):
            pass  # TLS has no half-close; a broken socket has nothing to say
        transport.close()
        try:
            await asyncio.sleep(0)
        finally:
            transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> _Stream:
        core = self._core
        try:
            with anyio.fail_after(timeout):
                transport = await self._loop.start_tls(
                    self._transport,
                    self._connection,
                    ssl_context,
                    server_hostname=server_hostname,
                )
        except TimeoutError as exc:
            self._transport.close()
            raise core.ConnectTimeout("TLS handshake timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise core.ConnectError(str(exc) or repr(exc)) from exc
        except BaseException:
            self._transport.close()
            raise
        if transport is None:  # the connection closed during the handshake
            raise core.ConnectError("connection closed during the TLS handshake")
        # From here the connection is read through the TLS transport: pausing and resuming
        # reads must reach that one, not the socket's (paused there, resumed here, never).
        self._connection.transport = transport
        return _Stream(core, self._loop, transport, self._connection)

    def get_extra_info(self, info: str) -> Any:
        transport = self._transport
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        if info == "is_readable":
            connection = self._connection
            if connection.chunks or connection.eof:
                return True
            return _socket_readable(transport.get_extra_info("socket"))
        return None


def _socket_readable(sock: Any) -> bool:
    """Whether bytes (or the peer's close) wait in the socket that the loop has not read yet;
    a socket that is gone counts as readable (its next read would say it is closed)."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        readable, _, _ = select.select([fd], [], [], 0)
        return bool(readable)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


async def _connect_racing(
    loop: asyncio.AbstractEventLoop, host: str, port: int, local_address: Optional[str]
) -> tuple[asyncio.Transport, _Connection]:
    """Connect to one of ``host``'s addresses, racing them as anyio does ("happy eyeballs"):
    the next address is tried when the one before failed or took ``HAPPY_EYEBALLS_DELAY``,
    families alternating; the first connection wins and the others are cancelled or closed.

    Not asyncio's own race (``happy_eyeballs_delay=``): its attempts leak their socket when
    the connect is cancelled. Each attempt here is a plain ``create_connection`` to one
    numeric address, which closes its socket however it ends.
    """
    local_addr = (local_address, 0) if local_address else None
    if _is_ip_address(host):
        # Nothing to resolve (and so no resolver thread started): the one address.
        addresses = [host]
    else:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = _interleave_families([str(info[4][0]) for info in infos])
    if len(addresses) == 1:
        return await loop.create_connection(_Connection, addresses[0], port, local_addr=local_addr)
    won: list[tuple[asyncio.Transport, _Connection]] = []
    errors: list[OSError] = []

    async def attempt(address: str, failed: anyio.Event) -> None:
        try:
            made = await loop.create_connection(_Connection, address, port, local_addr=local_addr)
        except OSError as exc:
            errors.append(exc)
            failed.set()
            return
        if won:
            made[0].close()  # another address connected first
            return
        won.append(made)
        group.cancel_scope.cancel()

    try:
        async with anyio.create_task_group() as group:
            for address in addresses:
                failed = anyio.Event()
                group.start_soon(attempt, address, failed)
                with anyio.move_on_after(HAPPY_EYEBALLS_DELAY):
                    await failed.wait()
    except BaseException:
        for transport, _ in won:  # connected, but the caller gave up (cancelled, timed out)
            transport.close()
        raise
    if won:
        return won[0]
    raise OSError(
        f"could not connect to {host}:{port}: " + "; ".join(str(e) or repr(e) for e in errors)
    )


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _interleave_families(addresses: list[str]) -> list[str]:
    """Distinct addresses, alternating between IPv6 and IPv4 from the resolver's first."""
    unique = list(dict.fromkeys(addresses))
    first = [a for a in unique if (":" in a) == (":" in unique[0])]
    other = [a for a in unique if (":" in a) != (":" in unique[0])]
    mixed: list[str] = []
    for pair in itertools.zip_longest(first, other):
        mixed.extend(a for a in pair if a is not None)
    return mixed


class AsyncioNetwork:
    """Connections on the running asyncio loop's own transports, with the interface of an
    httpcore network backend (``_asyncio_pool`` uses it; so could an httpcore pool).

    Args:
        core: the module whose exceptions are raised here (``ConnectError``, ``ReadTimeout``...):
            the HTTP library itself, for our pool, or its httpcore, for an httpcore pool. Both
            name them the same.
    """

    def __init__(self, core: ModuleType):
        self._core = core

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: Optional[float] = None,
        local_address: Optional[str] = None,
        socket_options: Optional[Iterable[SocketOption]] = None,
    ) -> _Stream:
        """Open a TCP connection (the loop sets TCP_NODELAY)."""
        loop = asyncio.get_running_loop()
        opening = _connect_racing(loop, host, port, local_address)
        return await self._open(loop, opening, f"{host}:{port}", timeout, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: Optional[float] = None,
        socket_options: Optional[Iterable[SocketOption]] = None,
    ) -> _Stream:
        """Open a Unix socket connection."""
        loop = asyncio.get_running_loop()
        opening = loop.create_unix_connection(_Connection, path)
        return await self._open(loop, opening, path, timeout, socket_options)

    async def _open(
        self,
        loop: asyncio.AbstractEventLoop,
        opening: Awaitable[tuple[asyncio.Transport, _Connection]],
        where: str,
        timeout: Optional[float],
        socket_options: Optional[Iterable[SocketOption]],
    ) -> _Stream:
        core = self._core
        try:
            with anyio.fail_after(timeout):
                transport, connection = await opening
        except TimeoutError as exc:
            raise core.ConnectTimeout(f"connecting to {where} timed out") from exc
        except OSError as exc:
            raise core.ConnectError(str(exc) or repr(exc)) from exc
        try:
            # A caller cancelled in the instant the connection was made must get the
            # cancellation here, where the connect counts as failed: later, its request would
            # already be on the wire (a submit nobody has a handle to), and an httpcore pool's
            # next checkpoint (the new connection's state lock) would leave the connection
            # open in the pool, never used and never closed.
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            transport.abort()
            raise
        sock: Optional[socket.socket] = transport.get_extra_info("socket")
        for option in socket_options or ():
            if sock is not None:
                sock.setsockopt(*option)
        return _Stream(core, loop, transport, connection)

    async def sleep(self, seconds: float) -> None:
        """Sleep (httpcore's connect retries)."""
        await anyio.sleep(seconds)
