"""The public face of the emulator: configure it, register apps, run it, inspect and steer it."""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from concurrent.futures import Future
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, TypeVar, Union

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx
from anyio.abc import TaskStatus
from anyio.from_thread import BlockingPortal

from ._app_ids import normalize_app_name
from ._apps import AppFunction, app_info, make_app_spec
from ._asgi import EmulatorASGI
from ._control import EmulatorControl
from ._faults import FaultHandle, make_rule
from ._gate import Gate
from ._jobs import COMPLETED, STATUS_RANK, Job
from ._model_catalog import check_metadata
from ._pricing import PriceLike
from ._records import AppInfo, FileInfo, JobInfo, RequestRecord, StreamInfo, WebhookDelivery
from ._runner import JobRunner
from ._server import EmulatorServer, bind_socket, make_config, make_protocols
from ._state import APPS_CHANGED, EmulatorConfig, EmulatorState, StreamEntry
from ._watch import ChangeFeed
from ._webhooks import Delivery

F = TypeVar("F", bound=AppFunction)
T = TypeVar("T")

#: The API key an emulator accepts unless told otherwise.
DEFAULT_KEY = "fal-emulator-key"

_CANCELLED = "CANCELLED"


class _ConnectionsChanged:
    """Published when a TCP connection to the emulator closes."""


_CONNECTIONS_CHANGED = _ConnectionsChanged()

# Emulators still running when the interpreter exits are stopped, so their apps' finally blocks
# run and their temporary storage directories are removed.
_running: weakref.WeakSet[Emulator] = weakref.WeakSet()


@atexit.register
def _stop_running_emulators() -> None:
    for emulator in list(_running):
        emulator.stop()


def _check_max_in_flight(cap: Optional[int]) -> None:
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        raise ValueError(f"max_in_flight must be None or an int >= 1, got {cap!r}")


def _check_stream_logs(mode: str) -> None:
    if mode not in ("new", "all"):
        raise ValueError(f"stream_logs must be 'new' or 'all', got {mode!r}")


def _check_history_lag(seconds: float) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds:
        raise ValueError(f"history_lag must be a number of seconds >= 0, got {seconds!r}")
    if seconds == float("inf"):
        raise ValueError("history_lag must be finite")


def _check_history_lists_pending(value: bool) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"history_lists_pending must be True or False, got {value!r}")


