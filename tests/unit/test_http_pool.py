"""Requests built for the pool directly carry what the library's client would send, and a proxy
named by the environment is still honoured (such a pool sends through the client). The direct
pool's shards (on trio: httpcore's pools) together act as one pool of ``max_connections``; on
asyncio the direct pool is one of our own (``tests/unit/test_asyncio_pool.py``)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import fal_client
from fal_client._http import load_library
from fal_client._http_pool import (
    SHARD_CONNECTIONS,
    ClientSender,
    DirectSender,
    new_sender,
    shard_sizes,
)

from .raw_http import read_request

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

LIBRARIES = ["httpx2", "httpx"]
# The shards are httpcore's pools, which a direct pool has on trio only.
TRIO_ONLY = pytest.mark.parametrize("anyio_backend", ["trio"], indirect=True)


def _sender(lib_name: str, proxies: dict[str, str], max_connections: int = 4) -> Any:
    pytest.importorskip(lib_name)  # httpx2 needs Python 3.11+
    lib = load_library(lib_name)
    return new_sender(
        lib,
        timeout=lib.Timeout(5.0),
        max_connections=max_connections,
        keepalive_expiry=4.0,
        headers={"User-Agent": "ua-under-test"},
        proxies=proxies,
    )


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_direct_requests_carry_the_clients_default_headers(lib_name: str) -> None:
    sender = _sender(lib_name, proxies={})
    assert isinstance(sender, DirectSender)
    try:
        lib = load_library(lib_name)
        reference = lib.AsyncClient(headers={"User-Agent": "ua-under-test"})
        request = sender.build(
            "POST",
            "http://127.0.0.1:9/x",
            content=b"{}",
            params={"a": "1"},
            headers={"user-agent": "per-request", "Content-Type": "application/json"},
            timeout=lib.Timeout(1.0, connect=2.0),
        )
        expected = reference.build_request(
            "POST",
            "http://127.0.0.1:9/x",
            content=b"{}",
            params={"a": "1"},
            headers={"user-agent": "per-request", "Content-Type": "application/json"},
            timeout=lib.Timeout(1.0, connect=2.0),
        )
        await reference.aclose()
        assert dict(request.headers) == dict(expected.headers)
        # A per-request header replaces the default, whatever its case: never sent twice.
        assert request.headers.get_list("user-agent") == ["per-request"]
        assert str(request.url) == str(expected.url)
        assert request.extensions["timeout"] == expected.extensions["timeout"]
        assert request.content == b"{}"
    finally:
        await sender.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_proxy_in_the_environment_keeps_the_client_path(lib_name: str) -> None:
    sender = _sender(lib_name, proxies={"https": "http://proxy.invalid:3128"})
    try:
        assert isinstance(sender, ClientSender)
    finally:
        await sender.aclose()


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_no_proxy_alone_names_no_proxy(lib_name: str) -> None:
    sender = _sender(lib_name, proxies={"no": "127.0.0.1,localhost"})
    try:
        assert isinstance(sender, DirectSender)
    finally:
        await sender.aclose()


@pytest.fixture
def fake_proxy() -> Iterator[tuple[str, list[bytes]]]:
    """An HTTP proxy on loopback that answers every request itself with ``{"via": "proxy"}``
    and records each request line (a proxied request names the absolute URL)."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                head, _ = read_request(conn, b"")
                if head is None:
                    continue
                seen.append(head.split(b"\r\n", 1)[0])
                body = b'{"via": "proxy"}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    listener.shutdown(socket.SHUT_RDWR)  # wakes the accept; close alone would not
    listener.close()
    thread.join(5)


