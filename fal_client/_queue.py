"""The queue resource: submit, wait, watch, cancel; and ``AsyncRequestHandle``.

Cancellation rules (the reason most of the structure below exists):

* A caller that gives up on ``subscribe``/``get`` (cancel scope, timeout, Ctrl-C through the portal,
  ``client_timeout``) makes the client cancel the remote job before the cancellation propagates:
  nobody pays for a result nobody will read. The remote cancel runs shielded and bounded. Not when
  the server has just said the job cannot be running (it does not exist, is not ours, was
  cancelled): a cancel would be for nothing.
* A ``submit`` POST in flight when the caller is cancelled is allowed to finish (shielded,
  bounded by the transport's timeouts) so the client learns the request id and can cancel that
  job too, instead of leaving an orphan running.
"""

from __future__ import annotations

import inspect
import json
import logging
import warnings
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional, Protocol, Union

import anyio
import anyio.lowlevel

from . import _deadline as deadline
from . import _reconcile as reconcile
from . import _sse as sse
from . import _validate as check
from ._aclosing import aclosing
from ._autoupload import as_sent, check_arguments, serialise
from ._endpoints import AppId, join_path, parse_app_id
from ._engine import Engine, decode_json
from ._errors import (
    FalClientConnectionError,
    FalClientError,
    FalClientHTTPError,
    FalClientTimeoutError,
    JobFailedError,
    ServerError,
    SubmitNotConfirmedError,
    SubmitNotRecoveredError,
    UnexpectedResponseError,
)
from ._headers import fal_headers, handle_response_headers
from ._reconcile import LostSubmit, Match, Verdict
from ._recovery import Recovery
from ._retry import RetryPolicy
from ._schema_cache import SCHEMAS
from ._status import Completed, LogsSoFar, Status, parse_status
from ._types import AnyJSON, OnEnqueue, OnQueueUpdate, Priority

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "AsyncRequestHandle",
    "Queue",
    "SubmitInFlightAtDeadline",
    "SubscribePlan",
    "cancel_remotely",
    "fetch_result",
]

logger = logging.getLogger("fal_client")

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
# Sends of one submit at most, when the history proves each lost one created no job.
MAX_SUBMIT_SENDS = 3
# Statuses a failed wait may end on that prove the job is not running (it does not exist, is
# not ours, or was cancelled): giving up then sends no cancel.
_NOT_RUNNING_STATUSES = frozenset({400, 401, 403, 404, 410, 499})


class SubmitsJobs(Protocol):
    """A client surface's public ``submit`` (``AsyncClient.submit``), which ``subscribe``
    passes through, as the official client's does."""

    async def __call__(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = ...,
        hint: Optional[str] = ...,
        webhook_url: Optional[str] = ...,
        priority: Optional[Priority] = ...,
        headers: Optional[Mapping[str, str]] = ...,
        start_timeout: Optional[float] = ...,
        validate: bool = ...,
        recover_lost_submit: bool = ...,
    ) -> AsyncRequestHandle: ...


@dataclass(frozen=True)
class SubscribePlan:
    """``subscribe``'s arguments that are not ``submit``'s, checked before anything is sent,
    and its timeouts reconciled: the one reading of them for both surfaces' ``subscribe``."""

    client_timeout: Optional[float]
    start_timeout: Optional[float]

    @classmethod
    def read(
        cls,
        *,
        interval: float,
        client_timeout: Optional[float],
        start_timeout: Optional[float],
        on_enqueue: Optional[OnEnqueue],
        on_queue_update: Optional[OnQueueUpdate],
        stacklevel: int,
    ) -> SubscribePlan:
        """Check the arguments (``stacklevel``: where a warning points, counted from here)."""
        check.positive_number("interval", interval, optional=False)
        for name, callback in (("on_enqueue", on_enqueue), ("on_queue_update", on_queue_update)):
            if callback is not None and not callable(callback):
                raise TypeError(f"{name} must be a callable, got {callback!r}")
        client_timeout = check.positive_number("client_timeout", client_timeout)
        start_timeout = check.start_timeout(start_timeout)
        if client_timeout is not None:
            if start_timeout is None and client_timeout > 1:
                start_timeout = client_timeout  # the job should not start after we gave up
            elif start_timeout is not None and start_timeout > client_timeout:
                warnings.warn(
                    f"start_timeout ({start_timeout:g}s) is larger than client_timeout "
                    f"({client_timeout:g}s); the client gives up first",
                    UserWarning,
                    stacklevel=stacklevel + 1,
                )
        return cls(client_timeout, start_timeout)

    def expired(self, app: str, request_id: Optional[str]) -> FalClientTimeoutError:
        """The error of a subscribe whose ``client_timeout`` passed (the job was cancelled)."""
        assert self.client_timeout is not None
        return FalClientTimeoutError(
            self.client_timeout,
            request_id,
            app=app,
            message="no result within client_timeout; the job was cancelled",
        )

    def expired_in_submit(self, app: str) -> FalClientTimeoutError:
        """The error of a subscribe whose ``client_timeout`` passed with the submit in flight."""
        assert self.client_timeout is not None
        return FalClientTimeoutError(
            self.client_timeout,
            app=app,
            message="the submit was still in flight at the deadline: the job may have "
            "been created, but its request id never arrived, so it was not cancelled",
        )


