"""What the generated sync classes (``_sync.py``) stand on: lifecycle, attributes, bridges.

``tools/gen_sync_api.py`` writes every sync *operation* from its async definition; this module
holds the little that is not an operation: owning the portal thread and the engine, the
attributes that mirror the async client's, and the helpers the generated bodies call. Nothing
here talks HTTP or knows fal's protocol.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any, Callable, Optional

from typing_extensions import Self

from . import _app_context
from . import _deadline as deadline
from ._client import AsyncClient, AsyncRequestHandle, RefusedPrivateClient
from ._endpoints import Endpoints
from ._portal import Portal
from ._queue import SubmitInFlightAtDeadline, SubscribePlan, cancel_remotely
from ._types import OnEnqueue
from ._upload_options import UploadOptions

Relay = Callable[..., Awaitable[None]]

PORTAL_BACKENDS = ("asyncio", "trio")


def check_portal_backend(portal_backend: str) -> str:
    """``portal_backend`` if it names a backend the portal thread can run."""
    if portal_backend not in PORTAL_BACKENDS:
        raise ValueError(f"portal_backend must be 'asyncio' or 'trio', got {portal_backend!r}")
    return portal_backend


def caller_headers(headers: Optional[Mapping[str, str]]) -> Optional[Mapping[str, str]]:
    """``headers`` plus the fal app context's, which lives on the caller's thread, not the loop
    thread: it must be read here, before the call crosses over."""
    if _app_context._get_current_app is None:
        return headers
    forwarded = _app_context.app_context_headers()
    return {**(headers or {}), **forwarded} if forwarded else headers


def relayed(relay: Relay, callback: Optional[Callable[..., Any]], name: str) -> Optional[Relay]:
    """``callback`` (the argument ``name``) made to run on the caller's thread through the
    portal's relay. Checked here: once relayed, anything would look callable to the engine."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"{name} must be a callable, got {callback!r}")
    return partial(relay, callback)


class Subscription:
    """A sync ``subscribe`` in progress: ``submit`` and then ``get`` through the sync surface's
    public methods (wrappers on them see it, as with the official client), one deadline over
    both (``client_timeout``), and the job cancelled whenever it is given up."""

    def __init__(self, plan: SubscribePlan, application: str):
        self._plan = plan
        self._application = application
        self.handle: Optional[SyncRequestHandleBase] = None

    @contextmanager
    def bounded(self) -> Iterator[Subscription]:
        """The block the two calls run in: past the deadline, the ``FalClientTimeoutError``
        that ``AsyncClient.subscribe`` raises (the portal cancels a call at the deadline)."""
        try:
            with deadline.bounded(self._plan.client_timeout):
                try:
                    yield self
                except SubmitInFlightAtDeadline:
                    raise self._plan.expired_in_submit(self._application) from None
                except deadline.DeadlinePassed:
                    request_id = self.handle.request_id if self.handle else None
                    raise self._plan.expired(self._application, request_id) from None
        except (KeyboardInterrupt, SystemExit):
            # Ctrl-C can land between the two calls, or before the wait reached the loop: the
            # job is cancelled then, unless the wait gave up on it already.
            self._cancel()
            raise

    def _cancel(self) -> None:
        handle = self.handle
        if handle is not None and not handle._handle._given_up:
            handle._portal.call(partial(cancel_remotely, handle._handle))

    def enqueued(self, on_enqueue: Optional[OnEnqueue]) -> None:
        """Tell ``on_enqueue`` the request id; if it raises, the job is cancelled."""
        if on_enqueue is None or self.handle is None:
            return
        try:
            on_enqueue(self.handle.request_id)
        except BaseException:
            self._cancel()
            raise


class SyncRequestHandleBase:
    """The state and identity of a ``SyncRequestHandle``; its operations are generated."""

    def __init__(self, handle: AsyncRequestHandle, portal: Portal):
        self._handle = handle
        self._portal = portal

    @property
    def request_id(self) -> str:
        """The fal request id."""
        return self._handle.request_id

    @property
    def app(self) -> str:
        """The app id this request belongs to."""
        return self._handle.app

    @property
    def response_url(self) -> str:
        """URL of the result."""
        return self._handle.response_url

    @property
    def status_url(self) -> str:
        """URL of the status."""
        return self._handle.status_url

    @property
    def cancel_url(self) -> str:
        """URL that cancels the request."""
        return self._handle.cancel_url

    def __repr__(self) -> str:
        return f"SyncRequestHandle(app={self.app!r}, request_id={self.request_id!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SyncRequestHandleBase):
            return NotImplemented
        return self._handle == other._handle

    def __hash__(self) -> int:
        return hash(self._handle)


class SyncClientBase:
    """The lifecycle and attributes of a ``SyncClient``; its operations are generated.

    One portal thread per client, started on first use, owns the engine's connection pool
    (an HTTP client never crosses event loops) and is stopped with it by ``close()``.
    """

    # The official client's private httpx client: replacing it must fail loudly here.
    _client = RefusedPrivateClient()

    def __init__(self, engine: AsyncClient, portal_backend: str):
        self._async = engine
        self._portal = Portal(backend=check_portal_backend(portal_backend), name="fal_client-sync")
        RefusedPrivateClient.guard(self)

    def __repr__(self) -> str:
        return f"Sync{self._async!r}"

    @property
    def default_timeout(self) -> float:
        """The deadline in seconds of each queue and upload request (see ``AsyncClient``)."""
        return self._async.default_timeout

    @property
    def key(self) -> Optional[str]:
        """The key given to the constructor (``None`` when read from the environment)."""
        return self._async.key

    @property
    def endpoints(self) -> Endpoints:
        """The base URLs this client talks to."""
        return self._async.endpoints

    @property
    def upload_options(self) -> UploadOptions:
        """How uploads are cut into parts (shared with the underlying ``AsyncClient``)."""
        return self._async.upload_options

    @upload_options.setter
    def upload_options(self, value: UploadOptions) -> None:
        if not isinstance(value, UploadOptions):
            raise TypeError(f"upload_options must be an UploadOptions, got {type(value).__name__}")
        self._async.upload_options = value

    @property
    def async_client(self) -> AsyncClient:
        """The engine this client drives (use it only from async code)."""
        return self._async

    def close(self) -> None:
        """Close the connection pool and stop the event-loop thread."""
        if self._portal.thread is not None:
            self._portal.call(self._async.aclose)
        self._portal.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
