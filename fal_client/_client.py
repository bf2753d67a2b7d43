"""``AsyncClient``: the official client's async API, one thin delegation per operation.

Every operation is written once, as an AnyIO coroutine, in a resource over the client's one
engine (``_engine.py``): runs (``_run.py``), the queue (``_queue.py``), files
(``_files_api.py``), fan-out (``_batch_api.py``), realtime (``_realtime_api.py``). This class
builds them and keeps the public names, signatures and docstrings. ``SyncClient`` (generated,
``_sync.py``) hands these same coroutines to a blocking portal; nothing here knows whether a
sync caller is waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from . import _validate as check
from ._auth import Credentials, LateCredentials, resolve_credentials
from ._batch_api import Batch
from ._endpoints import Endpoints
from ._engine import Engine
from ._errors import MissingCredentialsError
from ._files_api import DEFAULT_UPLOAD_OPTIONS, Files
from ._platform_api import Platform
from ._queue import DEFAULT_POLL_INTERVAL, AsyncRequestHandle, Queue
from ._realtime import AsyncRealtimeConnection, AsyncWebSocketConnection
from ._realtime_api import Realtime
from ._recovery import Recovery
from ._retry import RetryPolicy, default_policy
from ._run import DEFAULT_RUN_TIMEOUT, Runs
from ._schema_cache import SCHEMAS
from ._status import Status
from ._transport import Timeouts, Transport
from ._types import AnyJSON, OnEnqueue, OnQueueUpdate, Priority
from ._upload import Lifecycle
from ._upload_options import UploadOptions

if TYPE_CHECKING:  # fan-out loads on the first ``map`` (``_batch_api``)
    from ._batch import MapResults, Progress

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_RUN_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "AnyJSON",
    "AsyncClient",
    "AsyncRequestHandle",
    "OnEnqueue",
    "OnQueueUpdate",
    "Priority",
    "RefusedPrivateClient",
]

DEFAULT_TIMEOUT = 120.0


def _checked_upload_options(value: Any) -> UploadOptions:
    if not isinstance(value, UploadOptions):
        raise TypeError(f"upload_options must be an UploadOptions, got {type(value).__name__}")
    return value


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


class AsyncClient:
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
        api_url: base URL of fal's platform API, which serves model schemas, prices and the
            request history (default from ``FAL_API_URL``, else ``https://api.fal.ai/v1``).
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
        api_url: Optional[str] = None,
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
            api_url=api_url or env_endpoints.api_url,
            # A run_url= of its own also moves the realtime host with it.
            realtime_url=None if run_url else env_endpoints.realtime_url,
        )
        credentials: Credentials
        try:
            credentials = resolve_credentials(key)
        except MissingCredentialsError:
            # As in the official client, the error surfaces at the first request, not here.
            credentials = LateCredentials()
        transport = Transport(
            endpoints=endpoints,
            credentials=credentials,
            retry=retry or default_policy(),
            timeouts=Timeouts(connect=connect_timeout, read=self.default_timeout),
            default_headers=check.header_map("headers", headers),
            http_client=http_client,
            http_library=http_library,
            max_connections=max_connections,
        )
        if not isinstance(auto_upload, bool):
            raise TypeError(f"auto_upload must be a bool, got {type(auto_upload).__name__}")
        self._engine = Engine(
            transport,
            upload_options=_checked_upload_options(upload_options or DEFAULT_UPLOAD_OPTIONS),
            auto_upload=auto_upload,
        )
        # The resources every operation below delegates to, all over the one engine.
        self._runs = Runs(self._engine)
        self._platform = Platform(self._engine, SCHEMAS)
        self._queue = Queue(self._engine, Recovery(self._platform))
        self._files = Files(self._engine)
        self._batch = Batch(self._queue, self._platform)
        self._realtime = Realtime(self._engine)
        RefusedPrivateClient.guard(self)

    def __repr__(self) -> str:
        e = self._engine.endpoints
        return f"AsyncClient(run_url={e.run_url!r}, queue_url={e.queue_url!r})"

    _client = RefusedPrivateClient()

    @property
    def engine(self) -> Engine:
        """The engine this client's operations share (transport, endpoints, credentials,
        upload options): for building on the client; ordinary use never needs it."""
        return self._engine

    @property
    def endpoints(self) -> Endpoints:
        """The base URLs this client talks to."""
        return self._engine.endpoints

    @property
    def platform(self) -> Platform:
        """fal's platform API: model metadata and schemas, prices, cost estimates and your
        request history (see ``Platform``)."""
        return self._platform

    @property
    def upload_options(self) -> UploadOptions:
        """How uploads are cut into parts; assign an ``UploadOptions`` to change it."""
        return self._engine.upload_options

    @upload_options.setter
    def upload_options(self, value: UploadOptions) -> None:
        self._engine.upload_options = _checked_upload_options(value)

    @property
    def auto_upload(self) -> bool:
        """Whether files, bytes and images found in arguments are uploaded and sent as URLs."""
        return self._engine.auto_upload

    @auto_upload.setter
    def auto_upload(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"auto_upload must be a bool, got {type(value).__name__}")
        self._engine.auto_upload = value

    async def aclose(self) -> None:
        """Close the connection pool of the running event loop."""
        await self._engine.transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- operations: GENERATED by tools/gen_sync_api.py from the resources; do not edit ---
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
        validate: bool = False,
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
            validate: check ``arguments`` against the endpoint's input schema (from fal's
                platform API, cached) first, and raise ``InputValidationError`` listing every
                problem instead of sending them; when no schema can be had, warn once
                (``SchemaUnavailableWarning``) and send them unchecked.

        Raises:
            FalClientTimeoutError: ``timeout`` passed.
            FalClientHTTPError: fal or the app answered with an error.
            InputValidationError: ``validate=True`` and the schema refuses the arguments.
        """
        return await self._runs.run(
            application,
            arguments,
            method=method,
            path=path,
            timeout=timeout,
            start_timeout=start_timeout,
            hint=hint,
            headers=headers,
            validate=validate,
        )

    def stream(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "/stream",
        timeout: Optional[float] = None,
        headers: Optional[Mapping[str, str]] = None,
        validate: bool = False,
    ) -> AsyncIterator[AnyJSON]:
        """Stream an app's server-sent events; each item is one decoded JSON event.

        The last event is usually the final result. ``timeout`` bounds the whole stream
        (default ``DEFAULT_RUN_TIMEOUT``, an hour). Leaving the loop early closes the
        connection. ``path`` is appended to the app id (``stream("owner/app")`` POSTs to
        ``owner/app/stream``), unless the id's own sub-path already ends with it.
        ``validate=True`` checks the arguments against the app's input schema first, as for
        ``run``.

        Raises:
            FalClientHTTPError: the app refused the request (checked before any event).
        """
        return self._runs.stream(
            application, arguments, path=path, timeout=timeout, headers=headers, validate=validate
        )

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
        return await self._queue.submit(
            application,
            arguments,
            path=path,
            hint=hint,
            webhook_url=webhook_url,
            priority=priority,
            headers=headers,
            start_timeout=start_timeout,
            validate=validate,
            recover_lost_submit=recover_lost_submit,
        )

    async def subscribe(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "",
        hint: Optional[str] = None,
        with_logs: bool = False,
        interval: float = 0.1,
        on_enqueue: Optional[OnEnqueue] = None,
        on_queue_update: Optional[OnQueueUpdate] = None,
        priority: Optional[Priority] = None,
        headers: Optional[Mapping[str, str]] = None,
        start_timeout: Optional[float] = None,
        client_timeout: Optional[float] = None,
        webhook_url: Optional[str] = None,
        validate: bool = False,
        recover_lost_submit: bool = False,
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
        return await self._queue.subscribe(
            application,
            arguments,
            path=path,
            hint=hint,
            with_logs=with_logs,
            interval=interval,
            on_enqueue=on_enqueue,
            on_queue_update=on_queue_update,
            priority=priority,
            headers=headers,
            start_timeout=start_timeout,
            client_timeout=client_timeout,
            webhook_url=webhook_url,
            validate=validate,
            recover_lost_submit=recover_lost_submit,
            submit_via=self.submit,
        )

    async def status(self, application: str, request_id: str, *, with_logs: bool = False) -> Status:
        """The current status of a queued request."""
        handle = await self.get_handle(application, request_id)
        return await handle.status(with_logs=with_logs)

    async def result(
        self, application: str, request_id: str, *, cancel_on_give_up: bool = False
    ) -> AnyJSON:
        """Wait for a queued request to finish and return its result.

        It re-attaches to a request that may be someone else's: giving up on the wait (Ctrl-C,
        a cancel scope, a timeout) leaves the job running, unless ``cancel_on_give_up``.
        """
        handle = await self.get_handle(application, request_id)
        return await handle.get(cancel_on_give_up=cancel_on_give_up)

    async def cancel(self, application: str, request_id: str) -> None:
        """Cancel a queued request."""
        return await self._queue.cancel(application, request_id)

    async def upload(
        self,
        data: Union[bytes, str],
        content_type: str,
        file_name: Optional[str] = None,
        *,
        repository: Optional[str] = None,
        fallback_repository: Union[str, Iterable[str], None] = None,
        lifecycle: Optional[Lifecycle] = None,
        progress: Optional[Callable[[int, int], Any]] = None,
        multipart_threshold: Optional[int] = None,
        chunk_size: Optional[int] = None,
        max_concurrency: Optional[int] = None,
    ) -> str:
        """Upload bytes (or a str, as UTF-8) to fal's storage and return their URL.

        Bodies larger than the multipart threshold (100 MiB unless ``upload_options`` say
        otherwise) go in parts, ``max_concurrency`` at a time, each retried on its own.

        Args:
            data: the content.
            content_type: its MIME type, e.g. ``"image/png"``.
            file_name: a name for the stored object.
            repository: ``"fal_v3"`` (fal's CDN, the default; ``"cdn"`` is a deprecated alias)
                or ``"fal"`` (the REST-initiated signed upload).
            fallback_repository: tried in order if ``repository`` fails (default ``["fal"]``).
            lifecycle: a ``StorageSettings`` (expiry, initial ACL), or fal's raw JSON such as
                ``{"expiration_duration_seconds": 3600}``.
            progress: called as ``progress(bytes_sent, total)`` (sync or async), first with 0,
                never decreasing, last with ``total``.
            multipart_threshold: overrides ``upload_options.multipart_threshold``.
            chunk_size: overrides ``upload_options.chunk_size``.
            max_concurrency: overrides ``upload_options.max_concurrency``.

        Returns:
            The URL of the stored file.

        Raises:
            TypeError, ValueError: bad arguments, before anything is sent.
            FalClientError: every repository failed (the last error, chained to the earlier).
        """
        return await self._files.upload(
            data,
            content_type,
            file_name,
            repository=repository,
            fallback_repository=fallback_repository,
            lifecycle=lifecycle,
            progress=progress,
            multipart_threshold=multipart_threshold,
            chunk_size=chunk_size,
            max_concurrency=max_concurrency,
        )

    async def upload_file(
        self,
        path: Union[str, PathLike[str]],
        *,
        content_type: Optional[str] = None,
        file_name: Optional[str] = None,
        repository: Optional[str] = None,
        fallback_repository: Union[str, Iterable[str], None] = None,
        lifecycle: Optional[Lifecycle] = None,
        progress: Optional[Callable[[int, int], Any]] = None,
        multipart_threshold: Optional[int] = None,
        chunk_size: Optional[int] = None,
        max_concurrency: Optional[int] = None,
    ) -> str:
        """Upload a file, streamed from disk (never read whole into memory). Returns the URL.

        Args:
            path: the file.
            content_type: its MIME type; guessed from the name by default
                (``application/octet-stream`` when unknown).
            file_name: the stored name; the file's own name by default.

        The other arguments are as for ``upload``.

        Raises:
            FileNotFoundError, IsADirectoryError, PermissionError: before anything is sent.
            FalClientError: every repository failed.
        """
        return await self._files.upload_file(
            path,
            content_type=content_type,
            file_name=file_name,
            repository=repository,
            fallback_repository=fallback_repository,
            lifecycle=lifecycle,
            progress=progress,
            multipart_threshold=multipart_threshold,
            chunk_size=chunk_size,
            max_concurrency=max_concurrency,
        )

    async def upload_image(
        self,
        image: Any,
        format: str = "jpeg",
        *,
        repository: Optional[str] = None,
        fallback_repository: Union[str, Iterable[str], None] = None,
        lifecycle: Optional[Lifecycle] = None,
        progress: Optional[Callable[[int, int], Any]] = None,
    ) -> str:
        """Upload a PIL image saved in ``format`` (``"jpeg"``, ``"png"``, ``"webp"``...).

        Needs Pillow (``pip install 'fal-client-anyio[image]'``). Returns the URL.

        Raises:
            ImportError: Pillow is not installed.
            TypeError: ``image`` is not a PIL image.
            ValueError: an unknown format.
        """
        return await self._files.upload_image(
            image,
            format,
            repository=repository,
            fallback_repository=fallback_repository,
            lifecycle=lifecycle,
            progress=progress,
        )

    async def download(
        self, url: str, destination: Union[str, PathLike[str]] = ".", *, overwrite: bool = False
    ) -> Path:
        """Download ``url`` to ``destination`` (a file, or a directory to put it in).

        The file is streamed to a temporary name and renamed into place when complete, so a
        failed or cancelled download never leaves a partial file. Returns the path.
        """
        return await self._files.download(url, destination, overwrite=overwrite)

    async def download_files(
        self,
        result: Any,
        directory: Union[str, PathLike[str]] = ".",
        *,
        overwrite: bool = False,
        max_concurrency: int = 4,
    ) -> dict[str, Path]:
        """Download every file of a result (each ``{"url": ...}`` at any depth) into a directory.

        Names come from the URLs, made unique (``image.png``, ``image-1.png``). Downloads run
        ``max_concurrency`` at a time; each is published by an atomic rename.

        Returns:
            ``{url: local path}`` in the order the files appear in ``result``.

        Raises:
            FileExistsError: a target exists and ``overwrite`` is false (before downloading).
            FalClientError: a download failed; the others are stopped.
        """
        return await self._files.download_files(
            result, directory, overwrite=overwrite, max_concurrency=max_concurrency
        )

    def map(
        self,
        application: str,
        inputs: Union[Iterable[AnyJSON], AsyncIterable[AnyJSON]],
        *,
        concurrency: int = 16,
        ordered: bool = True,
        return_exceptions: bool = False,
        on_progress: Optional[Callable[[Progress], Any]] = None,
        path: str = "",
        hint: Optional[str] = None,
        priority: Optional[Priority] = None,
        headers: Optional[Mapping[str, str]] = None,
        start_timeout: Optional[float] = None,
        client_timeout: Optional[float] = None,
        manifest: Union[str, PathLike[str], None] = None,
        validate: bool = False,
        max_cost: Optional[float] = None,
        recover_lost_submit: bool = True,
    ) -> MapResults:
        """Run ``application`` on every input with at most ``concurrency`` jobs in flight.

        Inputs are read lazily from any iterable or async iterable. With ``ordered=True``
        (default) results come in input order; with ``ordered=False`` they come as they
        complete, as ``BatchResult`` objects tagged with their input ``index``.

        By default the first failure cancels the other jobs (remotely too) and is raised as it
        is, once they are cancelled (``except FalClientTimeoutError`` works around a map as
        around one call); ``return_exceptions=True`` delivers errors in place of results and
        keeps going. ``on_progress`` receives a ``Progress`` after each finished job.
        ``client_timeout`` applies per job.

        Rate limits: a submit refused with 429 is put back; that input waits out its own
        ``Retry-After`` while others use its slot. The in-flight limit shrinks only for a real
        rate limit (most recent answers refused, as under a plan's concurrency cap), to what the
        server carries, and grows back up to ``concurrency``. Only jobs in flight are waited
        on, one status stream each, so any number of inputs uses at most ``concurrency``
        connections.

        Args:
            manifest: a path for a resumable run. Each input's request id is journalled (JSONL,
                fsync'd) as soon as it is submitted, and its result once the loop has handled
                it (come back for the next one, or left the block without error). Running again
                with the same manifest and the same inputs never submits an input twice: jobs
                already submitted are re-attached to, finished ones are delivered from the file
                without a request. With a manifest, jobs in flight when the map is interrupted
                (Ctrl-C, cancellation, leaving the loop early) keep running on fal for the next
                run to collect. See ``docs/batch.md`` for the file format.
            validate: check each input against the endpoint's input schema before it is
                submitted (the schema is fetched once); an input the schema refuses ends with
                ``InputValidationError`` and is never sent.
            max_cost: a budget, in the price's currency (USD). The platform API's estimate of
                a call prices the batch first: inputs that can be counted (a list) and would
                cost more in total are refused with ``BudgetExceededError`` before anything is
                sent; then no job is submitted once what was started plus that job would exceed
                the budget (those inputs end with ``BudgetExceededError``, unsent). Jobs a
                manifest re-attaches to cost nothing new.
            recover_lost_submit: when an input's submit answer is lost (the connection broke
                after fal may have queued the job), look the job up in the request history
                (``submit``'s option of the same name, on by default here): found, the map
                waits for it as if the submit had answered; proved never created, the input is
                submitted again; undecided, that input ends with ``SubmitNotRecoveredError``,
                not re-sent. A map without lost answers asks the history nothing. With
                ``False``, a lost answer ends the input with ``SubmitNotConfirmedError``.

        Raises:
            FalClientError: the first job's failure, unless ``return_exceptions``.
            ValueError: ``ManifestError`` when the manifest was written for another app or for
                other inputs (raised when the mismatch is read, before that input is sent).
            BudgetExceededError: the batch's estimate is over ``max_cost`` (when entered).

        Use as ``async with client.map(app, inputs) as results: async for r in results: ...``.
        """
        return self._batch.map(
            application,
            inputs,
            concurrency=concurrency,
            ordered=ordered,
            return_exceptions=return_exceptions,
            on_progress=on_progress,
            path=path,
            hint=hint,
            priority=priority,
            headers=headers,
            start_timeout=start_timeout,
            client_timeout=client_timeout,
            manifest=manifest,
            validate=validate,
            max_cost=max_cost,
            recover_lost_submit=recover_lost_submit,
        )

    def realtime(
        self,
        application: str,
        *,
        use_jwt: bool = True,
        path: str = "/realtime",
        max_buffering: Optional[int] = None,
        token_expiration: int = 120,
        encode_message: Optional[Callable[[Any], Union[bytes, str]]] = None,
        decode_message: Optional[Callable[[bytes], Any]] = None,
    ) -> AsyncRealtimeConnection:
        """A realtime (websocket) session with an app: ``async with`` it (``with`` on SyncClient).

        The arguments are checked at once, before anything is sent. Entering the block fetches a
        short-lived token (``POST {rest}/tokens/``, scoped to the app) and opens
        ``wss://<run host>/<app>/realtime?fal_jwt_token=...``; leaving it closes the socket.

        Args:
            application: the app id, e.g. ``"fal-ai/fast-lcm-diffusion"``.
            use_jwt: authenticate with a short-lived token in the URL; ``False`` sends the API
                key in the handshake's ``Authorization`` header instead.
            path: the app's realtime path, appended once (not again when the id ends with it).
            max_buffering: how many unprocessed inputs fal keeps (the newest win), 1 to 60.
            token_expiration: the token's lifetime in seconds.
            encode_message: turns an input into ``bytes`` (binary frame) or ``str`` (text
                frame); default msgpack.
            decode_message: turns a binary frame into a result; default msgpack.

        Returns:
            An ``AsyncRealtimeConnection`` with ``send``, ``recv``, ``async for`` and ``close``
            (a ``RealtimeConnection`` on SyncClient: the same, with iteration by ``for``). In
            sync code, Ctrl-C in ``recv()`` cancels it in the loop thread and the ``with`` block
            closes the connection on the way out.

        Raises:
            ValueError: ``max_buffering`` outside 1..60, a bad id, path or expiration.
            AuthenticationError: (on entering) the key or token was refused.
            RealtimeError: (while receiving) an error frame, or an abnormal close.

        Example::

            async with client.realtime("fal-ai/fast-lcm-diffusion", max_buffering=2) as conn:
                await conn.send({"prompt": "a cat"})
                image = await conn.recv()

            with sync_client.realtime("fal-ai/fast-lcm-diffusion") as conn:
                conn.send({"prompt": "a cat"})
                image = conn.recv()
        """
        return self._realtime.realtime(
            application,
            use_jwt=use_jwt,
            path=path,
            max_buffering=max_buffering,
            token_expiration=token_expiration,
            encode_message=encode_message,
            decode_message=decode_message,
        )

    def ws_connect(
        self,
        application: str,
        *,
        use_jwt: bool = True,
        path: str = "",
        max_buffering: Optional[int] = None,
        token_expiration: int = 120,
    ) -> AsyncWebSocketConnection:
        """A raw websocket to an app (no msgpack, no fal frames): ``async with`` it (``with`` on
        SyncClient).

        Same authentication and URL as ``realtime`` except that ``path`` defaults to none:
        ``recv()`` returns each message as ``bytes`` or ``str`` (``None`` after a clean close).
        """
        return self._realtime.ws_connect(
            application,
            use_jwt=use_jwt,
            path=path,
            max_buffering=max_buffering,
            token_expiration=token_expiration,
        )

    # --- end of the generated operations ---

    async def get_handle(self, application: str, request_id: str) -> AsyncRequestHandle:
        """A handle for an existing request of ``application`` (no request is sent).

        On ``AsyncClient`` it is awaited, as in the official client. The job may be someone
        else's: giving up on ``handle.get()`` leaves it running unless
        ``get(cancel_on_give_up=True)``.
        """
        return self._queue.handle(application, request_id)
