"""The connection pool of our direct pools on asyncio: HTTP/1.1 by h11, on asyncio's transports.

httpcore's pool, under httpx and httpx2, does per request what one asyncio loop's pool never
needs: an anyio lock around its state and another around each connection, shielded cancel
scopes for its cleanup, trace hooks, and its own request and response objects translated to
and from the library's. On a local round trip that was a third of the CPU a request costs
(``benchmarks/bench_core.py``). This pool takes the library's ``Request`` and returns its
``Response``, and in between does only HTTP/1.1: h11 (which httpcore uses too) frames the
request and parses the response, ``_asyncio_network`` carries the bytes.

What it keeps of httpcore's behaviour: ``max_connections`` bounds the sockets open (an idle
connection to another host is closed to make room), a request waits for a free slot (no
longer than the pool timeout, then ``PoolTimeout``), idle connections are reused most recent
first and dropped after ``keepalive_expiry`` or once the server closed them, a response whose
body was not read to the end closes its connection, an error or a cancellation mid-request
closes the connection and frees its slot, and the library's exceptions with httpcore's
messages ("Server disconnected without sending a response.").

Only for HTTP/1.1 without a proxy: the direct pools (``_http_pool``) on asyncio. On trio, and
for a proxy or a client the user passed in, the library's own pool serves.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any, Optional

import h11

from ._asyncio_network import AsyncioNetwork, _expire, _Stream

__all__ = ["AsyncioPool"]

# As httpcore: bytes asked of the socket per read, and the largest response head accepted.
READ_SIZE = 64 * 1024
MAX_HEAD_SIZE = 100 * 1024
# Request bytes gathered before a write: a small request goes out in one send, head and body.
WRITE_GATHER = 64 * 1024

_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


class _Connection:
    """One connection of the pool and the HTTP/1.1 state of its current exchange."""

    __slots__ = ("idle_since", "origin", "state", "stream")

    def __init__(self, origin: Origin, stream: _Stream):
        self.origin = origin
        self.stream = stream
        self.state = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE)
        self.idle_since = 0.0

    def __repr__(self) -> str:
        scheme, host, port = self.origin
        return (
            f"<connection {scheme}://{host}:{port} "
            f"ours={self.state.our_state} theirs={self.state.their_state}>"
        )

    def reusable(self) -> bool:
        state = self.state
        return state.our_state is h11.DONE and state.their_state is h11.DONE


class AsyncioPool:
    """HTTP/1.1 connections to any number of hosts, for the running asyncio loop.

    Used as the library's transport (``handle_async_request``, ``aclose``): the library's
    ``AsyncClient`` can send through it too.

    Args:
        lib: ``httpx`` or ``httpx2``: its request, response and exception types.
        ssl_context: for ``https`` origins; never modified (pools in other threads share it).
        max_connections: sockets open at most, idle ones included; also the requests served
            at once (the others wait for a slot).
        keepalive_expiry: seconds an idle connection is kept for reuse.
    """

    def __init__(
        self,
        lib: ModuleType,
        *,
        ssl_context: Any,
        max_connections: int,
        keepalive_expiry: float,
    ):
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections}")
        self._lib = lib
        # The network raises the library's own exceptions: its names are httpcore's.
        self._network = AsyncioNetwork(lib)
        # Shared between pools and threads, so only read here; it offers HTTP/1.1 by ALPN
        # (``_http_pool.shared_ssl_context``).
        self._ssl_context = ssl_context
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._body_class = _body_class(lib)
        # Idle connections per origin, oldest first; how many in all.
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_count = 0
        self._in_use: set[_Connection] = set()
        # Requests holding a slot (each has a connection or is opening one), and those
        # waiting for one, first come first served.
        self._slots_taken = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    # --- the transport ----------------------------------------------------------------------
    async def handle_async_request(self, request: Any) -> Any:
        """Send ``request``; its response, the body not read yet (read or close it)."""
        lib = self._lib
        if self._closed:
            raise RuntimeError("this connection pool is closed")
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        scheme = url.scheme
        if scheme not in _DEFAULT_PORTS:
            raise lib.UnsupportedProtocol(f"Request URL has an unsupported protocol '{scheme}://'.")
        origin = (scheme, url.host, url.port or _DEFAULT_PORTS[scheme])
        try:
            await self._take_slot(timeouts.get("pool"))
            try:
                connection = self._reuse(origin) or await self._connect(
                    origin, request, timeouts.get("connect")
                )
            except BaseException:
                self._give_slot()
                raise
            self._in_use.add(connection)
            try:
                return await self._exchange(connection, request, timeouts)
            except BaseException:
                self.release(connection, reuse=False)
                raise
        except lib.RequestError as exc:
            exc.request = request  # as the library's client attaches it
            raise

    async def aclose(self) -> None:
        """Close every connection, in use or idle; the pool takes no more requests."""
        self._closed = True
        for connection in [*self._in_use, *(c for idle in self._idle.values() for c in idle)]:
            connection.stream.close_now()
        self._in_use.clear()
        self._idle.clear()
        self._idle_count = 0
        # One turn of the loop, in which asyncio closes the sockets: a loop ending right after
        # this would otherwise leave them open.
        await asyncio.sleep(0)

    async def __aenter__(self) -> AsyncioPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def busy(self) -> list[str]:
        """Connections serving a request, and requests waiting for a slot (for tests and
        debugging: a request abandoned without its cleanup would leave one here)."""
        busy = [repr(c) for c in self._in_use]
        busy.extend("a request waiting for a slot" for w in self._waiters if not w.done())
        return busy

    def idle_connections(self) -> int:
        """Connections open and kept for reuse (for tests and debugging)."""
        return self._idle_count

    # --- slots ------------------------------------------------------------------------------
    async def _take_slot(self, timeout: Optional[float]) -> None:
        if self._slots_taken < self._max and not self._waiters:
            self._slots_taken += 1
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        timer = (
            None
            if timeout is None
            else loop.call_later(timeout, _expire, waiter, self._lib.PoolTimeout("timed out"))
        )
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._give_slot()  # handed a slot in the instant this request gave up
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _give_slot(self) -> None:
        # Straight to the first request still waiting, if any: the count stays as it is.
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._slots_taken -= 1

    # --- connections ------------------------------------------------------------------------
    def _reuse(self, origin: Origin) -> Optional[_Connection]:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if now - connection.idle_since > self._expiry:
                # The most recent is too old: every one before it is older still.
                for stale in [connection, *idle]:
                    stale.stream.close_now()
                self._idle_count -= len(idle)
                idle.clear()
                return None
            if connection.stream.get_extra_info("is_readable"):
                connection.stream.close_now()  # the server closed it (or sent what it may not)
                continue
            return connection
        return None

    async def _connect(self, origin: Origin, request: Any, timeout: Optional[float]) -> _Connection:
        # This request's slot is taken already; make room among the idle connections.
        while self._slots_taken + self._idle_count > self._max and self._idle_count:
            self._close_oldest_idle()
        scheme, host, port = origin
        stream = await self._network.connect_tcp(host, port, timeout=timeout)
        if scheme == "https":
            server_hostname = request.extensions.get("sni_hostname") or host
            stream = await stream.start_tls(
                self._ssl_context, server_hostname=server_hostname, timeout=timeout
            )
        return _Connection(origin, stream)

    def _close_oldest_idle(self) -> None:
        oldest = min(
            (idle for idle in self._idle.values() if idle), key=lambda idle: idle[0].idle_since
        )
        oldest.pop(0).stream.close_now()
        self._idle_count -= 1

    def release(self, connection: _Connection, *, reuse: bool) -> None:
        """The exchange on ``connection`` is over: keep it for the next one, or close it; its
        slot is free either way. Synchronous, so a cancellation cannot cut it short."""
        self._in_use.discard(connection)
        if reuse and not self._closed and connection.reusable():
            connection.state.start_next_cycle()
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.origin, []).append(connection)
            self._idle_count += 1
        else:
            connection.stream.close_now()
        self._give_slot()

    # --- one exchange -----------------------------------------------------------------------
    async def _exchange(self, connection: _Connection, request: Any, timeouts: Any) -> Any:
        lib = self._lib
        state = connection.state
        stream = connection.stream
        write_timeout = timeouts.get("write")
        read_timeout = timeouts.get("read")
        try:
            head = h11.Request(
                method=request.method, target=request.url.raw_path, headers=request.headers.raw
            )
            try:
                await self._send_request(state, stream, head, request.stream, write_timeout)
            except lib.WriteError:
                # As httpcore: the server may have answered before reading the whole body
                # (a 413, say) and closed; its answer says more than the failed write.
                pass
            while True:
                event = state.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.read(READ_SIZE, read_timeout)
                    if not data and state.their_state is h11.SEND_RESPONSE:
                        raise lib.RemoteProtocolError(
                            "Server disconnected without sending a response."
                        )
                    state.receive_data(data)
                elif type(event) is h11.Response:
                    break
                elif type(event) is not h11.InformationalResponse:  # 100 Continue: skipped
                    raise lib.RemoteProtocolError(f"unexpected {type(event).__name__} event")
        except h11.RemoteProtocolError as exc:
            raise lib.RemoteProtocolError(str(exc)) from exc
        except h11.LocalProtocolError as exc:
            raise lib.LocalProtocolError(str(exc)) from exc
        return lib.Response(
            status_code=event.status_code,
            headers=event.headers.raw_items(),
            stream=self._body_class(self, connection, read_timeout),
            extensions={
                "http_version": b"HTTP/" + event.http_version,
                "reason_phrase": event.reason,
            },
        )

    async def _send_request(
        self,
        state: h11.Connection,
        stream: _Stream,
        head: h11.Request,
        body: Any,
        timeout: Optional[float],
    ) -> None:
        # h11 returns None only for a ConnectionClosed event, which is never sent here.
        gathered: list[bytes] = [state.send(head) or b""]
        size = len(gathered[0])
        async for chunk in body:
            if not chunk:
                continue
            pieces = state.send_with_data_passthrough(h11.Data(data=chunk)) or ()
            if size + len(chunk) < WRITE_GATHER:
                gathered.extend(pieces)
                size += len(chunk)
                continue
            # A large chunk is written as it is, never copied into a bigger one.
            if gathered:
                await stream.write(b"".join(gathered), timeout)
                gathered.clear()
                size = 0
            for piece in pieces:
                await stream.write(piece, timeout)
        gathered.append(state.send(h11.EndOfMessage()) or b"")
        await stream.write(b"".join(gathered), timeout)


# One response body class per library: it must be that library's AsyncByteStream, which its
# Response checks before reading or closing.
@functools.cache
def _body_class(lib: ModuleType) -> Any:
    class ResponseBody(lib.AsyncByteStream):  # type: ignore[name-defined,misc]
        """A response's body, read from its connection; closing it ends the exchange."""

        def __init__(self, pool: AsyncioPool, connection: _Connection, timeout: Optional[float]):
            self._pool: Optional[AsyncioPool] = pool
            self._connection = connection
            self._timeout = timeout
            self._complete = False

        async def __aiter__(self) -> AsyncIterator[bytes]:
            state = self._connection.state
            stream = self._connection.stream
            try:
                while True:
                    event = state.next_event()
                    if event is h11.NEED_DATA:
                        state.receive_data(await stream.read(READ_SIZE, self._timeout))
                    elif type(event) is h11.Data:
                        yield bytes(event.data)
                    elif type(event) is h11.EndOfMessage:
                        self._complete = True
                        return
                    else:
                        raise lib.RemoteProtocolError(f"unexpected {type(event).__name__} event")
            except h11.RemoteProtocolError as exc:
                raise lib.RemoteProtocolError(str(exc)) from exc

        async def aclose(self) -> None:
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.release(self._connection, reuse=self._complete)

    return ResponseBody
