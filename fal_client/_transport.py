"""One place where requests are sent: auth by origin, per-loop connection pools, the retry loop.

Connection pools belong to the event loop that created them (an ``AsyncClient`` of httpx/httpx2
must never cross loops). A ``Transport`` therefore keeps one pooled HTTP client per running loop,
so a shared client keeps working across repeated ``asyncio.run()``/``trio.run()`` calls; each pool
is closed by an async-generator finaliser when its loop shuts down, so no socket outlives it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Optional, Union

import anyio
import anyio.lowlevel

from ._aclosing import aclose
from ._auth import Credentials
from ._endpoints import Endpoints
from ._errors import (
    FalClientConnectionError,
    SubmitNotConfirmedError,
    describe_exception,
    error_from_response,
)
from ._http import library_of, load_library, never_sent
from ._http_pool import ClientSender, Sender, new_sender
from ._rate_signal import report_answer
from ._retry import RetryPolicy, parse_retry_after
from ._version import __version__

logger = logging.getLogger("fal_client")

# A request body: bytes, or an async iterable that starts over on each iteration (uploads stream
# from disk, and a retried attempt re-reads the file).
Body = Union[bytes, AsyncIterable[bytes], None]

USER_AGENT = f"fal-client/{__version__} (python; fal-client-anyio)"


@dataclass(frozen=True)
class Timeouts:
    """Per-attempt HTTP timeouts in seconds: connecting, and waiting for each read."""

    connect: float = 10.0
    read: float = 120.0

    def __post_init__(self) -> None:
        for name in ("connect", "read"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} timeout must be a positive number, got {value!r}")


async def _close_when_loop_ends(
    sender: Sender, forget: Callable[[], None]
) -> AsyncGenerator[None, None]:
    # An async generator parked at its yield is finalised by the event loop at shutdown
    # (asyncio.run's shutdown_asyncgens, trio.run's async-generator cleanup): that is where the
    # pool of a loop nobody closed explicitly gets closed, inside the loop that owns it.
    try:
        yield
    finally:
        forget()
        await sender.aclose()


class Transport:
    """Sends requests with auth, timeouts and the retry policy. Shared by every operation."""

    def __init__(
        self,
        *,
        endpoints: Endpoints,
        credentials: Credentials,
        retry: RetryPolicy,
        timeouts: Timeouts,
        default_headers: Optional[Mapping[str, str]] = None,
        http_client: Any = None,
        http_library: Optional[str] = None,
        max_connections: int = 100,
    ):
        if not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"max_connections must be an int >= 1, got {max_connections!r}")
        self.endpoints = endpoints
        self.retry = retry
        self.timeouts = timeouts
        self._credentials = credentials
        self._default_headers = dict(default_headers or {})
        # A client the user passed in: every request goes through it, on whatever loop.
        self._injected: Optional[ClientSender] = (
            ClientSender(http_client) if http_client is not None else None
        )
        self.lib: ModuleType = (
            library_of(http_client) if http_client else load_library(http_library)
        )
        self._max_connections = max_connections
        self._default_timeout = self.lib.Timeout(timeouts.read, connect=timeouts.connect)
        self._pools: dict[Any, tuple[Sender, AsyncGenerator[None, None]]] = {}

    def __repr__(self) -> str:
        return f"<Transport {self.lib.__name__} {self.endpoints!r}>"

    # --- connection pools -------------------------------------------------------------
    async def _sender(self) -> Sender:
        if self._injected is not None:
            return self._injected
        loop_key = anyio.lowlevel.current_token().native_token
        entry = self._pools.get(loop_key)
        if entry is not None:
            return entry[0]
        lib = self.lib
        sender = new_sender(
            lib,
            timeout=lib.Timeout(self.timeouts.read, connect=self.timeouts.connect),
            max_connections=self._max_connections,
            # Shorter than common servers' 5 s idle timeout, so a pooled connection is not
            # reused in the instant the server closes it (a lost POST we could not retry).
            keepalive_expiry=4.0,
            headers={"User-Agent": USER_AGENT},
        )
        closer = _close_when_loop_ends(sender, lambda: self._forget_pool(loop_key))
        await closer.__anext__()
        self._pools[loop_key] = (sender, closer)
        return sender

    def _forget_pool(self, loop_key: Any) -> None:
        self._pools.pop(loop_key, None)

    async def aclose(self) -> None:
        """Close the pool of the running loop (an injected client is left to its owner)."""
        try:
            loop_key = anyio.lowlevel.current_token().native_token
        except RuntimeError:
            return
        entry = self._pools.pop(loop_key, None)
        if entry is not None:
            await entry[1].aclose()

    # --- requests ---------------------------------------------------------------------
    async def _headers(
        self, url: str, extra: Optional[Mapping[str, str]], authorize: bool
    ) -> dict[str, str]:
        headers = {**self._default_headers, **(extra or {})}
        if any(k.lower() == "authorization" for k in headers):
            return headers  # an explicit credential for this request (e.g. the CDN token)
        # The key goes only to fal's own origins, and never to signed upload URLs (which the
        # caller marks authorize=False, since the emulator serves them on a fal origin).
        if authorize and self.endpoints.is_fal_url(url):
            headers["Authorization"] = await self.authorization()
        return headers

    @contextmanager
    def reading(
        self,
        what: str,
        *,
        app: Optional[str] = None,
        request_id: Optional[str] = None,
        answer_of_a_paid_post: bool = False,
    ) -> Iterator[None]:
        """Translate the HTTP library's errors raised while a response body is read into
        ``FalClientConnectionError`` (described, TLS reason included). With the send's own
        translation in ``_send``, the only place that knows the library's exception types.

        ``answer_of_a_paid_post``: the body is the answer of a POST that is not re-sent (a
        submit or run), so losing it is ``SubmitNotConfirmedError``: the job may exist.
        """
        lib = self.lib
        try:
            yield
        except lib.TransportError as exc:  # timeouts included: a TransportError subclass
            if answer_of_a_paid_post:
                raise _answer_lost(what, exc, app, request_id) from exc
            timed_out = isinstance(exc, lib.TimeoutException)
            state = "timed out" if timed_out else "interrupted"
            raise FalClientConnectionError(
                f"{what} {state}: {describe_exception(exc)}",
                app=app,
                request_id=request_id,
                timed_out=timed_out,
            ) from exc

    async def authorization(self) -> str:
        """The ``Authorization`` value fal's origins get (a login token refreshed first)."""
        return await self._credentials.header(self._refresh_post)

    async def _refresh_post(self, url: str, form: Mapping[str, str]) -> tuple[int, Any]:
        sender = await self._sender()
        response = await sender.client.post(url, data=dict(form))
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    async def request(
        self,
        method: str,
        url: str,
        *,
        repeatable: bool,
        app: Optional[str] = None,
        request_id: Optional[str] = None,
        content: Body = None,
        params: Optional[Mapping[str, str]] = None,
        headers: Optional[Mapping[str, str]] = None,
        read_timeout: Optional[float] = None,
        authorize: bool = True,
        retry_server_errors: bool = False,
        retry_rate_limits: bool = True,
    ) -> Any:
        """Send a request, retrying per the policy; return the 2xx response or raise.

        ``repeatable`` says whether sending the request twice is harmless. When it is not (a POST
        that starts a paid job), only failures that prove the request was not processed are
        retried. ``retry_server_errors`` marks read-only queue calls whose 5xx come from fal.
        Without ``retry_rate_limits`` a 429 is raised at once (``RateLimitError``, with its
        ``retry_after``), for a caller that puts the work back in line itself (``map``).
        """
        async with self._send(
            method,
            url,
            repeatable=repeatable,
            app=app,
            request_id=request_id,
            content=content,
            params=params,
            headers=headers,
            read_timeout=read_timeout,
            authorize=authorize,
            retry_server_errors=retry_server_errors,
            retry_rate_limits=retry_rate_limits,
            stream=False,
        ) as response:
            return response

    def stream(
        self,
        method: str,
        url: str,
        *,
        repeatable: bool,
        app: Optional[str] = None,
        request_id: Optional[str] = None,
        content: Body = None,
        params: Optional[Mapping[str, str]] = None,
        headers: Optional[Mapping[str, str]] = None,
        read_timeout: Optional[float] = None,
        authorize: bool = True,
        retry_server_errors: bool = False,
    ) -> Any:
        """Like ``request`` but the body is not read: use as ``async with`` and read lines."""
        return self._send(
            method,
            url,
            repeatable=repeatable,
            app=app,
            request_id=request_id,
            content=content,
            params=params,
            headers=headers,
            read_timeout=read_timeout,
            authorize=authorize,
            retry_server_errors=retry_server_errors,
            retry_rate_limits=True,
            stream=True,
        )

    @asynccontextmanager
    async def _send(
        self,
        method: str,
        url: str,
        *,
        repeatable: bool,
        app: Optional[str],
        request_id: Optional[str],
        content: Body,
        params: Optional[Mapping[str, str]],
        headers: Optional[Mapping[str, str]],
        read_timeout: Optional[float],
        authorize: bool,
        retry_server_errors: bool,
        retry_rate_limits: bool,
        stream: bool,
    ) -> AsyncIterator[Any]:
        sender = await self._sender()
        lib = self.lib
        policy = self.retry
        all_headers = await self._headers(url, headers, authorize)
        if content is not None and "content-type" not in {k.lower() for k in all_headers}:
            all_headers["Content-Type"] = "application/json"
        timeout = (
            self._default_timeout
            if read_timeout is None
            else lib.Timeout(read_timeout, connect=self.timeouts.connect)
        )
        started = anyio.current_time()
        attempt = 0
        while True:
            attempt += 1
            body = _AttemptBody(content)
            request = sender.build(
                method,
                url,
                content=body.content,
                params=params,
                headers=all_headers,
                timeout=timeout,
            )
            try:
                try:
                    response = await sender.send(request)
                finally:
                    await body.close()
            except lib.TransportError as exc:
                sent_maybe = not never_sent(lib, exc)
                delay = policy.delay(attempt)
                elapsed = anyio.current_time() - started
                if sent_maybe and not repeatable:
                    raise _answer_lost(f"{method} {_safe_url(url)}", exc, app, request_id) from exc
                if not policy.may_retry(attempt, elapsed, delay):
                    raise FalClientConnectionError(
                        f"{method} {_safe_url(url)} failed after {attempt} attempt(s): "
                        f"{describe_exception(exc)}",
                        app=app,
                        request_id=request_id,
                    ) from exc
                logger.debug(
                    "retrying %s %s in %.3fs after %s (attempt %d)",
                    method,
                    _safe_url(url),
                    delay,
                    type(exc).__name__,
                    attempt,
                )
                await anyio.sleep(delay)
                continue
            what = f"{method} {_safe_url(url)}"
            try:
                # Every answer, retried below or not: a map tells a real rate limit by its share.
                report_answer(response.status_code)
                if response.status_code < 400 and not stream:
                    with self.reading(
                        what, app=app, request_id=request_id, answer_of_a_paid_post=not repeatable
                    ):
                        await response.aread()
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug(
                        "%s %s -> %d in %.1f ms (attempt %d, request id %s)",
                        method,
                        _safe_url(url),
                        response.status_code,
                        (anyio.current_time() - started) * 1000,
                        attempt,
                        response.headers.get("x-fal-request-id", request_id or "-"),
                    )
                if response.status_code < 400:
                    yield response
                    return
                with self.reading(what, app=app, request_id=request_id):
                    await response.aread()
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                retryable = policy.status_is_retryable(
                    response.status_code, response.headers, server_errors=retry_server_errors
                )
                if response.status_code == 429 and not retry_rate_limits:
                    retryable = False  # the caller waits out the Retry-After itself
                if retryable:
                    delay = policy.delay(attempt, retry_after)
                    elapsed = anyio.current_time() - started
                    if policy.may_retry(attempt, elapsed, delay):
                        logger.debug(
                            "retrying %s %s in %.3fs after HTTP %d (attempt %d)",
                            method,
                            _safe_url(url),
                            delay,
                            response.status_code,
                            attempt,
                        )
                        await response.aclose()
                        await anyio.sleep(delay)
                        continue
                raise error_from_response(
                    response.status_code,
                    response.headers,
                    response.content,
                    response=response,
                    app=app,
                    request_id=request_id,
                )
            finally:
                await response.aclose()


