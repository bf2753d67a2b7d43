"""The engine: every fal operation, written once as an AnyIO coroutine.

``AsyncClient`` runs under asyncio and trio unchanged. ``SyncClient`` (``_sync.py``) hands these
same coroutines to a blocking portal; nothing here knows whether a sync caller is waiting.

Cancellation rules (the reason most of the structure below exists):

* A caller that gives up on ``subscribe``/``get`` (cancel scope, timeout, Ctrl-C through the portal,
  ``client_timeout``) makes the client cancel the remote job before the cancellation propagates:
  nobody pays for a result nobody will read. The remote cancel runs shielded and bounded.
* A ``submit`` POST in flight when the caller is cancelled is allowed to finish (shielded,
  bounded by the transport's timeouts) so the client learns the request id and can cancel that
  job too, instead of leaving an orphan running.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, Callable, Literal, Optional, Union

import anyio
import anyio.lowlevel

from . import _validate as check
from ._aclosing import aclosing
from ._auth import Credentials, resolve_credentials
from ._autoupload import contains_uploadable, is_uploadable, upload_inputs
from ._batch_api import AsyncBatchAPI
from ._endpoints import AppId, Endpoints, origin_of, parse_app_id
from ._errors import (
    FalClientConnectionError,
    FalClientError,
    FalClientHTTPError,
    FalClientTimeoutError,
    JobFailedError,
    MissingCredentialsError,
    ServerError,
    UnexpectedResponseError,
    describe_exception,
)
from ._files_api import AsyncFilesAPI
from ._headers import fal_headers, handle_response_headers
from ._lifecycle import UploadOptions
from ._realtime_api import AsyncRealtimeAPI
from ._retry import RetryPolicy, default_policy
from ._sse import SSEDecoder
from ._status import Completed, InProgress, Status, parse_status
from ._transport import Timeouts, Transport, validate_json
from ._upload import CDNTokenCache

logger = logging.getLogger("fal_client")

AnyJSON = dict[str, Any]
Priority = Literal["normal", "low"]
OnEnqueue = Callable[[str], Union[Awaitable[None], None]]
OnQueueUpdate = Callable[[Status], Union[Awaitable[None], None]]

DEFAULT_TIMEOUT = 120.0
# Deadline of ``run``/``stream`` without ``timeout=``. The official client sends those with no
# timeout at all, so a direct run of a model that takes minutes works there: this one stays
# finite, but long enough for any such run (``default_timeout`` bounds each queue request only).
DEFAULT_RUN_TIMEOUT = 3600.0
DEFAULT_POLL_INTERVAL = 0.1
# Polling slows down geometrically from ``interval`` to this cap while a job waits.
MAX_POLL_INTERVAL = 2.0
# Upper bound on the best-effort remote cancel sent when a caller gives up.
CANCEL_GRACE_SECONDS = 5.0
# Reconnections of a status stream cut mid-way before falling back to polling.
STATUS_STREAM_RECONNECTS = 3
# How long to wait for the end of a status stream after its COMPLETED event.
STATUS_STREAM_DRAIN_SECONDS = 0.5
# A status stream silent for this long is reconnected (cheap, and survives half-open sockets).
STATUS_STREAM_IDLE_SECONDS = 30.0
# An origin that answered "no status stream here" is polled for this long, then tried again.
STATUS_STREAM_OFF_SECONDS = 300.0
# Statuses a failed wait may end on that prove the job is not running (it does not exist, is
# not ours, or was cancelled): giving up then sends no cancel.
_NOT_RUNNING_STATUSES = frozenset({400, 401, 403, 404, 410, 499})


class _LateCredentials(Credentials):
    """Stands in when no key was found at construction: each request looks again (as the
    official client does), so setting ``FAL_KEY`` after a ``MissingCredentialsError`` and
    calling again works. The first credentials found are kept."""

    def __init__(self) -> None:
        self._found: Optional[Credentials] = None

    async def header(self, post: Any) -> str:
        if self._found is None:
            self._found = resolve_credentials()  # raises MissingCredentialsError
        return await self._found.header(post)


class _StatusStreamSupport:
    """Which origins have no status stream (they answered 405/501 or not with SSE).

    Per origin and for a while only: one proxy without streams must not turn them off for every
    other server this client talks to, nor for the rest of the process.
    """

    def __init__(self) -> None:
        self._off_until: dict[str, float] = {}

    def usable(self, url: str) -> bool:
        until = self._off_until.get(origin_of(url))
        return until is None or anyio.current_time() >= until

    def turn_off(self, url: str) -> None:
        self._off_until[origin_of(url)] = anyio.current_time() + STATUS_STREAM_OFF_SECONDS


class _LogsSoFar:
    """Every log line of a job exactly once, in order, from statuses that carry either all
    lines so far (polling; a reconnected stream) or only the new ones (a stream's events: fal's
    docs do not say which, the JS client concatenates). A list that begins with everything
    already seen is a full list; anything else is new lines."""

    def __init__(self) -> None:
        self._lines: list[dict[str, Any]] = []

    def add(self, status: Status) -> Status:
        """``status`` with ``logs`` replaced by every line so far (unchanged without logs)."""
        if not isinstance(status, (InProgress, Completed)) or status.logs is None:
            return status
        new = status.logs
        seen = len(self._lines)
        if len(new) >= seen and new[:seen] == self._lines:
            self._lines = list(new)
        else:
            self._lines.extend(new)
        return dataclasses.replace(status, logs=list(self._lines))


async def _invoke(callback: Optional[Callable[..., Any]], *args: Any) -> None:
    if callback is None:
        return
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


def _decode_json(response: Any, *, app: str, request_id: Optional[str]) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise UnexpectedResponseError(
            f"expected a JSON body, got {response.headers.get('content-type', 'no content type')}",
            body=response.content[:200],
            app=app,
            request_id=request_id,
        ) from exc


class AsyncRequestHandle:
    """A queued fal request: watch it, wait for its result, or cancel it.

    Get one from ``AsyncClient.submit`` or re-attach to an existing request with
    ``AsyncClient.get_handle(app, request_id)`` / ``AsyncRequestHandle.from_request_id``.
    """

    def __init__(self, client: AsyncClient, app: Union[str, AppId], request_id: str):
        self._owner = client
        self.app_id = app if isinstance(app, AppId) else parse_app_id(app)
        self.request_id = check.request_id(request_id)
        endpoints = client._transport.endpoints
        self.response_url = endpoints.request(self.app_id, self.request_id)
        self.status_url = endpoints.status(self.app_id, self.request_id)
        self.cancel_url = endpoints.cancel(self.app_id, self.request_id)

    @classmethod
    def from_request_id(
        cls, client: AsyncClient, application: str, request_id: str
    ) -> AsyncRequestHandle:
        """Re-attach to an existing request of ``application`` by its id."""
        return cls(client, application, request_id)

    @property
    def app(self) -> str:
        """The app id this request belongs to."""
        return self.app_id.full

    def __repr__(self) -> str:
        return f"AsyncRequestHandle(app={self.app!r}, request_id={self.request_id!r})"

    def __eq__(self, other: object) -> bool:
        # As the official handles compare: the same request, through the same client.
        if not isinstance(other, AsyncRequestHandle):
            return NotImplemented
        return (
            self.request_id == other.request_id
            and self.response_url == other.response_url
            and self._owner is other._owner
        )

    def __hash__(self) -> int:
        return hash((self.request_id, self.response_url, id(self._owner)))

    async def status(self, *, with_logs: bool = False) -> Status:
        """Fetch the current status: ``Queued``, ``InProgress`` or ``Completed``.

        Args:
            with_logs: include the job's log lines in ``InProgress``/``Completed``.
        """
        transport = self._owner._transport
        response = await transport.request(
            "GET",
            self.status_url,
            repeatable=True,
            params={"logs": "1" if with_logs else "0"},
            app=self.app,
            request_id=self.request_id,
            retry_server_errors=True,
        )
        data = _decode_json(response, app=self.app, request_id=self.request_id)
        return parse_status(data, app=self.app, request_id=self.request_id)

    def iter_events(
        self, *, with_logs: bool = False, interval: float = DEFAULT_POLL_INTERVAL
    ) -> AsyncIterator[Status]:
        """Yield the job's statuses as they change, ending with ``Completed``.

        Uses fal's status stream (server-sent events) so completion is seen at once; falls back
        to polling, starting every ``interval`` seconds and slowing down to 2 s, when the stream
        is unavailable or keeps breaking.
        """
        check.positive_number("interval", interval, optional=False)
        return self._iter_events(with_logs, interval)

    async def _iter_events(self, with_logs: bool, interval: float) -> AsyncIterator[Status]:
        logs = _LogsSoFar()
        async with aclosing(self._iter_raw_events(with_logs, interval)) as statuses:
            async for status in statuses:
                yield logs.add(status)

    async def _iter_raw_events(self, with_logs: bool, interval: float) -> AsyncIterator[Status]:
        streams = self._owner._status_streams
        if streams.usable(self.status_url):
            # Consecutive streams that broke before delivering anything; any event resets it.
            reconnects = 0
            while reconnects <= STATUS_STREAM_RECONNECTS:
                try:
                    async with aclosing(self._stream_statuses(with_logs)) as statuses:
                        async for status in statuses:
                            reconnects = 0
                            yield status
                            if isinstance(status, Completed):
                                return
                    reconnects += 1  # closed before COMPLETED: reconnect
                except _StatusStreamUnsupported:
                    streams.turn_off(self.status_url)
                    break
                except _StatusStreamNotHere:
                    break  # poll this wait; its status request says what is wrong
                except (FalClientConnectionError, ServerError) as exc:
                    reconnects += 1
                    logger.debug(
                        "status stream of %s broke (%s); reconnecting", self.request_id, exc
                    )
        delay = interval
        while True:
            status = await self.status(with_logs=with_logs)
            yield status
            if isinstance(status, Completed):
                return
            await anyio.sleep(delay)
            delay = min(delay * 1.5, max(interval, MAX_POLL_INTERVAL))

    async def _stream_statuses(self, with_logs: bool) -> AsyncIterator[Status]:
        transport = self._owner._transport
        lib = transport.lib
        url = transport.endpoints.status_stream(self.app_id, self.request_id)
        try:
            async with transport.stream(
                "GET",
                url,
                repeatable=True,
                params={"logs": "1" if with_logs else "0"},
                headers={"Accept": "text/event-stream"},
                app=self.app,
                request_id=self.request_id,
                retry_server_errors=True,
                # A silent stream may be a half-open connection: reconnect rather than trust it.
                read_timeout=min(STATUS_STREAM_IDLE_SECONDS, transport.timeouts.read),
            ) as response:
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    raise _StatusStreamUnsupported()
                decoder = SSEDecoder()
                try:
                    async with aclosing(response.aiter_lines()) as lines:
                        async for line in lines:
                            event = decoder.feed(line)
                            if event is None or not event.data:
                                continue
                            try:
                                data = event.json()
                            except ValueError:
                                continue
                            status = parse_status(data, app=self.app, request_id=self.request_id)
                            if isinstance(status, Completed):
                                # fal ends the stream right after COMPLETED. Reading to that end
                                # lets the connection go back to the pool instead of being
                                # discarded half-read (a new TCP connection per job otherwise).
                                with anyio.move_on_after(STATUS_STREAM_DRAIN_SECONDS):
                                    async for _ in lines:
                                        pass
                            yield status
                except lib.TransportError as exc:
                    raise FalClientConnectionError(
                        f"status stream interrupted: {type(exc).__name__}",
                        app=self.app,
                        request_id=self.request_id,
                    ) from exc
        except FalClientHTTPError as exc:
            if exc.status_code in (405, 501):
                # No status stream on this server (an older gateway or a proxy): poll instead.
                raise _StatusStreamUnsupported() from exc
            if exc.status_code == 404:
                # Most likely an unknown request id, which says nothing about streams.
                raise _StatusStreamNotHere() from exc
            raise

    async def get(self, *, interval: float = DEFAULT_POLL_INTERVAL) -> AnyJSON:
        """Wait for the job to finish and return its result.

        If the caller gives up while waiting (cancellation, timeout), the remote job is
        cancelled before the cancellation propagates.

        Raises:
            FalClientHTTPError: the job failed (a subclass by status: ``ValidationError``, ...).
        """
        check.positive_number("interval", interval, optional=False)
        return await self._wait_result(with_logs=False, interval=interval, on_update=None)

    async def _wait_result(
        self, *, with_logs: bool, interval: float, on_update: Optional[OnQueueUpdate]
    ) -> AnyJSON:
        completed: Optional[Completed] = None
        try:
            async with aclosing(self._iter_events(with_logs, interval)) as statuses:
                async for status in statuses:
                    await _invoke(on_update, status)
                    if isinstance(status, Completed):
                        completed = status
            assert completed is not None  # _iter_events always ends on Completed
            return await self._fetch_result(completed)
        except BaseException as exc:
            # Cancellation, a timeout, Ctrl-C, or a callback raising: the caller gives up, and
            # a job that may still run is cancelled. Not when fal just said there is no such
            # job (or not ours, or cancelled already): a cancel would be for nothing.
            proves_not_running = (
                isinstance(exc, FalClientHTTPError) and exc.status_code in _NOT_RUNNING_STATUSES
            )
            if completed is None and not proves_not_running:
                await self._cancel_on_give_up()
            raise

    async def _fetch_result(self, completed: Completed) -> AnyJSON:
        response = await self._owner._transport.request(
            "GET", self.response_url, repeatable=True, app=self.app, request_id=self.request_id
        )
        data = _decode_json(response, app=self.app, request_id=self.request_id)
        if completed.error:
            raise JobFailedError(
                completed.error,
                response.status_code,
                dict(response.headers),
                response,
                completed.error_type,
                body=data,
                app=self.app,
                request_id=self.request_id,
            )
        return data  # type: ignore[no-any-return]

    async def cancel(self) -> None:
        """Ask fal to cancel the job (a queued job never runs; a running one is interrupted).

        Raises:
            FalClientHTTPError: fal refused, e.g. 400 when the job already completed.
        """
        await self._owner._transport.request(
            "PUT",
            self.cancel_url,
            repeatable=True,
            app=self.app,
            request_id=self.request_id,
            retry_server_errors=True,
        )

    async def _cancel_on_give_up(self) -> None:
        # Shielded so it runs although our task is being cancelled; bounded so giving up is prompt.
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE_SECONDS):
            try:
                await self.cancel()
                logger.debug("cancelled remote job %s of %s", self.request_id, self.app)
            except FalClientError as exc:
                logger.debug("remote cancel of %s failed: %s", self.request_id, exc)


class RefusedPrivateClient:
    """The official clients' private ``_client`` (their httpx client), refused loudly.

    Some test suites replace it with an httpx client on a mock transport. Here that would be
    silently ignored while real requests went out, so reading or setting it raises an
    ``AttributeError`` that says what to do instead.
    """

    _MESSAGE = (
        "fal_client clients have no '_client' attribute to replace: pass your own HTTP client "
        "with AsyncClient(http_client=httpx.AsyncClient(transport=...)) (httpx or httpx2), or "
        "point the client at a local server with run_url=/queue_url=/rest_url=/cdn_url= (the "
        "emulator in fal_client.testing speaks fal's protocol); to re-attach to a request, "
        "use client.get_handle(application, request_id)"
    )

    def __get__(self, instance: object, owner: Optional[type] = None) -> Any:
        if instance is None:
            return self
        raise AttributeError(self._MESSAGE)

    def __set__(self, instance: object, value: Any) -> None:
        raise AttributeError(self._MESSAGE)

    @classmethod
    def guard(cls, instance: object) -> None:
        """Make ``instance.__dict__["_client"] = ...`` (how harnesses written for the official
        client inject a transport: its ``_client`` is a cached property stored there) raise
        too, instead of landing in a dict this descriptor ignores. Ordinary attributes are
        stored as before (Python writes them without calling ``__setitem__``)."""
        instance.__dict__ = _GuardedAttributes(instance.__dict__)


class _GuardedAttributes(dict):  # type: ignore[type-arg]
    """A client's attribute dict that refuses a ``_client`` entry."""

    def __setitem__(self, key: Any, value: Any) -> None:
        if key == "_client":
            raise AttributeError(RefusedPrivateClient._MESSAGE)
        super().__setitem__(key, value)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key == "_client":
            raise AttributeError(RefusedPrivateClient._MESSAGE)
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key in dict(*args, **kwargs):
            if key == "_client":
                raise AttributeError(RefusedPrivateClient._MESSAGE)
        super().update(*args, **kwargs)


