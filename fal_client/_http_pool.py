"""How one event loop's requests reach the HTTP library: straight to the pool, or via a client.

A client of httpx/httpx2 does per request what this package never needs: it merges a base URL,
runs an auth flow and a redirect loop (both no-ops here), stores cookies, and wraps the response
stream to time it. On a local round trip that is about a quarter of the CPU a request costs
(``benchmarks/bench_core.py``). So when the pool is ours, requests are built here, with the
headers the library's client would add, and handed to a connection pool directly.

On asyncio that pool is our own (``_asyncio_pool``): HTTP/1.1 by h11 on asyncio's transports,
a third less work per request than the library's pool. On trio it is the library's, split into
shards of a few connections each: before it sends a request and after it releases one, an
httpcore pool looks at every connection it holds (is it idle, expired, closed?), and with 64
connections in use that scan was a third of a fan-out's CPU. Each request goes to the first
shard with a free slot, so the shards together hold no more connections than
``max_connections``, a request never waits while a slot is free anywhere, and requests stay on
the connections already open (a sequential caller keeps reusing the first shard's one).

Not when the environment names a proxy: only the library's client applies proxies (and
``NO_PROXY``) from the environment, so such a pool sends through the client as before. And
never for an ``http_client`` the user passed in: its settings (event hooks, auth, mounts) are
the user's, so every request goes through it.
"""

from __future__ import annotations

import functools
import math
import os
import ssl
import sys
import threading
import urllib.request
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Optional, Union

import anyio.lowlevel

__all__ = [
    "SHARD_CONNECTIONS",
    "ClientSender",
    "DirectSender",
    "Sender",
    "new_sender",
    "shard_sizes",
    "shared_ssl_context",
]

# Parsed POST URLs a direct pool keeps; starting over when full keeps the current ones.
_URL_CACHE_SIZE = 256

# Connections per shard of a direct pool. The scan httpcore makes per request grows with this,
# and finding a shard with a free slot grows with the number of shards: eight keeps both short
# for pools of up to a few hundred connections.
SHARD_CONNECTIONS = 8


class ClientSender:
    """Sends through an HTTP library client: the user's own, or ours when a proxy is set."""

    def __init__(self, client: Any):
        #: The library client every request goes through.
        self.client = client

    def build(
        self,
        method: str,
        url: str,
        *,
        content: Any,
        params: Any,
        headers: Mapping[str, str],
        timeout: Any,
    ) -> Any:
        """The request of one attempt."""
        return self.client.build_request(
            method, url, content=content, params=params, headers=headers, timeout=timeout
        )

    async def send(self, request: Any) -> Any:
        """Send ``request``; its response, body not read yet."""
        return await self.client.send(request, stream=True)

    async def aclose(self) -> None:
        """Close the client and its connections."""
        await self.client.aclose()


class DirectSender:
    """Builds requests itself and sends them to connection pools directly: one of our own on
    asyncio (``_asyncio_pool``), the library's in shards on trio."""

    def __init__(self, lib: ModuleType, client: Any, pools: list[Any], sizes: list[int]):
        self._lib = lib
        #: The library client over the first pool, for the rare request not worth building by
        #: hand (a form POST). It owns that pool (closing it closes the pool) and knows the
        #: headers its requests carry by default (User-Agent, Accept-Encoding...): every
        #: request built here carries them too.
        self.client = client
        self._pools = pools
        # Slots each shard has free: its size less the requests it is serving now.
        self._free = list(sizes)
        self._releasing = _releasing_stream_class(lib)
        self._base_headers = client.headers
        # Parsed URLs by text: an app's run and submit URLs repeat on every call, and parsing
        # one is a third of building a request.
        self._urls: dict[str, Any] = {}

    def build(
        self,
        method: str,
        url: str,
        *,
        content: Any,
        params: Any,
        headers: Mapping[str, str],
        timeout: Any,
    ) -> Any:
        """The request of one attempt, with the client's default headers under ``headers``."""
        merged = self._base_headers.copy()
        merged.update(headers)
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._lib.URL(url)
            if method == "POST":  # run and submit URLs; a GET's names a request id
                if len(self._urls) >= _URL_CACHE_SIZE:
                    self._urls.clear()
                self._urls[url] = parsed
        return self._lib.Request(
            method,
            parsed,
            params=params,
            headers=merged,
            content=content,
            extensions={"timeout": timeout.as_dict()},
        )

    async def send(self, request: Any) -> Any:
        """Send ``request``; its response, body not read yet."""
        free = self._free
        shard = _pick_shard(free)
        free[shard] -= 1
        try:
            response = await self._pools[shard].handle_async_request(request)
        except BaseException:
            free[shard] += 1
            raise
        response.stream = self._releasing(response.stream, self, shard)
        response.request = request  # what the client would set: errors carry it
        return response

    def release(self, shard: int) -> None:
        """A response of ``shard`` was closed: its slot is free again."""
        self._free[shard] += 1

    def free_slots(self) -> list[int]:
        """Free slots per shard, for tests and debugging."""
        return list(self._free)

    async def aclose(self) -> None:
        """Close every pool (the first through the client that owns it)."""
        try:
            await self.client.aclose()
        finally:
            for pool in self._pools[1:]:
                await pool.aclose()


