"""Our pools on asyncio reach the network through asyncio's transports (``_asyncio_network``):
timeouts, flow control both ways, a server's close or reset, and the choice of backend."""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
from typing import Any, Callable

import anyio
import pytest

import fal_client
from fal_client import _asyncio_network
from fal_client._asyncio_pool import AsyncioPool
from fal_client._http import load_library
from fal_client._http_pool import DirectSender, new_sender

from .raw_http import Handler, read_request

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

LIBRARIES = ["httpx2", "httpx"]


def _lib(name: str) -> Any:
    pytest.importorskip(name)  # httpx2 needs Python 3.11+
    return load_library(name)


def _sender(lib: Any) -> Any:
    return new_sender(
        lib,
        timeout=lib.Timeout(5.0),
        max_connections=4,
        keepalive_expiry=4.0,
        headers={"User-Agent": "ua-under-test"},
        proxies={},
    )


def _request(sender: Any, lib: Any, url: str, **kwargs: Any) -> Any:
    timeout = kwargs.pop("timeout", lib.Timeout(5.0))
    return sender.build(
        kwargs.pop("method", "GET"),
        url,
        content=kwargs.pop("content", None),
        params=None,
        headers={},
        timeout=timeout,
    )


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every protocol object the asyncio backend makes, in order."""
    made: list[Any] = []

    class Recorded(_asyncio_network._Connection):
        def __init__(self) -> None:
            super().__init__()
            #: Set once the socket's reads have been stopped.
            self.paused = anyio.Event()
            made.append(self)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.reading_paused:
                self.paused.set()

    monkeypatch.setattr(_asyncio_network, "_Connection", Recorded)
    return made


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"], indirect=True)
async def test_our_pools_use_asyncio_transports_only_on_asyncio(
    anyio_backend: str, client_options: dict[str, Any]
) -> None:
    async with fal_client.AsyncClient(**client_options) as client:
        await client.run("test/echo", {"x": 1})
        sender = await client.engine.transport._sender()
        assert isinstance(sender, DirectSender)
        pools = sender._pools
    if anyio_backend == "asyncio":
        assert [type(pool) for pool in pools] == [AsyncioPool]
    else:
        # httpcore's trio backend is native already.
        assert all(isinstance(pool, sender._lib.AsyncHTTPTransport) for pool in pools)
        assert not any(
            isinstance(pool._pool._network_backend, _asyncio_network.AsyncioNetwork)
            for pool in pools
        )


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_server_that_never_answers_is_a_read_timeout(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib = _lib(lib_name)
    answered = threading.Event()

    def silent(conn: socket.socket, number: int) -> None:
        read_request(conn, b"")
        answered.wait(10)  # never answers while the test runs

    url = server(silent)
    sender = _sender(lib)
    try:
        with anyio.fail_after(5), pytest.raises(lib.ReadTimeout):
            await sender.send(_request(sender, lib, url, timeout=lib.Timeout(5.0, read=0.2)))
    finally:
        answered.set()
        await sender.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_server_that_stops_reading_is_a_write_timeout(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib = _lib(lib_name)
    done = threading.Event()

    def deaf(conn: socket.socket, number: int) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        done.wait(10)  # never reads: the client's writes back up

    url = server(deaf)
    sender = _sender(lib)
    body = b"x" * (64 * 1024 * 1024)  # more than the socket buffers on both ends hold
    try:
        with anyio.fail_after(10), pytest.raises(lib.WriteTimeout):
            quick_write = lib.Timeout(5.0, write=0.3)
            await sender.send(
                _request(sender, lib, url, method="POST", content=body, timeout=quick_write)
            )
    finally:
        done.set()
        await sender.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_body_nobody_reads_yet_stops_the_socket_reads_and_arrives_whole(
    lib_name: str, server: Callable[[Handler], str], connections: list[Any]
) -> None:
    lib = _lib(lib_name)
    body = bytes(range(256)) * (16 * 1024)  # 4 MiB, 16 times the read buffer's limit

    def big(conn: socket.socket, number: int) -> None:
        read_request(conn, b"")
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    url = server(big)
    sender = _sender(lib)
    try:
        with anyio.fail_after(10):
            response = await sender.send(_request(sender, lib, url))
            (connection,) = connections
            # The body is not read yet: the backend buffers up to its limit, then stops reading
            # the socket.
            await connection.paused.wait()
            transport = connection.transport
            assert not transport.is_reading()
            # At most one socket read (asyncio reads up to 256 KiB at a time) past the limit.
            assert connection.buffered <= _asyncio_network.READ_HIGH_WATER + 256 * 1024
            received = await response.aread()
        assert hashlib.sha256(received).digest() == hashlib.sha256(body).digest()
        # Read again once the reader caught up: the connection went back to the pool whole.
        assert not connection.reading_paused and transport.is_reading()
    finally:
        await sender.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_connection_the_server_closed_while_idle_is_not_reused(
    lib_name: str, server: Callable[[Handler], str], connections: list[Any]
) -> None:
    lib = _lib(lib_name)
    closed = threading.Event()

    def once(conn: socket.socket, number: int) -> None:
        read_request(conn, b"")
        # Keep-alive by the headers, then closed anyway: a pooled connection gone stale.
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn.shutdown(socket.SHUT_WR)
        closed.set()

    url = server(once)
    sender = _sender(lib)
    try:
        with anyio.fail_after(10):
            for _ in range(2):
                response = await sender.send(_request(sender, lib, url))
                assert await response.aread() == b"ok"
                await response.aclose()
                await anyio.to_thread.run_sync(closed.wait, 5)
                closed.clear()
        assert len(connections) == 2  # the second request found the first connection stale
    finally:
        await sender.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_reset_in_the_middle_of_a_body_is_a_read_error(
    lib_name: str, server: Callable[[Handler], str]
) -> None:
    lib = _lib(lib_name)

    def reset(conn: socket.socket, number: int) -> None:
        read_request(conn, b"")
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10)
        # Linger 0: closing sends a reset instead of a FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    url = server(reset)
    sender = _sender(lib)
    try:
        with anyio.fail_after(10), pytest.raises(lib.ReadError):
            response = await sender.send(_request(sender, lib, url))
            await response.aread()
    finally:
        await sender.aclose()


# --- connecting: a host's addresses raced -------------------------------------------------


@pytest.fixture
def two_addresses(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], None]:
    """Make ``dual.test`` resolve to 127.0.0.1 then 127.0.0.2 (both loopback) in a loop."""

    def install(loop: Any) -> None:
        async def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
            assert host == "dual.test"
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in ("127.0.0.1", "127.0.0.2")
            ]

        monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)

    return install


def _listener_on(address: str) -> socket.socket:
    try:
        return socket.create_server((address, 0))
    except OSError:
        pytest.skip(f"{address} is not a loopback address here")


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
async def test_a_refused_first_address_moves_on_to_the_next_at_once(
    two_addresses: Callable[[Any], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    core = pytest.importorskip("httpcore")
    listener = _listener_on("127.0.0.2")  # nothing listens on 127.0.0.1 at that port
    # A delay far beyond the deadline below: only the refusal itself can start the next try.
    monkeypatch.setattr(_asyncio_network, "HAPPY_EYEBALLS_DELAY", 60.0)
    try:
        two_addresses(asyncio.get_running_loop())
        port = listener.getsockname()[1]
        network = _asyncio_network.AsyncioNetwork(core)
        with anyio.fail_after(10):
            stream = await network.connect_tcp("dual.test", port, timeout=5)
        assert stream.get_extra_info("server_addr")[0] == "127.0.0.2"
        await stream.aclose()
    finally:
        listener.close()


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
async def test_a_first_address_that_hangs_loses_the_race_and_is_cancelled(
    two_addresses: Callable[[Any], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    core = pytest.importorskip("httpcore")
    listener = _listener_on("127.0.0.2")
    loop = asyncio.get_running_loop()
    two_addresses(loop)
    real_connect = loop.create_connection
    hung = {"started": False, "cancelled": False}

    async def connect(factory: Any, host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "127.0.0.1":  # an address whose SYN goes unanswered
            hung["started"] = True
            try:
                await anyio.Event().wait()
            except BaseException:
                hung["cancelled"] = True
                raise
        return await real_connect(factory, host, *args, **kwargs)

    monkeypatch.setattr(loop, "create_connection", connect)
    monkeypatch.setattr(_asyncio_network, "HAPPY_EYEBALLS_DELAY", 0.05)
    try:
        network = _asyncio_network.AsyncioNetwork(core)
        with anyio.fail_after(5):
            stream = await network.connect_tcp("dual.test", listener.getsockname()[1], timeout=5)
        assert stream.get_extra_info("server_addr")[0] == "127.0.0.2"
        assert hung == {"started": True, "cancelled": True}
        await stream.aclose()
    finally:
        listener.close()


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
async def test_every_address_refused_is_one_connect_error_naming_them(
    two_addresses: Callable[[Any], None],
) -> None:
    import asyncio

    core = pytest.importorskip("httpcore")
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    two_addresses(asyncio.get_running_loop())
    network = _asyncio_network.AsyncioNetwork(core)
    with anyio.fail_after(5), pytest.raises(core.ConnectError) as caught:
        await network.connect_tcp("dual.test", port, timeout=5)
    assert "127.0.0.1" in str(caught.value) and "127.0.0.2" in str(caught.value)


def test_addresses_alternate_families_from_the_first() -> None:
    mixed = _asyncio_network._interleave_families(["::1", "::2", "10.0.0.1", "::1", "10.0.0.2"])
    assert mixed == ["::1", "10.0.0.1", "::2", "10.0.0.2"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_cancel_as_the_connection_is_made_sends_nothing_and_leaves_nothing_open(
    lib_name: str, server: Callable[[Handler], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    lib = _lib(lib_name)
    closed = threading.Event()
    received: list[bytes] = []

    def watch(conn: socket.socket, number: int) -> None:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            received.append(data)
        closed.set()  # the client closed its end

    url = server(watch)
    loop = asyncio.get_running_loop()
    real_connect = loop.create_connection
    scope = anyio.CancelScope()

    async def connect(*args: Any, **kwargs: Any) -> Any:
        made = await real_connect(*args, **kwargs)
        scope.cancel()  # the cancellation lands the instant the connection exists
        return made

    monkeypatch.setattr(loop, "create_connection", connect)
    sender = _sender(lib)
    try:
        with scope:
            await sender.send(_request(sender, lib, url))
        assert scope.cancelled_caught
        (pool,) = sender._pools
        # Not a connection kept open in the pool, never to be used.
        assert (pool.busy(), pool.idle_connections()) == ([], 0)
        assert await anyio.to_thread.run_sync(closed.wait, 5)
        # Nor a request sent after its caller gave up: a submit would start a paid job nobody
        # has a handle to.
        assert received == []
    finally:
        await sender.aclose()