class _StatusStreamUnsupported(Exception):
    """The server has no status stream at all; poll instead."""


class _StatusStreamNotHere(Exception):
    """The status stream of this request answered 404; poll this wait instead."""


class AsyncClient(AsyncFilesAPI, AsyncBatchAPI, AsyncRealtimeAPI):
    """The asynchronous fal client (asyncio and trio).

    Args:
        key: the fal API key; defaults to the environment (``FAL_KEY``...), see the docs.
            Kept as ``client.key`` (``None`` when it comes from the environment), as in the
            official client; never shown in ``repr``.
        default_timeout: the deadline in seconds of each queue request (submit, status,
            result, cancel) and each upload request. ``run`` and ``stream`` without
            ``timeout=`` wait up to an hour (``DEFAULT_RUN_TIMEOUT``): the official client
            does not bound them at all.
        run_url: base URL of fal.run (default from ``FAL_RUN_URL``, else production).
        queue_url: base URL of the queue (default from ``FAL_QUEUE_URL``, else production).
        rest_url: base URL of the REST API (default from ``FAL_REST_URL``, else production).
        cdn_url: base URL of the CDN (default from ``FAL_CDN_URL``, else production).
        retry: the ``RetryPolicy`` for transient failures.
        max_retries: shortcut for ``RetryPolicy(max_attempts=max_retries + 1)``.
        headers: extra headers sent with every request.
        http_client: your own ``httpx2.AsyncClient``/``httpx.AsyncClient`` to send requests with.
        http_library: ``"httpx2"`` (default) or ``"httpx"`` when no client is injected.
        connect_timeout: per-attempt connect timeout in seconds.
        max_connections: size of the connection pool.
        upload_options: how uploads are cut into parts (``UploadOptions``).
        auto_upload: upload ``pathlib.Path``s, open binary files, ``bytes`` and PIL images found
            in the arguments of ``run``/``submit``/``subscribe``/``stream`` and send their URLs.

    Use ``async with AsyncClient() as client:`` or call ``await client.aclose()``.
    """

    def __init__(
        self,
        key: Optional[str] = None,
        default_timeout: float = DEFAULT_TIMEOUT,
        *,
        run_url: Optional[str] = None,
        queue_url: Optional[str] = None,
        rest_url: Optional[str] = None,
        cdn_url: Optional[str] = None,
        retry: Optional[RetryPolicy] = None,
        max_retries: Optional[int] = None,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Any = None,
        http_library: Optional[str] = None,
        connect_timeout: float = 10.0,
        max_connections: int = 100,
        upload_options: Optional[UploadOptions] = None,
        auto_upload: bool = False,
    ):
        self.default_timeout = check.required_positive("default_timeout", default_timeout)
        #: The key given to the constructor (``None`` when read from the environment).
        self.key = key
        if retry is not None and max_retries is not None:
            raise ValueError("pass either retry= or max_retries=, not both")
        if max_retries is not None:
            if not isinstance(max_retries, int) or max_retries < 0:
                raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
            retry = RetryPolicy(max_attempts=max_retries + 1)
        env_endpoints = Endpoints.from_env()
        endpoints = Endpoints(
            run_url=run_url or env_endpoints.run_url,
            queue_url=queue_url or env_endpoints.queue_url,
            rest_url=rest_url or env_endpoints.rest_url,
            cdn_url=cdn_url or env_endpoints.cdn_url,
            # A run_url= of its own also moves the realtime host with it.
            realtime_url=None if run_url else env_endpoints.realtime_url,
        )
        credentials: Credentials
        try:
            credentials = resolve_credentials(key)
        except MissingCredentialsError:
            # As in the official client, the error surfaces at the first request, not here.
            credentials = _LateCredentials()
        self._transport = Transport(
            endpoints=endpoints,
            credentials=credentials,
            retry=retry or default_policy(),
            timeouts=Timeouts(connect=connect_timeout, read=self.default_timeout),
            default_headers=check.header_map("headers", headers),
            http_client=http_client,
            http_library=http_library,
            max_connections=max_connections,
        )
        self._status_streams = _StatusStreamSupport()
        if upload_options is not None:
            if not isinstance(upload_options, UploadOptions):
                raise TypeError(
                    f"upload_options must be an UploadOptions, got {type(upload_options).__name__}"
                )
            self.upload_options = upload_options
        if not isinstance(auto_upload, bool):
            raise TypeError(f"auto_upload must be a bool, got {type(auto_upload).__name__}")
        #: Upload files, bytes and images found in arguments and send their URLs instead.
        self.auto_upload = auto_upload
        self._cdn_tokens = CDNTokenCache()
        RefusedPrivateClient.guard(self)

    def __repr__(self) -> str:
        e = self._transport.endpoints
        return f"AsyncClient(run_url={e.run_url!r}, queue_url={e.queue_url!r})"

    _client = RefusedPrivateClient()

    @property
    def endpoints(self) -> Endpoints:
        """The base URLs this client talks to."""
        return self._transport.endpoints

    async def aclose(self) -> None:
        """Close the connection pool of the running event loop."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- synchronous run and streaming -----------------------------------------------
    async def run(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        method: str = "POST",
        path: str = "",
        timeout: Optional[float] = None,
        start_timeout: Optional[float] = None,
        hint: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> AnyJSON:
        """Run an app directly (``fal.run``) and return its JSON result.

        Args:
            application: the app id, e.g. ``"fal-ai/fast-sdxl"``.
            arguments: the JSON input.
            method: HTTP method (``POST``; ``GET`` sends the arguments as query parameters).
            path: a sub-path of the app.
            timeout: deadline for the whole call in seconds (default ``DEFAULT_RUN_TIMEOUT``,
                an hour).
            start_timeout: server-side limit on the time before the app starts (> 1 s).
            hint: a runner hint (``X-Fal-Runner-Hint``).
            headers: extra request headers.

        Raises:
            FalClientTimeoutError: ``timeout`` passed.
            FalClientHTTPError: fal or the app answered with an error.
        """
        app = parse_app_id(application)
        method = method.upper()
        if method not in ("POST", "GET", "PUT", "PATCH", "DELETE"):
            raise ValueError(f"method must be an HTTP method like 'POST', got {method!r}")
        deadline = check.positive_number("timeout", timeout) or DEFAULT_RUN_TIMEOUT
        request_headers = fal_headers(headers, hint=hint, start_timeout=start_timeout)
        content = None
        params = None
        if method == "GET":
            if not isinstance(arguments, Mapping):
                raise TypeError("arguments must be a dict for a GET run")
            params = {str(k): str(v) for k, v in arguments.items()}
        else:
            content = self._check_arguments(arguments)
        with anyio.move_on_after(deadline) as scope:
            if method != "GET":
                content = await self._serialised(arguments, content)
            response = await self._transport.request(
                method,
                self._transport.endpoints.run(app, path),
                repeatable=method in ("GET", "PUT", "DELETE"),
                content=content,
                params=params,
                headers=request_headers,
                read_timeout=deadline,
                app=app.full,
            )
            handle_response_headers(response.headers)
            return _decode_json(  # type: ignore[no-any-return]
                response, app=app.full, request_id=response.headers.get("x-fal-request-id")
            )
        assert scope.cancelled_caught
        raise FalClientTimeoutError(deadline, app=app.full, message="run() gave up waiting")

    def stream(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "/stream",
        timeout: Optional[float] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> AsyncIterator[AnyJSON]:
        """Stream an app's server-sent events; each item is one decoded JSON event.

        The last event is usually the final result. ``timeout`` bounds the whole stream
        (default ``DEFAULT_RUN_TIMEOUT``, an hour). Leaving the loop early closes the
        connection. ``path`` is appended to the app id (``stream("owner/app")`` POSTs to
        ``owner/app/stream``), unless the id's own sub-path already ends with it.

        Raises:
            FalClientHTTPError: the app refused the request (checked before any event).
        """
        app = parse_app_id(application)
        deadline = check.positive_number("timeout", timeout) or DEFAULT_RUN_TIMEOUT
        content = self._check_arguments(arguments)
        request_headers = fal_headers(headers)
        request_headers["Accept"] = "text/event-stream"
        return self._stream(app, path, arguments, content, request_headers, deadline)

    async def _stream(
        self,
        app: AppId,
        path: str,
        arguments: Any,
        checked: Optional[bytes],
        headers: dict[str, str],
        deadline: float,
    ) -> AsyncIterator[AnyJSON]:
        transport = self._transport
        lib = transport.lib
        content = await self._serialised(arguments, checked)
        # No cancel scope may stay open across a ``yield`` of an async generator, so the
        # deadline is enforced as per-read timeouts plus a check between events.
        ends_at = anyio.current_time() + deadline
        async with transport.stream(
            "POST",
            transport.endpoints.run(app, path),
            repeatable=False,
            content=content,
            headers=headers,
            read_timeout=deadline,
            app=app.full,
        ) as response:
            request_id = response.headers.get("x-fal-request-id")
            content_type = response.headers.get("content-type", "")
            if "text/event-stream" not in content_type:
                await response.aread()
                # Some apps answer a stream request with one JSON body: deliver it as one event.
                yield _decode_json(response, app=app.full, request_id=request_id)
                return
            decoder = SSEDecoder()

            def timed_out() -> FalClientTimeoutError:
                return FalClientTimeoutError(
                    deadline, request_id, app=app.full, message="stream() gave up waiting"
                )

            try:
                async with aclosing(response.aiter_lines()) as lines:
                    async for line in lines:
                        event = decoder.feed(line)
                        if event is not None and event.data:
                            try:
                                item = event.json()
                            except ValueError as exc:
                                raise UnexpectedResponseError(
                                    "stream event is not JSON",
                                    body=event.data[:200],
                                    app=app.full,
                                    request_id=request_id,
                                ) from exc
                            yield item
                        if anyio.current_time() > ends_at:
                            raise timed_out()
            except lib.TimeoutException as exc:
                raise timed_out() from exc
            except lib.TransportError as exc:
                raise FalClientConnectionError(
                    f"stream interrupted: {describe_exception(exc)}",
                    app=app.full,
                    request_id=request_id,
                ) from exc

    # --- the queue --------------------------------------------------------------------
    async def submit(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "",
        hint: Optional[str] = None,
        webhook_url: Optional[str] = None,
        priority: Optional[Priority] = None,
        headers: Optional[Mapping[str, str]] = None,
        start_timeout: Optional[float] = None,
    ) -> AsyncRequestHandle:
        """Put a job in fal's queue and return its handle at once.

        Args:
            application: the app id.
            arguments: the JSON input.
            path: a sub-path of the app.
            hint: a runner hint.
            webhook_url: fal POSTs the result there when the job finishes.
            priority: ``"normal"`` or ``"low"``.
            headers: extra request headers.
            start_timeout: server-side limit on queue wait before the job starts (> 1 s).

        If the caller is cancelled while the submit is in flight, the submit is completed and
        the new job cancelled, so no orphan job runs. A submit whose answer was lost is not
        re-sent (``SubmitNotConfirmedError``).
        """
        app = parse_app_id(application)
        checked = self._check_arguments(arguments)
        request_headers = fal_headers(
            headers, hint=hint, start_timeout=start_timeout, priority=priority
        )
        url = self._transport.endpoints.submit(
            app, path, check.http_url("webhook_url", webhook_url)
        )
        content = await self._serialised(arguments, checked)
        with anyio.CancelScope(shield=True):
            response = await self._transport.request(
                "POST",
                url,
                repeatable=False,
                content=content,
                headers=request_headers,
                app=app.full,
            )
        handle_response_headers(response.headers)
        data = _decode_json(response, app=app.full, request_id=None)
        request_id = data.get("request_id") if isinstance(data, dict) else None
        if not isinstance(request_id, str):
            raise UnexpectedResponseError(
                "submit response has no request_id", body=data, app=app.full
            )
        handle = AsyncRequestHandle(self, app, request_id)
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except anyio.get_cancelled_exc_class():
            await handle._cancel_on_give_up()
            raise
        return handle

    async def subscribe(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "",
        hint: Optional[str] = None,
        with_logs: bool = False,
        interval: float = DEFAULT_POLL_INTERVAL,
        on_enqueue: Optional[OnEnqueue] = None,
        on_queue_update: Optional[OnQueueUpdate] = None,
        priority: Optional[Priority] = None,
        headers: Optional[Mapping[str, str]] = None,
        start_timeout: Optional[float] = None,
        client_timeout: Optional[float] = None,
        webhook_url: Optional[str] = None,
    ) -> AnyJSON:
        """Submit a job, wait for it, and return its result.

        Args:
            on_enqueue: called with the request id once the job is queued (sync or async).
            on_queue_update: called with each ``Status`` while waiting (sync or async).
            with_logs: include log lines in the statuses passed to ``on_queue_update``.
            interval: the first polling gap when no status stream is available.
            client_timeout: total deadline in seconds; on expiry the job is cancelled and
                ``FalClientTimeoutError`` raised. Also the default ``start_timeout``.

        The other arguments are as for ``submit``.

        Giving up in any way (cancellation, timeout, a callback raising) cancels the remote job.
        """
        check.positive_number("interval", interval, optional=False)
        client_timeout = check.positive_number("client_timeout", client_timeout)
        start_timeout = check.start_timeout(start_timeout)
        if client_timeout is not None:
            if start_timeout is None and client_timeout > 1:
                start_timeout = client_timeout
            elif start_timeout is not None and start_timeout > client_timeout:
                warnings.warn(
                    f"start_timeout ({start_timeout:g}s) is larger than client_timeout "
                    f"({client_timeout:g}s); the client gives up first",
                    UserWarning,
                    stacklevel=2,
                )
        handle: Optional[AsyncRequestHandle] = None

        async def flow() -> AnyJSON:
            nonlocal handle
            handle = await self.submit(
                application,
                arguments,
                path=path,
                hint=hint,
                webhook_url=webhook_url,
                priority=priority,
                headers=headers,
                start_timeout=start_timeout,
            )
            try:
                await _invoke(on_enqueue, handle.request_id)
            except BaseException:
                await handle._cancel_on_give_up()
                raise
            return await handle._wait_result(
                with_logs=with_logs, interval=interval, on_update=on_queue_update
            )

        if client_timeout is None:
            return await flow()
        with anyio.move_on_after(client_timeout):
            return await flow()
        raise FalClientTimeoutError(
            client_timeout,
            handle.request_id if handle else None,
            app=application,
            message="no result within client_timeout; the job was cancelled",
        )

    async def get_handle(self, application: str, request_id: str) -> AsyncRequestHandle:
        """A handle for an existing request of ``application`` (no request is sent).

        On ``AsyncClient`` it is awaited, as in the official client.
        """
        return AsyncRequestHandle(self, application, request_id)

    async def status(self, application: str, request_id: str, *, with_logs: bool = False) -> Status:
        """The current status of a queued request."""
        return await AsyncRequestHandle(self, application, request_id).status(with_logs=with_logs)

    async def result(self, application: str, request_id: str) -> AnyJSON:
        """Wait for a queued request to finish and return its result."""
        return await AsyncRequestHandle(self, application, request_id).get()

    async def cancel(self, application: str, request_id: str) -> None:
        """Cancel a queued request."""
        await AsyncRequestHandle(self, application, request_id).cancel()

    # --- shared -----------------------------------------------------------------------
    def _check_arguments(self, arguments: Any) -> Optional[bytes]:
        """The JSON body, checked now; ``None`` when files must be uploaded first (auto-upload),
        in which case everything else in ``arguments`` has been checked."""
        if self.auto_upload and contains_uploadable(arguments):
            validate_json(arguments, placeholder=is_uploadable)
            return None
        return validate_json(arguments)

    async def _serialised(self, arguments: Any, checked: Optional[bytes]) -> bytes:
        if checked is not None:
            return checked
        return validate_json(await upload_inputs(self, arguments))


__all__ = ["AnyJSON", "AsyncClient", "AsyncRequestHandle", "Priority"]
