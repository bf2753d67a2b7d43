"""Our connection pool on asyncio (``_asyncio_pool``): slots, reuse, expiry, closing, request
bodies and what a misbehaving server gets, against loopback servers parsing with h11."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any, Callable, Optional

import anyio
import anyio.to_thread
import h11
import pytest
from anyio import wait_all_tasks_blocked

from fal_client._asyncio_pool import AsyncioPool
from fal_client._http import load_library

from .raw_http import Handler, read_request

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.timeout(30),
    pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True),
]

LIBRARIES = ["httpx2", "httpx"]

# What a test server answers to one request: status, headers and body.
Answer = tuple[int, list[tuple[str, str]], bytes]
Respond = Callable[[h11.Request, bytes], Answer]


class H11Server:
    """What ``h11_server`` serves: the connections it accepted, and for each an event set once
    the client closed it."""

    def __init__(self) -> None:
        self.closed: list[threading.Event] = []
        self.lock = threading.Lock()

    @property
    def accepted(self) -> int:
        return len(self.closed)

    async def closed_by_client(self, number: int) -> bool:
        """Whether the client closes connection ``number`` within 5 s (the loop runs on)."""
        return await anyio.to_thread.run_sync(self.closed[number].wait, 5.0)


def ok(request: h11.Request, body: bytes) -> Answer:
    return 200, [], b"ok"


def h11_handler(record: H11Server, respond: Respond = ok) -> Handler:
    """A connection handler speaking HTTP/1.1 through h11 (the server side): every request is
    answered by ``respond``, on the same connection until either side closes it."""

    def handle(conn: socket.socket, number: int) -> None:
        with record.lock:
            closed = threading.Event()
            record.closed.append(closed)
        state = h11.Connection(h11.SERVER)
        try:
            while True:
                request: Optional[h11.Request] = None
                body = b""
                while True:
                    event = state.next_event()
                    if event is h11.NEED_DATA:
                        data = conn.recv(65536)
                        if not data:
                            closed.set()
                            return
                        state.receive_data(data)
                    elif isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += bytes(event.data)
                    elif isinstance(event, h11.EndOfMessage):
                        break
                assert request is not None
                status, headers, payload = respond(request, body)
                if request.method != b"HEAD":
                    headers = [*headers, ("content-length", str(len(payload)))]
                out = state.send(h11.Response(status_code=status, headers=headers))
                if request.method != b"HEAD":
                    out += state.send(h11.Data(data=payload))
                conn.sendall(out + state.send(h11.EndOfMessage()))
                if state.our_state is h11.MUST_CLOSE:
                    conn.shutdown(socket.SHUT_WR)
                    return
                state.start_next_cycle()
        except (OSError, h11.ProtocolError):
            closed.set()

    return handle


def _lib(name: str) -> Any:
    pytest.importorskip(name)  # httpx2 needs Python 3.11+
    return load_library(name)


def _pool(lib: Any, max_connections: int = 4, keepalive_expiry: float = 30.0) -> AsyncioPool:
    return AsyncioPool(
        lib, ssl_context=None, max_connections=max_connections, keepalive_expiry=keepalive_expiry
    )


def _served(
    server: Callable[[Handler], str], lib_name: str, respond: Respond = ok, **pool_options: Any
) -> tuple[Any, H11Server, str, AsyncioPool]:
    """The library, a server answering with ``respond``, its URL, and a pool (close it)."""
    lib, record = _lib(lib_name), H11Server()
    return lib, record, server(h11_handler(record, respond)), _pool(lib, **pool_options)


def _request(lib: Any, url: str, method: str = "GET", **kwargs: Any) -> Any:
    timeout = kwargs.pop("timeout", lib.Timeout(5.0))
    return lib.Request(method, url, extensions={"timeout": timeout.as_dict()}, **kwargs)


async def _get(pool: AsyncioPool, lib: Any, url: str, **kwargs: Any) -> bytes:
    response = await pool.handle_async_request(_request(lib, url, **kwargs))
    try:
        return bytes(await response.aread())
    finally:
        await response.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_one_request_at_a_time_reuses_one_connection(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib, record, url, pool = _served(server, lib_name)
    try:
        for _ in range(5):
            assert await _get(pool, lib, url) == b"ok"
        assert record.accepted == 1
        assert (pool.busy(), pool.idle_connections()) == ([], 1)
    finally:
        await pool.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_request_beyond_the_limit_waits_for_a_slot_and_reuses_its_connection(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib, record, url, pool = _served(server, lib_name, max_connections=2)
    held = [await pool.handle_async_request(_request(lib, url)) for _ in range(2)]
    got: list[bytes] = []
    try:
        async with anyio.create_task_group() as group:

            async def third() -> None:
                got.append(await _get(pool, lib, url))

            group.start_soon(third)
            await wait_all_tasks_blocked()
            assert "a request waiting for a slot" in pool.busy()
            assert got == []
            assert await held[0].aread() == b"ok"
            await held[0].aclose()
        assert got == [b"ok"]
        assert record.accepted == 2  # the third took the connection the first gave back
    finally:
        await held[1].aclose()
        await pool.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_pool_timeout_and_a_cancelled_wait_keep_no_slot(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib, record, url, pool = _served(server, lib_name, max_connections=1)
    held = await pool.handle_async_request(_request(lib, url))
    try:
        with pytest.raises(lib.PoolTimeout) as caught:
            await pool.handle_async_request(_request(lib, url, timeout=lib.Timeout(5.0, pool=0.01)))
        assert caught.value.request.url == url  # as the library's client would attach it
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(pool.handle_async_request, _request(lib, url))
                await wait_all_tasks_blocked()
                assert "a request waiting for a slot" in pool.busy()
                scope.cancel()
        assert len(pool.busy()) == 1  # only the held response's connection
        assert await held.aread() == b"ok"
        await held.aclose()
        assert pool.busy() == []
        with anyio.fail_after(5):  # the slot is free: nothing waits
            assert await _get(pool, lib, url) == b"ok"
        assert record.accepted == 1
    finally:
        await pool.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_slot_handed_over_as_its_request_is_cancelled_is_passed_on(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    import asyncio

    lib, _record, url, pool = _served(server, lib_name, max_connections=1)
    held = await pool.handle_async_request(_request(lib, url))
    try:
        waiting = asyncio.ensure_future(pool.handle_async_request(_request(lib, url)))
        await wait_all_tasks_blocked()
        assert "a request waiting for a slot" in pool.busy()
        # In one step: the slot goes to the waiting request, which is cancelled before it
        # runs again. It must give the slot on, or the pool is one short for good.
        assert await held.aread() == b"ok"
        await held.aclose()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert pool.busy() == []
        with anyio.fail_after(5):
            assert await _get(pool, lib, url) == b"ok"
    finally:
        await pool.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_body_left_unread_closes_its_connection(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib, record, url, pool = _served(server, lib_name, lambda r, b: (200, [], b"x" * 200_000))
    try:
        response = await pool.handle_async_request(_request(lib, url))
        await response.aclose()  # the body is still on the wire: the connection cannot serve
        assert await record.closed_by_client(0)
        assert len(await _get(pool, lib, url)) == 200_000
        assert record.accepted == 2
        assert (pool.busy(), pool.idle_connections()) == ([], 1)
    finally:
        await pool.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_connection_the_server_closes_is_not_reused(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib, record, url, pool = _served(
        server, lib_name, lambda r, b: (200, [("connection", "close")], b"bye")
    )
    try:
        assert await _get(pool, lib, url) == b"bye"
        assert await _get(pool, lib, url) == b"bye"
        assert record.accepted == 2
        assert pool.idle_connections() == 0
    finally:
        await pool.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_an_expired_idle_connection_is_closed_not_reused(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib, record, url, pool = _served(
        server, lib_name, keepalive_expiry=-1.0
    )  # any idle connection has expired
    try:
        assert await _get(pool, lib, url) == b"ok"
        assert await _get(pool, lib, url) == b"ok"
        assert record.accepted == 2
        assert await record.closed_by_client(0)
    finally:
        await pool.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_the_limit_counts_idle_connections_to_other_hosts(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib, first, second = _lib(lib_name), H11Server(), H11Server()
    first_url, second_url = server(h11_handler(first)), server(h11_handler(second))
    pool = _pool(lib, max_connections=1)
    try:
        assert await _get(pool, lib, first_url) == b"ok"
        assert pool.idle_connections() == 1
        assert await _get(pool, lib, second_url) == b"ok"
        assert await first.closed_by_client(0)  # closed to make room: one socket open at most
        assert pool.idle_connections() == 1
    finally:
        await pool.aclose()


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_request_bodies_arrive_whole_with_a_length_or_chunked(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib, record, url, pool = _served(
        server, lib_name, lambda r, b: (200, [], hashlib.sha256(b).hexdigest().encode())
    )
    big = bytes(range(256)) * 12_000  # 3 MB, larger than a gathered write
    parts = [b"a" * 10, b"", b"b" * 100_000, b"c" * 7]
    try:
        digest = await _get(pool, lib, url, method="POST", content=big)
        assert digest == hashlib.sha256(big).hexdigest().encode()
        digest = await _get(pool, lib, url, method="POST", content=_chunks(parts))
        assert digest == hashlib.sha256(b"".join(parts)).hexdigest().encode()
        assert record.accepted == 1
    finally:
        await pool.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_an_informational_answer_is_skipped_and_a_head_has_no_body(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib = _lib(lib_name)

    def handle(conn: socket.socket, number: int) -> None:
        buffer = b""
        with conn:
            for answer in (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",  # to the HEAD
            ):
                head, buffer = read_request(conn, buffer)
                if head is None:
                    return
                conn.sendall(answer)

    url = server(handle)
    pool = _pool(lib)
    try:
        assert await _get(pool, lib, url) == b"hello"
        assert await _get(pool, lib, url, method="HEAD") == b""  # the 5 bytes are not awaited
    finally:
        await pool.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_server_that_hangs_up_without_answering(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib = _lib(lib_name)

    def handle(conn: socket.socket, number: int) -> None:
        with conn:
            conn.recv(65536)

    pool = _pool(lib)
    url = server(handle)
    try:
        with pytest.raises(lib.RemoteProtocolError, match="without sending a response") as caught:
            await pool.handle_async_request(_request(lib, url))
        assert caught.value.request.url == url
        assert (pool.busy(), pool.idle_connections()) == ([], 0)
    finally:
        await pool.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
@pytest.mark.parametrize(
    "reply",
    [b"HELLO THERE\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf."],
    ids=["not-http", "body-cut-short"],
)
async def test_a_malformed_answer_is_a_protocol_error_and_closes_the_connection(
    lib_name: str, reply: bytes, server: Callable[[Handler], str]
) -> None:
    lib = _lib(lib_name)

    def handle(conn: socket.socket, number: int) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(reply)

    pool = _pool(lib)
    url = server(handle)
    try:
        with pytest.raises(lib.RemoteProtocolError):
            await _get(pool, lib, url)
        assert (pool.busy(), pool.idle_connections()) == ([], 0)
    finally:
        await pool.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_closing_the_pool_closes_its_connections(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib, record, url, pool = _served(server, lib_name)
    held = await pool.handle_async_request(_request(lib, url))  # in use
    assert await _get(pool, lib, url) == b"ok"  # a second connection, idle once read
    assert (len(pool.busy()), pool.idle_connections()) == (1, 1)
    await pool.aclose()
    assert await record.closed_by_client(0) and await record.closed_by_client(1)
    with pytest.raises(RuntimeError, match="closed"):
        await pool.handle_async_request(_request(lib, url))
    await held.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_an_unknown_scheme_is_refused_before_anything_is_sent(lib_name: str) -> None:
    lib = _lib(lib_name)
    pool = _pool(lib)
    with pytest.raises(lib.UnsupportedProtocol, match="ftp://"):
        await pool.handle_async_request(_request(lib, "ftp://127.0.0.1:9/x"))
    assert pool.busy() == []
    await pool.aclose()
