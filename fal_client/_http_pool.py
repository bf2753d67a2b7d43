"""How one event loop's requests reach the HTTP library: straight to the pool, or via a client.

A client of httpx/httpx2 does per request what this package never needs: it merges a base URL,
runs an auth flow and a redirect loop (both no-ops here), stores cookies, and wraps the response
stream to time it. On a local round trip that is about a quarter of the CPU a request costs
(``benchmarks/bench_core.py``). So when the pool is ours, requests are built here, with the
headers the library's client would add, and handed to its connection pool (the library's
public ``AsyncHTTPTransport``) directly.

Not when the environment names a proxy: only the library's client applies proxies (and
``NO_PROXY``) from the environment, so such a pool sends through the client as before. And
never for an ``http_client`` the user passed in: its settings (event hooks, auth, mounts) are
the user's, so every request goes through it.
"""

from __future__ import annotations

import os
import ssl
import threading
import urllib.request
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Optional, Union

__all__ = ["ClientSender", "DirectSender", "Sender", "new_sender", "shared_ssl_context"]

# Parsed POST URLs a direct pool keeps; starting over when full keeps the current ones.
_URL_CACHE_SIZE = 256


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
    """Builds requests itself and sends them to the library's connection pool directly."""

    def __init__(self, lib: ModuleType, client: Any, pool: Any):
        self._lib = lib
        #: The library client over the same pool, for the rare request not worth building by
        #: hand (a form POST). It owns the pool (closing it closes the pool) and knows the
        #: headers its requests carry by default (User-Agent, Accept-Encoding...): every
        #: request built here carries them too.
        self.client = client
        self._pool = pool
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
        response = await self._pool.handle_async_request(request)
        response.request = request  # what the client would set: errors carry it
        return response

    async def aclose(self) -> None:
        """Close the pool (through the client that owns it)."""
        await self.client.aclose()


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
            context = _SSL_CONTEXTS[key] = lib.create_ssl_context(verify=True, trust_env=True)
    return context


#: What ``Transport`` sends one loop's requests with.
Sender = Union[ClientSender, DirectSender]


def new_sender(
    lib: ModuleType,
    *,
    timeout: Any,
    limits: Any,
    headers: Mapping[str, str],
    proxies: Optional[dict[str, str]] = None,
) -> Sender:
    """A pool for one event loop: direct, unless the environment names a proxy.

    ``proxies`` (for tests): the environment's proxies, read with ``urllib.request.getproxies``
    (what httpx and httpx2 read too) when not given.
    """
    if proxies is None:
        proxies = urllib.request.getproxies()
    # NO_PROXY alone (``"no"``) names exceptions to proxies there are none of: direct.
    if any(scheme != "no" for scheme in proxies):
        return ClientSender(
            lib.AsyncClient(
                timeout=timeout,
                limits=limits,
                headers=headers,
                follow_redirects=False,
                verify=shared_ssl_context(lib),
            )
        )
    pool = lib.AsyncHTTPTransport(limits=limits, verify=shared_ssl_context(lib))
    client = lib.AsyncClient(
        timeout=timeout, headers=headers, follow_redirects=False, transport=pool
    )
    return DirectSender(lib, client, pool)