class _AttemptBody:
    """One attempt's iteration of a request body, closed by the transport when the send ends.

    httpx iterates an async body but does not close it when the attempt stops early (cancelled,
    or the connection broke mid-body): a body reading from a file would keep that file open
    until the garbage collector got to it (a ResourceWarning, or a leaked descriptor on a busy
    loop). Each attempt therefore gets its own iterator, and ``close`` ends it for certain.
    """

    def __init__(self, content: Body):
        self._iterator: Optional[AsyncIterator[bytes]] = None
        #: What to hand httpx: the bytes themselves, or this object (an iterable whose one
        #: iteration is the attempt's own iterator).
        self.content: Any = content
        if content is not None and not isinstance(content, (bytes, bytearray, memoryview)):
            self._iterator = content.__aiter__()
            self.content = self

    def __aiter__(self) -> AsyncIterator[bytes]:
        assert self._iterator is not None
        return self._iterator

    async def close(self) -> None:
        if self._iterator is not None:  # bytes bodies (every JSON request) have nothing to end
            with anyio.CancelScope(shield=True):
                await aclose(self._iterator)


def _answer_lost(
    what: str, exc: BaseException, app: Optional[str], request_id: Optional[str]
) -> SubmitNotConfirmedError:
    # One text for a lost answer, whether the send or the read of the body broke.
    return SubmitNotConfirmedError(
        f"{what} was sent but its answer was lost ({describe_exception(exc)}); not re-sent, "
        "so a paid job is never created twice",
        app=app,
        request_id=request_id,
    )


def _safe_url(url: str) -> str:
    # Signed upload URLs carry credentials in their query: never print it.
    return url.split("?", 1)[0]