class Emulator:
    """A local, fal-compatible server: fal.run, queue.fal.run, rest.fal.ai, the CDN and the
    platform API (api.fal.ai/v1) on one loopback port, serving apps that are plain Python
    functions.

    Example::

        from fal_client.testing import Emulator, AppContext

        emu = Emulator()

        @emu.app("me/upscale")
        async def upscale(arguments: dict, ctx: AppContext) -> dict:
            ctx.log("starting")
            return {"ok": True}

        with emu:                       # or: async with emu (asyncio or trio)
            os.environ.update(emu.env)  # FAL_KEY, FAL_RUN_URL, FAL_QUEUE_URL, ...
            ...

    The server runs in its own thread with its own asyncio event loop, so it works the same
    under sync code, asyncio and trio tests.

    Args:
        key: the API key clients must send as ``Authorization: Key <key>``.
        workers_per_app: how many requests of one app run at once (apps may override it).
        latency: seconds added before every app call (simulated inference time).
        storage_dir: where uploaded files go; a temporary directory (deleted on stop) if None.
        job_ttl: seconds a completed job is kept (fal keeps results about an hour).
        file_ttl: seconds an uploaded file is kept (a lifecycle header may shorten it).
        host: the address to listen on; keep it loopback.
        port: the port; 0 picks a free one.
        builtin_apps: register the ``fal-ai/...`` demo apps.
        legacy_storage: ``"accept"`` or ``"reject"`` the legacy ``storage_type=gcs`` initiate
            (production reportedly answers 400 "Invalid storage type").
        max_in_flight: a plan's concurrency limit: with this many jobs unfinished (queued or
            running, of any app), a new submit, run or stream is refused with 429 and
            ``Retry-After``, from the gateway. ``None`` (default): no limit. Settable.
        in_flight_retry_after: the ``Retry-After`` of that 429, in seconds.
        stream_logs: what each status-stream event's ``logs`` holds: ``"new"`` (the lines
            since the previous event) or ``"all"`` (every line so far). fal's docs do not say
            which fal sends, so a client must handle both. Settable at any time.
        webhook_max_attempts: delivery attempts per webhook before giving up.
        webhook_backoff: seconds before the first retry (doubling each time).
        webhook_timeout: per-attempt timeout of a webhook POST.
        realtime_idle_timeout: seconds without input before a realtime session is closed with
            an ``x-fal-error`` TIMEOUT frame.
        max_recorded_requests: how many requests ``requests()`` remembers (oldest drop off).
        history_lag: seconds after a request finished before the platform API's request
            history (``/api/v1/models/requests/by-endpoint``) shows it as finished (fal's docs
            do not say how soon it does). Default 0. Settable.
        history_lists_pending: whether that history lists requests that have not finished
            (queued or running, or finished within ``history_lag``) with a null ``ended_at``;
            by default (False) it lists finished ones only. Settable.
    """

    def __init__(
        self,
        key: str = DEFAULT_KEY,
        workers_per_app: int = 1,
        latency: float = 0.0,
        storage_dir: Optional[Union[str, Path]] = None,
        job_ttl: float = 3600.0,
        file_ttl: float = 3600.0,
        host: str = "127.0.0.1",
        port: int = 0,
        builtin_apps: bool = True,
        *,
        legacy_storage: str = "accept",
        stream_logs: str = "new",
        max_in_flight: Optional[int] = None,
        in_flight_retry_after: float = 1.0,
        webhook_max_attempts: int = 5,
        webhook_backoff: float = 0.1,
        webhook_timeout: float = 15.0,
        realtime_idle_timeout: float = 60.0,
        max_recorded_requests: int = 10_000,
        history_lag: float = 0.0,
        history_lists_pending: bool = False,
    ) -> None:
        if workers_per_app < 1:
            raise ValueError("workers_per_app must be at least 1")
        if legacy_storage not in ("accept", "reject"):
            raise ValueError("legacy_storage must be 'accept' or 'reject'")
        _check_stream_logs(stream_logs)
        _check_max_in_flight(max_in_flight)
        if not in_flight_retry_after >= 0:
            raise ValueError(f"in_flight_retry_after must be >= 0, got {in_flight_retry_after!r}")
        _check_history_lag(history_lag)
        _check_history_lists_pending(history_lists_pending)
        config = EmulatorConfig(
            key=key,
            workers_per_app=workers_per_app,
            latency=latency,
            job_ttl=job_ttl,
            file_ttl=file_ttl,
            legacy_storage=legacy_storage,
            stream_logs=stream_logs,
            max_in_flight=max_in_flight,
            in_flight_retry_after=in_flight_retry_after,
            webhook_max_attempts=webhook_max_attempts,
            webhook_backoff=webhook_backoff,
            webhook_timeout=webhook_timeout,
            realtime_idle_timeout=realtime_idle_timeout,
            max_recorded_requests=max_recorded_requests,
            history_lag=float(history_lag),
            history_lists_pending=history_lists_pending,
        )
        self._state = EmulatorState(config, Path(storage_dir) if storage_dir else None)
        self._runner = JobRunner(self._state)
        self.host = host
        self.port = port
        self._lifecycle_lock = threading.Lock()
        self._portal_cm: Optional[AbstractContextManager[BlockingPortal]] = None
        self._portal: Optional[BlockingPortal] = None
        self._main: Optional[Future[None]] = None
        self._stop_event: Optional[anyio.Event] = None
        self._url: Optional[str] = None
        self._server: Optional[EmulatorServer] = None
        if builtin_apps:
            from ._builtin_apps import register_builtin_apps

            register_builtin_apps(self.add_app)

    # --- apps -------------------------------------------------------------------------------------

    def app(
        self,
        name: str,
        *,
        workers: Optional[int] = None,
        realtime: bool = False,
        schema: Optional[Mapping[str, Any]] = None,
        price: PriceLike = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> Callable[[F], F]:
        """Decorator registering a function as the app served at ``name``.

        The function is called as ``fn(arguments, ctx)`` (``fn(message, ctx)`` for realtime apps)
        and may be ``async def`` (runs on the emulator's loop), a plain ``def`` (runs in a worker
        thread), or an async/sync generator (a streaming app: each item is an SSE event on
        ``/stream``; through the queue or ``/run`` the last item is the result). Registering a
        name again replaces the previous app.

        The platform API (``/api/v1``) lists every app that is not realtime as a model
        endpoint, with its schemas, price and metadata::

            class Input(TypedDict):
                prompt: str

            @emu.app("me/draw", price=Price(0.025, unit="image"),
                     metadata={"category": "text-to-image"})
            async def draw(arguments: Input, ctx: AppContext) -> Output: ...

        Args:
            name: the app id, e.g. ``"me/upscale"`` (or with a sub-path, ``"me/flux/dev"``).
            workers: how many of its requests run at once (default: ``workers_per_app``).
            realtime: serve it on the realtime WebSocket, called once per message; a non-None
                return value (or each yielded item) is sent back.
            schema: ``{"input": <JSON schema>, "output": <JSON schema>}`` (either optional):
                what its OpenAPI document says it takes and returns. A part not given is read
                from the function's annotations: the first parameter annotated with a
                ``TypedDict`` or a pydantic model, and the return annotation (a streaming app's
                item type); without one it is ``{"type": "object"}``. The app still receives
                the JSON body as a dict: nothing is validated against the schema.
            price: a :class:`Price`, a number (USD per request) or a ``(unit_price, unit)``
                pair; default ``Price(0.0)``, free.
            metadata: model metadata served by ``/api/v1/models``, over the defaults (its
                name as ``display_name``, ``category`` ``"other"``, its docstring's summary as
                ``description``, ``status`` ``"active"``, no ``tags``): e.g.
                ``{"category": "text-to-image", "status": "deprecated", "tags": ["fast"]}``.

        Raises:
            TypeError, ValueError: for a malformed ``schema``, ``price`` or ``metadata``.
        """

        def register(fn: F) -> F:
            self.add_app(
                name,
                fn,
                workers=workers,
                realtime=realtime,
                schema=schema,
                price=price,
                metadata=metadata,
            )
            return fn

        return register

    def add_app(
        self,
        name: str,
        fn: AppFunction,
        *,
        workers: Optional[int] = None,
        realtime: bool = False,
        schema: Optional[Mapping[str, Any]] = None,
        price: PriceLike = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """Register ``fn`` as the app served at ``name`` (see :meth:`app`)."""
        normalized = normalize_app_name(name)
        spec = make_app_spec(
            normalized,
            fn,
            workers=workers if workers is not None else self._state.config.workers_per_app,
            realtime=realtime,
            schema=schema,
            price=price,
            metadata=check_metadata(metadata),
        )
        state = self._state

        def install() -> None:
            with state.lock:
                state.apps[normalized] = spec
            queue = state.queues.get(normalized)
            if queue is not None:
                queue.workers = spec.workers
            state.feed.publish(APPS_CHANGED)

        state.run_in_loop(install)

    def apps(self) -> List[AppInfo]:
        """The registered apps, by name."""
        with self._state.lock:
            specs = sorted(self._state.apps.values(), key=lambda spec: spec.name)
        return [app_info(spec) for spec in specs]

    # --- lifecycle --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server is up."""
        return self._portal is not None

    @property
    def url(self) -> str:
        """The root URL, e.g. ``"http://127.0.0.1:54321"`` (the emulator must be running)."""
        if self._url is None:
            raise RuntimeError("the emulator is not running; use `with emu:` or emu.start()")
        return self._url

    @property
    def env(self) -> Dict[str, str]:
        """Environment variables pointing a fal client at this emulator."""
        url = self.url
        return {
            "FAL_KEY": self._state.config.key,
            "FAL_RUN_URL": f"{url}/run",
            "FAL_QUEUE_URL": f"{url}/queue",
            "FAL_REST_URL": f"{url}/rest",
            "FAL_CDN_URL": f"{url}/cdn",
            "FAL_API_URL": f"{url}/api/v1",
        }

    @property
    def key(self) -> str:
        """The API key the emulator accepts."""
        return self._state.config.key

    def start(self) -> None:
        """Start the server in a background thread; returns once it accepts connections.

        Raises:
            RuntimeError: if it is already running.
            OSError: if the address cannot be bound.
        """
        with self._lifecycle_lock:
            if self._portal is not None:
                raise RuntimeError("the emulator is already running")
            sock = bind_socket(self.host, self.port)
            port = sock.getsockname()[1]
            host = f"[{self.host}]" if ":" in self.host else self.host
            self._state.files.open()
            portal_cm = anyio.from_thread.start_blocking_portal(
                "asyncio", name=f"fal-emulator-{port}"
            )
            portal = portal_cm.__enter__()
            try:
                self._main, _ = portal.start_task(self._serve, sock)
            except BaseException:
                sock.close()
                portal_cm.__exit__(None, None, None)
                self._state.files.close()
                raise
            self.port = port
            self._url = f"http://{host}:{port}"
            self._state.base_url = self._url
            self._portal_cm = portal_cm
            self._portal = portal
            _running.add(self)

    def stop(self) -> None:
        """Stop the server: running jobs are cancelled (their ``finally`` blocks run), open
        streams and connections are closed, and the thread exits. Idempotent.

        Recorded jobs and requests stay inspectable after stop.
        """
        with self._lifecycle_lock:
            portal, portal_cm, main = self._portal, self._portal_cm, self._main
            if portal is None or portal_cm is None or main is None:
                return
            if self._state.in_loop_thread:
                raise RuntimeError("stop() cannot be called from the emulator's own thread")
            try:
                stop_event = self._stop_event
                if stop_event is not None:
                    portal.call(stop_event.set)
                main.result(timeout=30)
            finally:
                _running.discard(self)
                self._portal = self._portal_cm = self._main = None
                self._url = None
                portal_cm.__exit__(None, None, None)
                self._state.files.close()

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Emulator:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.stop)

    async def _serve(self, sock: Any, *, task_status: TaskStatus[None]) -> None:
        state = self._state
        state.attach_loop()
        self._stop_event = anyio.Event()
        http_protocol, ws_protocol = make_protocols(self._connection_closed)
        config = make_config(
            EmulatorASGI(state, self._runner, self._control()), http_protocol, ws_protocol
        )
        server = self._server = EmulatorServer(config)
        state.open_connections = lambda: len(server.server_state.connections)
        try:
            async with httpx.AsyncClient() as client:
                state.http_client = client
                async with anyio.create_task_group() as outer:
                    outer.start_soon(lambda: server.serve(sockets=[sock]))
                    async with anyio.create_task_group() as work:
                        state.stopping = False
                        state.task_group = work
                        work.start_soon(self._sweep_forever)
                        task_status.started()
                        await self._stop_event.wait()
                        # Queued jobs complete as cancelled; running ones are cancelled with
                        # everything else in the task group, so their finally blocks run.
                        self._runner.cancel_all()
                        state.stopping = True
                        work.cancel_scope.cancel()
                    self._cancel_streams()
                    for scope in [*state.delays, *state.control_streams]:
                        scope.cancel()
                    server.request_exit()
        finally:
            state.task_group = None
            state.http_client = None
            state.open_connections = lambda: 0
            self._server = None
            state.detach_loop()
            sock.close()

    def _cancel_streams(self) -> None:
        with self._state.lock:
            streams: List[StreamEntry] = list(self._state.open_streams)
        for entry in streams:
            if entry.scope is not None:
                entry.scope.cancel()

    async def _sweep_forever(self) -> None:
        config = self._state.config
        interval = min(30.0, max(0.05, min(config.job_ttl, config.file_ttl) / 4))
        while True:
            await anyio.sleep(interval)
            self._state.sweep()

    def _connection_closed(self) -> None:
        if self._server is not None:
            self._server.connection_closed()
        self._state.feed.publish(_CONNECTIONS_CHANGED)

    # --- steering tests ---------------------------------------------------------------------------

    def gate(self) -> Gate:
        """A new closed :class:`Gate` for apps to wait on and the test to open."""
        return Gate()

    def faults(
        self,
        kind: str,
        *,
        app: Optional[str] = None,
        operation: Optional[str] = None,
        count: Optional[int] = None,
        probability: Optional[float] = None,
        seed: Optional[int] = None,
        **params: Any,
    ) -> FaultHandle:
        """Inject a fault into matching requests until cleared.

        Kinds: ``ingress_502``/``ingress_503``/``ingress_504`` (nginx HTML, no
        ``x-fal-request-id``), ``rate_limit`` (429, ``Retry-After: retry_after`` if given),
        ``status_500``, ``http_status`` (``status_code=``, ``detail=``, ``headers=``), ``latency``
        (``seconds=`` added, combines with other faults), ``reset_before`` (the TCP connection is
        reset before the request is handled), ``reset_after_submit`` (the job is created, then
        the connection is reset), ``sse_cut`` (an SSE stream is reset after ``after_events``
        events), ``part_fail`` (a multipart part PUT answers 500).

        Args:
            kind: the fault kind.
            app: only requests to this app id.
            operation: only this operation: run, stream, submit, status, status_stream, result,
                cancel, upload, part, token (also file, realtime), and the platform API's
                models, pricing, estimate and history.
            count: only the first ``count`` matching requests.
            probability: hit each matching request with this probability...
            seed: ...drawn from a RNG seeded with this, for reproducible runs.
            **params: the kind's parameters.

        Returns:
            A handle whose ``clear()`` removes the fault (also a context manager).
        """
        rule = make_rule(
            kind,
            app=app,
            operation=operation,
            count=count,
            probability=probability,
            seed=seed,
            params=params,
        )
        self._state.faults.add(rule)
        return FaultHandle(self._state.faults, rule)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._state.faults.clear()

    @property
    def legacy_storage(self) -> str:
        """``"accept"`` or ``"reject"``: how ``storage/upload/initiate?storage_type=gcs`` is
        answered. Settable at any time."""
        return self._state.config.legacy_storage

    @legacy_storage.setter
    def legacy_storage(self, mode: str) -> None:
        if mode not in ("accept", "reject"):
            raise ValueError("legacy_storage must be 'accept' or 'reject'")
        self._state.config.legacy_storage = mode

    @property
    def max_in_flight(self) -> Optional[int]:
        """The concurrency limit (see the constructor), or ``None``. Settable at any time."""
        return self._state.config.max_in_flight

    @max_in_flight.setter
    def max_in_flight(self, cap: Optional[int]) -> None:
        _check_max_in_flight(cap)
        self._state.config.max_in_flight = cap

    @property
    def in_flight_retry_after(self) -> float:
        """The ``Retry-After`` (seconds) of a 429 past ``max_in_flight``. Settable."""
        return self._state.config.in_flight_retry_after

    @in_flight_retry_after.setter
    def in_flight_retry_after(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"in_flight_retry_after must be >= 0, got {seconds!r}")
        self._state.config.in_flight_retry_after = seconds

    @property
    def stream_logs(self) -> str:
        """``"new"`` or ``"all"``: which log lines each status-stream event carries (the lines
        since the previous event, or every line so far). Settable at any time."""
        return self._state.config.stream_logs

    @stream_logs.setter
    def stream_logs(self, mode: str) -> None:
        _check_stream_logs(mode)
        self._state.config.stream_logs = mode

    @property
    def history_lag(self) -> float:
        """Seconds after a request finished before the request history shows it as finished
        (see the constructor). Settable at any time."""
        return self._state.config.history_lag

    @history_lag.setter
    def history_lag(self, seconds: float) -> None:
        _check_history_lag(seconds)
        self._state.config.history_lag = float(seconds)

    @property
    def history_lists_pending(self) -> bool:
        """Whether the request history lists unfinished requests too (see the constructor).
        Settable at any time."""
        return self._state.config.history_lists_pending

    @history_lists_pending.setter
    def history_lists_pending(self, value: bool) -> None:
        _check_history_lists_pending(value)
        self._state.config.history_lists_pending = value

    @property
    def webhook_public_key(self) -> bytes:
        """The raw Ed25519 public key webhooks are signed with (also served as a JWKS at
        ``/rest/.well-known/jwks.json``)."""
        return self._state.signer.public_key_bytes

    @property
    def webhook_user_id(self) -> str:
        """The user id in ``X-Fal-Webhook-User-Id``."""
        return self._state.signer.user_id

    # --- waiting ----------------------------------------------------------------------------------

    def wait_job_status(
        self,
        request_id: Optional[str] = None,
        *,
        app: Optional[str] = None,
        status: str = "IN_PROGRESS",
        timeout: float = 10.0,
    ) -> JobInfo:
        """Block until a job has reached ``status`` (or a later one); returns its snapshot.

        With ``request_id=None`` it waits for *any* job (of ``app``, if given), which is how a
        test catches a job submitted by the code under test.

        Args:
            request_id: the job to watch, or None for any.
            app: only jobs of this app.
            status: ``"IN_QUEUE"``, ``"IN_PROGRESS"``, ``"COMPLETED"``, or ``"CANCELLED"`` (the
                job's cancelled flag is set; wait for ``"COMPLETED"`` to know a cancelled app's
                ``finally`` blocks have run).
            timeout: seconds.

        Raises:
            TimeoutError: if no such job got there in time.
        """
        check, describe = self._job_check(request_id, app, status)
        return self._blocking_feed().wait_blocking(check, timeout, describe)

    def _blocking_feed(self) -> ChangeFeed:
        # A blocking wait on the emulator's own thread would stop the very loop it waits on.
        if self._state.in_loop_thread:
            raise RuntimeError(
                "blocking waits cannot run on the emulator's own thread (inside an async app); "
                "use the *_async variant"
            )
        return self._state.feed

    async def wait_job_status_async(
        self,
        request_id: Optional[str] = None,
        *,
        app: Optional[str] = None,
        status: str = "IN_PROGRESS",
        timeout: float = 10.0,
    ) -> JobInfo:
        """:meth:`wait_job_status` for async tests (asyncio or trio); does not block the loop."""
        check, describe = self._job_check(request_id, app, status)
        return await self._state.feed.wait(check, timeout, describe)

    def _job_check(
        self, request_id: Optional[str], app: Optional[str], status: str
    ) -> tuple[Callable[[Optional[object]], Optional[JobInfo]], str]:
        if status != _CANCELLED and status not in STATUS_RANK:
            raise ValueError(
                f"unknown status {status!r}; expected one of {[*STATUS_RANK, _CANCELLED]}"
            )
        app_name = normalize_app_name(app) if app is not None else None
        wanted_rank = STATUS_RANK.get(status, 0)
        state = self._state

        def matches(job: Job) -> bool:
            if request_id is not None and job.request_id != request_id:
                return False
            if app_name is not None and job.spec.name != app_name:
                return False
            if status == _CANCELLED:
                return job.cancelled
            return STATUS_RANK[job.status] >= wanted_rank

        def check(change: Optional[object]) -> Optional[JobInfo]:
            if change is None:
                if request_id is not None:
                    job = state.jobs.get(request_id)
                    return state.job_info(job) if job is not None and matches(job) else None
                for job in state.jobs:
                    if matches(job):
                        return state.job_info(job)
                return None
            if isinstance(change, Job) and matches(change):
                return state.job_info(change)
            return None

        target = f"job {request_id}" if request_id else f"any job of {app_name or 'any app'}"
        return check, f"{target} to reach {status}"

    def wait_job_expired(self, request_id: str, *, timeout: float = 10.0) -> None:
        """Block until the job has been forgotten (TTL expiry or :meth:`reset`)."""
        self._blocking_feed().wait_blocking(
            self._expired_check(request_id), timeout, f"job {request_id} to expire"
        )

    async def wait_job_expired_async(self, request_id: str, *, timeout: float = 10.0) -> None:
        """:meth:`wait_job_expired` for async tests."""
        await self._state.feed.wait(
            self._expired_check(request_id), timeout, f"job {request_id} to expire"
        )

    def _expired_check(self, request_id: str) -> Callable[[Optional[object]], Optional[bool]]:
        state = self._state

        def check(change: Optional[object]) -> Optional[bool]:
            return True if state.jobs.get(request_id) is None else None

        return check

    def wait_webhook_delivery(
        self, request_id: Optional[str] = None, *, timeout: float = 10.0
    ) -> WebhookDelivery:
        """Block until a webhook delivery (of ``request_id``, or any) is finished: delivered,
        refused, or out of attempts."""
        check, describe = self._webhook_check(request_id)
        return self._blocking_feed().wait_blocking(check, timeout, describe)

    async def wait_webhook_delivery_async(
        self, request_id: Optional[str] = None, *, timeout: float = 10.0
    ) -> WebhookDelivery:
        """:meth:`wait_webhook_delivery` for async tests."""
        check, describe = self._webhook_check(request_id)
        return await self._state.feed.wait(check, timeout, describe)

    def _webhook_check(
        self, request_id: Optional[str]
    ) -> tuple[Callable[[Optional[object]], Optional[WebhookDelivery]], str]:
        state = self._state

        def check(change: Optional[object]) -> Optional[WebhookDelivery]:
            candidates = (
                list(state.webhooks.values())
                if change is None
                else [change]
                if isinstance(change, Delivery)
                else []
            )
            for delivery in candidates:
                if delivery.finished and request_id in (None, delivery.request_id):
                    return delivery.info()
            return None

        return check, f"the webhook of {request_id or 'any job'} to finish"

    def wait_stream_finished(
        self, request_id: Optional[str] = None, *, timeout: float = 10.0
    ) -> StreamInfo:
        """Block until an SSE stream (of ``request_id``, or any) has ended on the server side,
        whether it completed or the client went away; see ``StreamInfo.client_disconnected``."""
        check, describe = self._stream_check(request_id)
        return self._blocking_feed().wait_blocking(check, timeout, describe)

    async def wait_stream_finished_async(
        self, request_id: Optional[str] = None, *, timeout: float = 10.0
    ) -> StreamInfo:
        """:meth:`wait_stream_finished` for async tests."""
        check, describe = self._stream_check(request_id)
        return await self._state.feed.wait(check, timeout, describe)

    def _stream_check(
        self, request_id: Optional[str]
    ) -> tuple[Callable[[Optional[object]], Optional[StreamInfo]], str]:
        state = self._state

        def check(change: Optional[object]) -> Optional[StreamInfo]:
            candidates = (
                list(state.streams)
                if change is None
                else [change]
                if isinstance(change, StreamEntry)
                else []
            )
            for entry in candidates:
                if entry.finished and request_id in (None, entry.request_id):
                    return entry.info()
            return None

        return check, f"the stream of {request_id or 'any request'} to finish"

    def wait_open_connections(self, at_most: int = 0, *, timeout: float = 10.0) -> int:
        """Block until the server holds at most ``at_most`` open TCP connections (to check
        that a client closed what it opened). Returns the count."""
        return self._blocking_feed().wait_blocking(
            self._connections_check(at_most), timeout, f"at most {at_most} open connections"
        )

    async def wait_open_connections_async(self, at_most: int = 0, *, timeout: float = 10.0) -> int:
        """:meth:`wait_open_connections` for async tests."""
        return await self._state.feed.wait(
            self._connections_check(at_most), timeout, f"at most {at_most} open connections"
        )

    def _connections_check(self, at_most: int) -> Callable[[Optional[object]], Optional[int]]:
        state = self._state

        def check(change: Optional[object]) -> Optional[int]:
            count = state.open_connections()
            return count if count <= at_most else None

        return check

    def wait_until(
        self, condition: Callable[[], bool], *, timeout: float = 10.0, describe: str = ""
    ) -> None:
        """Block until ``condition()`` is true; it is re-checked after every change the emulator
        makes (jobs and their logs, streams, webhooks, connections, requests arriving, entering
        an injected delay and finishing, faults, files, apps), on the emulator's thread (or the
        thread that made the change), so it must be quick and must not block. For conditions the
        dedicated waits do not cover, e.g.::

            emu.wait_until(lambda: emu.streams()[0].events_received >= 6)

        Raises:
            TimeoutError: if it is still false after ``timeout`` seconds.
        """
        self._blocking_feed().wait_blocking(
            self._condition_check(condition), timeout, describe or repr(condition)
        )

    async def wait_until_async(
        self, condition: Callable[[], bool], *, timeout: float = 10.0, describe: str = ""
    ) -> None:
        """:meth:`wait_until` for async tests."""
        await self._state.feed.wait(
            self._condition_check(condition), timeout, describe or repr(condition)
        )

    @staticmethod
    def _condition_check(
        condition: Callable[[], bool],
    ) -> Callable[[Optional[object]], Optional[bool]]:
        def check(change: Optional[object]) -> Optional[bool]:
            return True if condition() else None

        return check

    # --- inspection -------------------------------------------------------------------------------

    def jobs(self) -> List[JobInfo]:
        """Every known job (queue, run and stream requests), oldest first."""
        state = self._state
        with state.lock:
            return [state.job_info(job) for job in state.jobs]

    def job(self, request_id: str) -> Optional[JobInfo]:
        """One job's snapshot, or None if unknown (or expired)."""
        with self._state.lock:
            job = self._state.jobs.get(request_id)
            return self._state.job_info(job) if job is not None else None

    def job_logs(self, request_id: str) -> List[Dict[str, str]]:
        """The log lines a job's app wrote so far."""
        with self._state.lock:
            job = self._state.jobs.get(request_id)
            return [dict(entry) for entry in job.logs] if job is not None else []

    def requests(self) -> List[RequestRecord]:
        """The requests received (up to ``max_recorded_requests``), oldest first."""
        return self._state.request_records()

    def files(self) -> List[FileInfo]:
        """The files held by the emulated CDN."""
        base_url = self._state.base_url
        return [stored.info(base_url) for stored in self._state.files.files()]

    def webhooks(self) -> List[WebhookDelivery]:
        """Webhook deliveries, in completion order of their jobs."""
        with self._state.lock:
            return [delivery.info() for delivery in self._state.webhooks.values()]

    def streams(self) -> List[StreamInfo]:
        """SSE responses (``/stream`` and status streams), oldest first (last 1000)."""
        return self._state.stream_infos()

    def open_connections(self) -> int:
        """How many TCP connections the server holds open right now."""
        return self._state.open_connections()

    def sweep_expired(self, *, now: Optional[float] = None) -> int:
        """Run the TTL sweep now (it also runs in the background); ``now`` is a
        ``time.monotonic()`` value, so a test can look into the future. Returns how many jobs
        and files were removed."""
        at = time.monotonic() if now is None else now
        result = self._state.run_in_loop(lambda: self._state.sweep(at))
        return result or 0

    def reset(self) -> None:
        """Forget jobs, requests, files, webhooks, streams and faults; keep the apps.

        Jobs still queued or running are cancelled first; it returns once the running ones have
        unwound (their ``finally`` blocks have run). A request parked in an injected delay is
        answered 503 ("The emulator was reset") rather than handled after the reset, so it
        cannot leak a job into whatever comes next.
        """
        portal = self._portal
        if portal is None:
            self._state.forget_everything()
        elif self._state.in_loop_thread:
            raise RuntimeError("reset() cannot block the emulator's own thread")
        else:
            portal.call(self._reset_on_loop)

    def _control(self) -> EmulatorControl:
        # What the routes may do to the emulator as a whole; they get this, never ``self``.
        return EmulatorControl(
            env=lambda: self.env if self.running else {},
            reset=self._reset_on_loop,
            clear_faults=self.clear_faults,
        )

    async def _reset_on_loop(self) -> None:
        # reset(), on the emulator's own event loop (POST /__emulator/reset awaits it directly).
        state = self._state
        state.resets += 1
        for delay in list(state.delays):
            delay.cancel()
        live = [job for job in state.jobs if job.status != COMPLETED]
        for job in live:
            self._runner.cancel(job)
        self._cancel_streams()
        with anyio.move_on_after(5):
            for job in live:
                while job.status != COMPLETED:
                    await job.changed().wait()
        state.forget_everything()

    def __repr__(self) -> str:
        where = self._url or "stopped"
        return f"<Emulator {where} apps={len(self._state.apps)}>"