class HasEngine(Protocol):
    """What ``AsyncRequestHandle.from_request_id`` needs of a client: its engine."""

    @property
    def engine(self) -> Engine: ...


async def _invoke(callback: Optional[Callable[..., Any]], *args: Any) -> None:
    if callback is None:
        return
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


class AsyncRequestHandle:
    """A queued fal request: watch it, wait for its result, or cancel it.

    Get one from ``AsyncClient.submit`` or re-attach to an existing request with
    ``AsyncClient.get_handle(app, request_id)`` / ``AsyncRequestHandle.from_request_id``.
    """

    def __init__(
        self,
        engine: Engine,
        app: Union[str, AppId],
        request_id: str,
        *,
        started_here: bool = False,
    ):
        self._engine = engine
        # Whether this client created the job (submit): only then does giving up on a wait
        # cancel it by default. A handle re-attached to an existing request (get_handle,
        # result) leaves the job to whoever started it unless asked (cancel_on_give_up=True).
        self._started_here = started_here
        # Set once a caller gave up on the job here and its remote cancel went out (the sync
        # subscribe reads it: a Ctrl-C that the wait handled needs no second cancel).
        self._given_up = False
        self.app_id = app if isinstance(app, AppId) else parse_app_id(app)
        self.request_id = check.request_id(request_id)
        endpoints = engine.endpoints
        self.response_url = endpoints.request(self.app_id, self.request_id)
        self.status_url = endpoints.status(self.app_id, self.request_id)
        self.cancel_url = endpoints.cancel(self.app_id, self.request_id)

    @classmethod
    def from_request_id(
        cls, client: HasEngine, application: str, request_id: str
    ) -> AsyncRequestHandle:
        """Re-attach to an existing request of ``application`` through ``client`` (an
        ``AsyncClient``) by its id."""
        return cls(client.engine, application, request_id)

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
            and self._engine is other._engine
        )

    def __hash__(self) -> int:
        return hash((self.request_id, self.response_url, id(self._engine)))

    async def status(self, *, with_logs: bool = False) -> Status:
        """Fetch the current status: ``Queued``, ``InProgress`` or ``Completed``.

        Args:
            with_logs: include the job's log lines in ``InProgress``/``Completed``.
        """
        transport = self._engine.transport
        response = await transport.request(
            "GET",
            self.status_url,
            repeatable=True,
            params={"logs": "1" if with_logs else "0"},
            app=self.app,
            request_id=self.request_id,
            retry_server_errors=True,
        )
        data = decode_json(response, app=self.app, request_id=self.request_id)
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
        logs = LogsSoFar()
        async with aclosing(self._iter_raw_events(with_logs, interval)) as statuses:
            async for status in statuses:
                yield logs.add(status)

    async def _iter_raw_events(self, with_logs: bool, interval: float) -> AsyncIterator[Status]:
        streams = self._engine.status_streams
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
        transport = self._engine.transport
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
                with transport.reading("status stream", app=self.app, request_id=self.request_id):
                    lines = response.aiter_lines()
                    async with aclosing(lines), aclosing(sse.events(lines)) as received:
                        async for event in received:
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
                                    async for _ in received:
                                        pass
                            yield status
        except FalClientHTTPError as exc:
            if exc.status_code in (405, 501):
                # No status stream on this server (an older gateway or a proxy): poll instead.
                raise _StatusStreamUnsupported() from exc
            if exc.status_code == 404:
                # Most likely an unknown request id, which says nothing about streams.
                raise _StatusStreamNotHere() from exc
            raise

    async def get(
        self,
        *,
        interval: float = DEFAULT_POLL_INTERVAL,
        cancel_on_give_up: Optional[bool] = None,
        with_logs: bool = False,
        on_queue_update: Optional[OnQueueUpdate] = None,
    ) -> AnyJSON:
        """Wait for the job to finish and return its result.

        If the caller gives up while waiting (cancellation, timeout, Ctrl-C), the remote job is
        cancelled before the cancellation propagates when this client started it (a handle
        from ``submit``). A handle re-attached to an existing request (``get_handle``) leaves
        the job running: someone else may be waiting for it. ``cancel_on_give_up`` overrides
        either default.

        Args:
            interval: the first polling gap when no status stream is available.
            cancel_on_give_up: cancel the job when the caller gives up (see above).
            with_logs: include log lines in the statuses passed to ``on_queue_update``.
            on_queue_update: called with each ``Status`` while waiting (sync or async), as in
                ``subscribe``.

        Raises:
            FalClientHTTPError: the job failed (a subclass by status: ``ValidationError``, ...).
        """
        check.positive_number("interval", interval, optional=False)
        if on_queue_update is not None and not callable(on_queue_update):
            raise TypeError(f"on_queue_update must be a callable, got {on_queue_update!r}")
        return await self._wait_result(
            with_logs=with_logs,
            interval=interval,
            on_update=on_queue_update,
            cancel=cancel_on_give_up,
        )

    async def _wait_result(
        self,
        *,
        with_logs: bool,
        interval: float,
        on_update: Optional[OnQueueUpdate],
        cancel: Optional[bool] = None,
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
            cancels = self._started_here if cancel is None else cancel
            if completed is None and cancels and not proves_not_running:
                await self._cancel_on_give_up()
            raise

    async def _fetch_result(self, completed: Completed) -> AnyJSON:
        response = await self._engine.transport.request(
            "GET", self.response_url, repeatable=True, app=self.app, request_id=self.request_id
        )
        data = decode_json(response, app=self.app, request_id=self.request_id)
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
        await self._engine.transport.request(
            "PUT",
            self.cancel_url,
            repeatable=True,
            app=self.app,
            request_id=self.request_id,
            retry_server_errors=True,
        )

    async def _cancel_on_give_up(self) -> None:
        self._given_up = True
        # Shielded so it runs although our task is being cancelled; bounded so giving up is prompt.
        with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_GRACE_SECONDS):
            try:
                await self.cancel()
                logger.debug("cancelled remote job %s of %s", self.request_id, self.app)
            except FalClientError as exc:
                logger.debug("remote cancel of %s failed: %s", self.request_id, exc)