def _pick_shard(free: list[int]) -> int:
    # The first shard with a free slot: filling shards in order keeps requests on the
    # connections already open (spreading them would open new ones in empty shards while
    # others sit idle). When every slot is taken, the shard with the fewest waiting.
    for shard, slots in enumerate(free):
        if slots > 0:
            return shard
    return free.index(max(free))


# One response stream wrapper per library: it must be that library's AsyncByteStream, which
# the library's Response checks before reading or closing.
@functools.cache
def _releasing_stream_class(lib: ModuleType) -> Any:
    class ReleasingStream(lib.AsyncByteStream):  # type: ignore[name-defined,misc]
        """A response body that gives its shard's slot back, once, when closed."""

        def __init__(self, inner: Any, sender: DirectSender, shard: int):
            self._inner = inner
            self._sender: Optional[DirectSender] = sender
            self._shard = shard

        def __aiter__(self) -> Any:
            return self._inner.__aiter__()

        async def aclose(self) -> None:
            sender, self._sender = self._sender, None
            if sender is not None:
                sender.release(self._shard)
            await self._inner.aclose()

    return ReleasingStream


def shard_sizes(max_connections: int) -> list[int]:
    """Connections per shard: ``max_connections`` split into shards of at most
    ``SHARD_CONNECTIONS``, sizes differing by one at most."""
    count = math.ceil(max_connections / SHARD_CONNECTIONS)
    base, extra = divmod(max_connections, count)
    return [base + 1 if i < extra else base for i in range(count)]


# Verifying TLS contexts, one per library and CA settings. Building one loads the CA bundle
# (30 ms and more), which every client and every event loop would otherwise pay again on its
# first request; a context is only read once built, so pools in any thread can share it.
_SSL_CONTEXTS: dict[tuple[str, Optional[str], Optional[str]], ssl.SSLContext] = {}
_SSL_LOCK = threading.Lock()


def shared_ssl_context(lib: ModuleType) -> ssl.SSLContext:
    """The library's default verifying context, built as it builds it (``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` count), once per process for each setting of those."""
    key = (lib.__name__, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _SSL_LOCK:
        context = _SSL_CONTEXTS.get(key)
        if context is None:
            context = lib.create_ssl_context(verify=True, trust_env=True)
            # HTTP/1.1 is what every pool of ours speaks. Set here, once, before any pool
            # shares the context: changing it while another thread's handshake reads it races
            # in OpenSSL (httpcore's pools still set the same value on each connect).
            context.set_alpn_protocols(["http/1.1"])
            _SSL_CONTEXTS[key] = context
    return context


#: What ``Transport`` sends one loop's requests with.
Sender = Union[ClientSender, DirectSender]


def new_sender(
    lib: ModuleType,
    *,
    timeout: Any,
    max_connections: int,
    keepalive_expiry: float,
    headers: Mapping[str, str],
    proxies: Optional[dict[str, str]] = None,
) -> Sender:
    """A pool for one event loop: direct, unless the environment names a proxy.

    ``proxies`` (for tests): the environment's proxies, read with ``urllib.request.getproxies``
    (what httpx and httpx2 read too) when not given.
    """
    if proxies is None:
        proxies = urllib.request.getproxies()
    context = shared_ssl_context(lib)
    # NO_PROXY alone (``"no"``) names exceptions to proxies there are none of: direct.
    if any(scheme != "no" for scheme in proxies):
        return ClientSender(
            lib.AsyncClient(
                timeout=timeout,
                limits=_limits(lib, max_connections, keepalive_expiry),
                headers=headers,
                follow_redirects=False,
                verify=context,
            )
        )
    if _on_asyncio():
        # One pool of our own: it finds a free connection without scanning them all, and
        # keeps the limit itself (the sender sees it as a single shard).
        from ._asyncio_pool import AsyncioPool

        sizes = [max_connections]
        pools: list[Any] = [
            AsyncioPool(
                lib,
                ssl_context=context,
                max_connections=max_connections,
                keepalive_expiry=keepalive_expiry,
            )
        ]
    else:
        sizes = shard_sizes(max_connections)
        pools = [
            lib.AsyncHTTPTransport(limits=_limits(lib, size, keepalive_expiry), verify=context)
            for size in sizes
        ]
    client = lib.AsyncClient(
        timeout=timeout, headers=headers, follow_redirects=False, transport=pools[0]
    )
    return DirectSender(lib, client, pools, sizes)


def _on_asyncio() -> bool:
    """Whether the running loop is asyncio's."""
    native = anyio.lowlevel.current_token().native_token
    asyncio = sys.modules.get("asyncio")  # a loop of asyncio's has imported it
    return asyncio is not None and isinstance(native, asyncio.AbstractEventLoop)


def _limits(lib: ModuleType, connections: int, keepalive_expiry: float) -> Any:
    return lib.Limits(
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=keepalive_expiry,
    )