async def test_requests_go_through_the_proxy_the_environment_names(
    fake_proxy: tuple[str, list[bytes]],
    client_options: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy_url, seen = fake_proxy
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with fal_client.AsyncClient(**client_options) as client:
        result = await client.run("fal-ai/echo", {"x": 1})
    assert result == {"via": "proxy"}
    # A proxied request names the absolute URL of the real server.
    assert seen and seen[0].startswith(b"POST " + client_options["run_url"].encode())


async def test_a_repeated_url_is_parsed_once_and_never_changed_by_params() -> None:
    sender = _sender("httpx2" if _has("httpx2") else "httpx", proxies={})
    lib = load_library("httpx2" if _has("httpx2") else "httpx")
    try:

        def build(params: Any) -> Any:
            return sender.build(
                "POST",
                "http://127.0.0.1:9/run/a/b?x=1",
                content=b"{}",
                params=params,
                headers={},
                timeout=lib.Timeout(1.0),
            )

        with_params = build({"logs": "1"})
        plain = build(None)
        # As the library's own client builds them (its params replace the URL's query).
        reference = lib.AsyncClient()
        expected = reference.build_request(
            "POST", "http://127.0.0.1:9/run/a/b?x=1", params={"logs": "1"}
        )
        await reference.aclose()
        assert str(with_params.url) == str(expected.url)
        assert str(plain.url) == "http://127.0.0.1:9/run/a/b?x=1"
        assert list(sender._urls) == ["http://127.0.0.1:9/run/a/b?x=1"]
    finally:
        await sender.aclose()


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _context_of(sender: Any) -> Any:
    transport = sender.client._transport
    # httpcore's pool under the library's transport, or our own pool on asyncio.
    return getattr(transport, "_pool", transport)._ssl_context


@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_pools_share_one_verifying_context_per_ca_setting(
    lib_name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import ssl

    first, second = _sender(lib_name, proxies={}), _sender(lib_name, proxies={})
    proxied = _sender(lib_name, proxies={"https": "http://proxy.invalid:3128"})
    try:
        contexts = [_context_of(s) for s in (first, second, proxied)]
        assert contexts[0] is contexts[1] is contexts[2]  # built once: the CA bundle loads once
        assert contexts[0].verify_mode == ssl.CERT_REQUIRED and contexts[0].check_hostname
        # Another CA setting gets a context of its own (read when a pool is made, as before).
        monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
        other = _sender(lib_name, proxies={})
        try:
            assert _context_of(other) is not contexts[0]
        finally:
            await other.aclose()
    finally:
        for sender in (first, second, proxied):
            await sender.aclose()


# --- shards -----------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 7, 8, 9, 16, 17, 64, 100, 101, 1000])
def test_shards_split_the_connection_limit_evenly(limit: int) -> None:
    sizes = shard_sizes(limit)
    assert sum(sizes) == limit
    assert max(sizes) <= SHARD_CONNECTIONS
    assert max(sizes) - min(sizes) <= 1
    assert len(sizes) == -(-limit // SHARD_CONNECTIONS)


@pytest.fixture
def keepalive_server() -> Iterator[tuple[str, list[int]]]:
    """An HTTP/1.1 server on loopback that keeps connections open and answers every request
    with ``ok``; the list counts the connections it accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = [0]
    open_conns: list[socket.socket] = []

    def handle(conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                try:
                    head, buffer = read_request(conn, buffer)
                except OSError:
                    return
                if head is None:
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted[0] += 1
            open_conns.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/x", accepted
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(5)
    for conn in open_conns:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _filled_in_order(sizes: list[int], requests: int) -> list[int]:
    free = []
    for size in sizes:
        taken = min(size, requests)
        requests -= taken
        free.append(size - taken)
    return free


def _get(sender: Any, lib: Any, url: str) -> Any:
    return sender.build("GET", url, content=None, params=None, headers={}, timeout=lib.Timeout(5.0))


@TRIO_ONLY
@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_one_request_at_a_time_reuses_one_connection(
    lib_name: str, keepalive_server: tuple[str, list[int]]
) -> None:
    url, accepted = keepalive_server
    sender = _sender(lib_name, proxies={}, max_connections=4 * SHARD_CONNECTIONS)
    lib = load_library(lib_name)
    try:
        sizes = sender.free_slots()
        assert len(sizes) == 4
        for _ in range(10):
            response = await sender.send(_get(sender, lib, url))
            assert await response.aread() == b"ok"
            await response.aclose()
        assert accepted[0] == 1
        assert sender.free_slots() == sizes
    finally:
        await sender.aclose()


@TRIO_ONLY
@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_every_slot_of_every_shard_serves_before_any_request_waits(
    lib_name: str, keepalive_server: tuple[str, list[int]]
) -> None:
    url, accepted = keepalive_server
    limit = 2 * SHARD_CONNECTIONS + 3  # three shards of unequal size
    sender = _sender(lib_name, proxies={}, max_connections=limit)
    lib = load_library(lib_name)
    try:
        sizes = sender.free_slots()
        # Responses left open keep their connections busy: each next request needs a new one.
        # Shards fill in order (a shard is used once those before it are full), so requests
        # stay on connections already open instead of opening some in empty shards.
        held = []
        with anyio.fail_after(10):
            for n in range(1, limit + 1):
                held.append(await sender.send(_get(sender, lib, url)))
                assert sender.free_slots() == _filled_in_order(sizes, n)
        assert accepted[0] == limit
        assert sender.free_slots() == [0] * len(sizes)
        for response in held:
            await response.aclose()
            await response.aclose()  # closing twice gives the slot back once
        assert sender.free_slots() == sizes
    finally:
        await sender.aclose()


@TRIO_ONLY
@pytest.mark.parametrize("lib_name", LIBRARIES)
async def test_a_failed_send_gives_its_slot_back(lib_name: str) -> None:
    refusing = socket.create_server(("127.0.0.1", 0))
    port = refusing.getsockname()[1]
    refusing.close()  # nothing listens there now: the connect is refused
    sender = _sender(lib_name, proxies={}, max_connections=SHARD_CONNECTIONS + 1)
    lib = load_library(lib_name)
    try:
        sizes = sender.free_slots()
        with pytest.raises(lib.ConnectError):
            await sender.send(_get(sender, lib, f"http://127.0.0.1:{port}/x"))
        assert sender.free_slots() == sizes
    finally:
        await sender.aclose()