async def fetch_result(handle: AsyncRequestHandle, completed: Completed) -> AnyJSON:
    """The result of a job whose final status is ``completed`` (``map`` waits on its own)."""
    return await handle._fetch_result(completed)


async def cancel_remotely(handle: AsyncRequestHandle) -> None:
    """The best-effort cancel sent when a caller gives up (shielded, bounded, never raises)."""
    await handle._cancel_on_give_up()


class SubmitInFlightAtDeadline(Exception):
    """subscribe's ``client_timeout`` passed while its submit POST was in flight (see
    ``Queue.submit``)."""


class _StatusStreamUnsupported(Exception):
    """The server has no status stream at all; poll instead."""


class _StatusStreamNotHere(Exception):
    """The status stream of this request answered 404; poll this wait instead."""


class Queue:
    """fal's queue for one client. Each public method here is the one definition of its
    operation, signature and docstring: ``AsyncClient``'s method of the same name is generated
    from it (``tools/gen_sync_api.py``), and ``SyncClient``'s from that."""

    def __init__(self, engine: Engine, recovery: Optional[Recovery] = None):
        self._engine = engine
        self._recovery = recovery

    @property
    def recovery(self) -> Optional[Recovery]:
        """What looks lost submits up in the request history (``None``: nothing does)."""
        return self._recovery

    @property
    def retry_policy(self) -> RetryPolicy:
        """The client's retry policy (``map`` waits a refused submit's backoff by it)."""
        return self._engine.transport.retry

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
        validate: bool = False,
        recover_lost_submit: bool = False,
        retry_rate_limits: bool = True,
        claimed: Optional[Collection[str]] = None,
        recovery_timeout: Optional[float] = None,
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
            validate: check ``arguments`` against the endpoint's input schema (from fal's
                platform API, cached) first, and raise ``InputValidationError`` listing every
                problem instead of sending them; when no schema can be had, warn once
                (``SchemaUnavailableWarning``) and send them unchecked.
            recover_lost_submit: when the submit's answer is lost, look its job up in the
                request history (platform API) instead of raising at once: found, the handle
                of that job is returned as if the submit had answered; proved never created,
                the submit is sent again; undecided (two requests with this input in the
                window, not listed in time, the history unreadable), ``SubmitNotRecoveredError``
                is raised, nothing re-sent. See docs/reliability.md for what proves what.

        If the caller is cancelled while the submit is in flight, the submit is completed and
        the new job cancelled, so no orphan job runs. A submit whose answer was lost is not
        re-sent (``SubmitNotConfirmedError``) unless the request history proves it created no
        job (``recover_lost_submit``).
        """
        # ``retry_rate_limits=False`` (map's): a 429 is raised at once as ``RateLimitError``
        # (no job was created), so map puts that input back in line itself and uses the wait
        # for others. ``claimed`` (map's): request ids the caller holds already, which a lost
        # submit's job cannot be; ``recovery_timeout``: the lookup's bound.
        check.flag("validate", validate)
        check.flag("recover_lost_submit", recover_lost_submit)
        # subscribe's client_timeout, if this submit is part of one (see _deadline.py).
        give_up_at = deadline.in_loop_time()
        app = parse_app_id(application)
        checked = check_arguments(self._engine, arguments)
        request_headers = fal_headers(
            headers, hint=hint, start_timeout=start_timeout, priority=priority
        )
        url = self._engine.transport.endpoints.submit(
            app, path, check.http_url("webhook_url", webhook_url)
        )
        if validate:
            await SCHEMAS.check_before_sending(
                self._engine, join_path(app, path), as_sent(arguments, checked)
            )
        content = await serialise(self._engine, arguments, checked)
        sends = 0
        while True:
            sends += 1
            not_before = datetime.now(timezone.utc)
            try:
                request_id = await self._send_submit(
                    app, url, content, request_headers, give_up_at, retry_rate_limits
                )
                break
            except SubmitNotConfirmedError as exc:
                if not recover_lost_submit or self._recovery is None:
                    raise
                lost = LostSubmit(
                    join_path(app, path),
                    json.loads(content),  # exactly what the POST carried, uploads done
                    not_before,
                    datetime.now(timezone.utc),
                    reconcile.CLOCK_SKEW,
                )
                # Shielded as the POST was: a caller cancelled now still gets the job it made
                # found, and cancelled below, instead of leaving it orphaned.
                with anyio.CancelScope(shield=True) as shield:
                    if give_up_at is not None:
                        shield.deadline = give_up_at
                    match = await self._recover(lost, exc, app.full, claimed, recovery_timeout)
                if shield.cancelled_caught:
                    raise SubmitInFlightAtDeadline() from exc
                if match.verdict is Verdict.FOUND:
                    request_id = match.request_id
                    logger.debug("lost submit to %s found: %s", app.full, request_id)
                    break
                # Proved absent: the POST made no job, so sending it again makes the first.
                if sends >= MAX_SUBMIT_SENDS:
                    raise SubmitNotRecoveredError(
                        f"{exc.message}; the request history proved it created no job, "
                        f"{sends} times in a row: given up",
                        reason=f"lost {sends} times",
                        app=app.full,
                    ) from exc
                logger.debug("lost submit to %s proved absent: sending it again", app.full)
        handle = AsyncRequestHandle(self._engine, app, request_id, started_here=True)
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except anyio.get_cancelled_exc_class():
            await handle._cancel_on_give_up()
            raise
        return handle

    async def find_lost(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "",
        not_before: datetime,
        not_after: datetime,
        claimed: Collection[str] = (),
    ) -> Optional[AsyncRequestHandle]:
        """The job a submit of ``arguments`` made between ``not_before`` and ``not_after``
        (UTC) that nobody heard of (``map``'s resume: the process died with it in flight).

        Returns:
            Its handle (this client's job: giving up on it cancels it) when the request
            history lists it; ``None`` when the history proves that no such job exists.

        Raises:
            SubmitNotRecoveredError: the history could not decide (see ``Recovery.find``), or
                the arguments hold files still to upload (their URLs cannot be known again).
        """
        app = parse_app_id(application)
        checked = check_arguments(self._engine, arguments)
        if checked is None or self._recovery is None:
            raise SubmitNotRecoveredError(
                "a submit of an earlier run may have created a job nobody recorded, and it "
                "cannot be looked up: "
                + (
                    "its arguments hold files to upload, whose URLs differ each time"
                    if checked is None
                    else "this client has no request history"
                ),
                reason="cannot be looked up",
                app=app.full,
            )
        lost = LostSubmit(
            join_path(app, path), json.loads(checked), not_before, not_after, reconcile.CLOCK_SKEW
        )
        try:
            match = await self._recovery.find(lost, claimed, app=app.full)
        except SubmitNotRecoveredError as undecided:
            raise SubmitNotRecoveredError(
                "a submit of an earlier run was in flight when it stopped, so it may have "
                f"created a job nobody recorded; {undecided.message}",
                reason=undecided.reason,
                candidates=undecided.candidates,
                app=app.full,
            ) from None
        if match.verdict is Verdict.FOUND:
            return AsyncRequestHandle(self._engine, app, match.request_id, started_here=True)
        return None

    async def _send_submit(
        self,
        app: AppId,
        url: str,
        content: bytes,
        headers: Mapping[str, str],
        give_up_at: Optional[float],
        retry_rate_limits: bool,
    ) -> str:
        """One submit POST; its request id."""
        # Shielded: a caller cancelled while the POST is in flight still learns the request id,
        # so the new job can be cancelled instead of running orphaned. Except past
        # ``give_up_at`` (subscribe's client_timeout, which bounds the whole call): then the
        # call ends, saying that the job may exist.
        with anyio.CancelScope(shield=True) as shield:
            if give_up_at is not None:
                shield.deadline = give_up_at
            response = await self._engine.transport.request(
                "POST",
                url,
                repeatable=False,
                content=content,
                headers=headers,
                app=app.full,
                retry_rate_limits=retry_rate_limits,
            )
        if shield.cancelled_caught:
            raise SubmitInFlightAtDeadline()
        handle_response_headers(response.headers)
        data = decode_json(response, app=app.full, request_id=None)
        request_id = data.get("request_id") if isinstance(data, dict) else None
        if not isinstance(request_id, str):
            raise UnexpectedResponseError(
                "submit response has no request_id", body=data, app=app.full
            )
        return request_id

    async def _recover(
        self,
        lost: LostSubmit,
        exc: SubmitNotConfirmedError,
        app: str,
        claimed: Optional[Collection[str]],
        timeout: Optional[float],
    ) -> Match:
        assert self._recovery is not None
        try:
            return await self._recovery.find(lost, claimed or (), app=app, timeout=timeout)
        except SubmitNotRecoveredError as undecided:
            # The original loss first, then why the history could not settle it.
            raise SubmitNotRecoveredError(
                f"{exc.message}; {undecided.message}",
                reason=undecided.reason,
                candidates=undecided.candidates,
                app=app,
            ) from exc

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
        validate: bool = False,
        recover_lost_submit: bool = False,
        retry_rate_limited_submit: bool = True,
        claimed: Optional[Collection[str]] = None,
        recovery_timeout: Optional[float] = None,
        submit_via: Optional[SubmitsJobs] = None,
    ) -> AnyJSON:
        """Submit a job, wait for it, and return its result.

        Args:
            on_enqueue: called with the request id once the job is queued (sync or async).
            on_queue_update: called with each ``Status`` while waiting (sync or async).
            with_logs: include log lines in the statuses passed to ``on_queue_update``.
            interval: the first polling gap when no status stream is available.
            client_timeout: total deadline in seconds; on expiry the job is cancelled and
                ``FalClientTimeoutError`` raised. Also the default ``start_timeout``.

        The other arguments are as for ``submit`` (``recover_lost_submit``: a lost submit
        answer is looked up in the request history; see ``submit``).

        Giving up in any way (cancellation, timeout, a callback raising) cancels the remote job.
        """
        # ``retry_rate_limited_submit``: map's, passed on as submit's ``retry_rate_limits``;
        # ``claimed`` and ``recovery_timeout`` as for submit. ``submit_via`` (AsyncClient's):
        # the surface's public ``submit`` to submit through, then the handle's public ``get``
        # to wait through, so wrappers set on them (metering) see this call as they do with
        # the official client. map goes to the definitions directly; SyncClient.subscribe
        # composes its own submit and get (``_sync_base.Subscription``), with the same plan.
        plan = SubscribePlan.read(
            interval=interval,
            client_timeout=client_timeout,
            start_timeout=start_timeout,
            on_enqueue=on_enqueue,
            on_queue_update=on_queue_update,
            stacklevel=3,  # past this method and AsyncClient's
        )
        handle: Optional[AsyncRequestHandle] = None
        # What subscribe hands on to submit, by either road.
        submit_arguments: dict[str, Any] = dict(
            path=path,
            hint=hint,
            webhook_url=webhook_url,
            priority=priority,
            headers=headers,
            start_timeout=plan.start_timeout,
            validate=validate,
            recover_lost_submit=recover_lost_submit,
        )

        async def flow() -> AnyJSON:
            nonlocal handle
            if submit_via is None:
                handle = await self.submit(
                    application,
                    arguments,
                    **submit_arguments,
                    retry_rate_limits=retry_rate_limited_submit,
                    claimed=claimed,
                    recovery_timeout=recovery_timeout,
                )
            else:
                handle = await submit_via(application, arguments, **submit_arguments)
            try:
                await _invoke(on_enqueue, handle.request_id)
            except BaseException:
                await handle._cancel_on_give_up()
                raise
            if submit_via is not None:
                return await handle.get(
                    interval=interval, with_logs=with_logs, on_queue_update=on_queue_update
                )
            return await handle._wait_result(
                with_logs=with_logs, interval=interval, on_update=on_queue_update
            )

        if plan.client_timeout is None:
            return await flow()
        # client_timeout bounds the whole call, the submit included (which reads the deadline
        # from the context: a public submit has no parameter for it).
        with anyio.move_on_after(plan.client_timeout), deadline.bounded(plan.client_timeout):
            try:
                return await flow()
            except SubmitInFlightAtDeadline:
                raise plan.expired_in_submit(application) from None
        raise plan.expired(application, handle.request_id if handle else None)

    def handle(self, application: str, request_id: str) -> AsyncRequestHandle:
        """The handle of an existing request (``AsyncClient.get_handle`` awaits it)."""
        return AsyncRequestHandle(self._engine, application, request_id)

    async def status(self, application: str, request_id: str, *, with_logs: bool = False) -> Status:
        """The current status of a queued request."""
        return await AsyncRequestHandle(self._engine, application, request_id).status(
            with_logs=with_logs
        )

    async def result(
        self, application: str, request_id: str, *, cancel_on_give_up: bool = False
    ) -> AnyJSON:
        """Wait for a queued request to finish and return its result.

        It re-attaches to a request that may be someone else's: giving up on the wait (Ctrl-C,
        a cancel scope, a timeout) leaves the job running, unless ``cancel_on_give_up``.
        """
        handle = AsyncRequestHandle(self._engine, application, request_id)
        return await handle.get(cancel_on_give_up=cancel_on_give_up)

    async def cancel(self, application: str, request_id: str) -> None:
        """Cancel a queued request."""
        await AsyncRequestHandle(self._engine, application, request_id).cancel()
