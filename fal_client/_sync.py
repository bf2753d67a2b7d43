"""The sync API: thin wrappers that run the async engine's coroutines through a portal.

Nothing here talks HTTP or knows fal's protocol. Each method forwards its arguments unchanged to
the ``AsyncClient``/``AsyncRequestHandle`` method of the same name, in the client's own event
loop thread, and shares its docstring. Sync callbacks (``on_enqueue``, ``on_queue_update``) run on
the calling thread, so they may call this client again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any, Callable, Optional

from . import _app_context
from ._batch_api import SyncBatchAPI
from ._client import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    AnyJSON,
    AsyncClient,
    AsyncRequestHandle,
    Priority,
    RefusedPrivateClient,
)
from ._files_api import SyncFilesAPI
from ._lifecycle import UploadOptions
from ._portal import Portal
from ._realtime_api import SyncRealtimeAPI
from ._retry import RetryPolicy
from ._status import Status


def _caller_headers(headers: Optional[Mapping[str, str]]) -> Optional[Mapping[str, str]]:
    # The fal app context lives on the caller's thread, not the loop thread: read it here.
    if _app_context._get_current_app is None:
        return headers
    forwarded = _app_context.app_context_headers()
    return {**(headers or {}), **forwarded} if forwarded else headers


class SyncRequestHandle:
    """A queued fal request, for sync code. See ``AsyncRequestHandle`` for the semantics."""

    def __init__(self, handle: AsyncRequestHandle, portal: Portal):
        self._handle = handle
        self._portal = portal

    @classmethod
    def from_request_id(
        cls, client: SyncClient, application: str, request_id: str
    ) -> SyncRequestHandle:
        """Re-attach to an existing request of ``application`` by its id."""
        return client.get_handle(application, request_id)

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
        if not isinstance(other, SyncRequestHandle):
            return NotImplemented
        return self._handle == other._handle

    def __hash__(self) -> int:
        return hash(self._handle)

    def status(self, *, with_logs: bool = False) -> Status:
        return self._portal.call(partial(self._handle.status, with_logs=with_logs))

    def iter_events(
        self, *, with_logs: bool = False, interval: float = DEFAULT_POLL_INTERVAL
    ) -> Iterator[Status]:
        events = self._handle.iter_events(with_logs=with_logs, interval=interval)
        return self._portal.iterate(lambda: events)

    def get(self, *, interval: float = DEFAULT_POLL_INTERVAL) -> AnyJSON:
        return self._portal.call(partial(self._handle.get, interval=interval))

    def cancel(self) -> None:
        self._portal.call(self._handle.cancel)


class SyncClient(SyncFilesAPI, SyncBatchAPI, SyncRealtimeAPI):
    """The synchronous fal client: the async engine run in a dedicated event-loop thread.

    Takes the same arguments as ``AsyncClient``, plus ``portal_backend`` (``"asyncio"`` or
    ``"trio"``) for that thread. Use ``with SyncClient() as client:`` or call ``close()``;
    a client not closed is stopped at interpreter exit.
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
        http_library: Optional[str] = None,
        connect_timeout: float = 10.0,
        max_connections: int = 100,
        upload_options: Optional[UploadOptions] = None,
        auto_upload: bool = False,
        portal_backend: str = "asyncio",
    ):
        if portal_backend not in ("asyncio", "trio"):
            raise ValueError(f"portal_backend must be 'asyncio' or 'trio', got {portal_backend!r}")
        self._async = AsyncClient(
            key,
            default_timeout,
            run_url=run_url,
            queue_url=queue_url,
            rest_url=rest_url,
            cdn_url=cdn_url,
            retry=retry,
            max_retries=max_retries,
            headers=headers,
            http_library=http_library,
            connect_timeout=connect_timeout,
            max_connections=max_connections,
            upload_options=upload_options,
            auto_upload=auto_upload,
        )
        self._portal = Portal(backend=portal_backend, name="fal_client-sync")

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

    _client = RefusedPrivateClient()

    @property
    def async_client(self) -> AsyncClient:
        """The engine this client drives (use it only from async code)."""
        return self._async

    def close(self) -> None:
        """Close the connection pool and stop the event-loop thread."""
        if self._portal.thread is not None:
            self._portal.call(self._async.aclose)
        self._portal.stop()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _handle(self, handle: AsyncRequestHandle) -> SyncRequestHandle:
        return SyncRequestHandle(handle, self._portal)

    def run(
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
        return self._portal.call(
            partial(
                self._async.run,
                application,
                arguments,
                method=method,
                path=path,
                timeout=timeout,
                start_timeout=start_timeout,
                hint=hint,
                headers=_caller_headers(headers),
            )
        )

    def stream(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "/stream",
        timeout: Optional[float] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Iterator[AnyJSON]:
        events = self._async.stream(
            application, arguments, path=path, timeout=timeout, headers=_caller_headers(headers)
        )
        return self._portal.iterate(lambda: events)

    def submit(
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
    ) -> SyncRequestHandle:
        handle = self._portal.call(
            partial(
                self._async.submit,
                application,
                arguments,
                path=path,
                hint=hint,
                webhook_url=webhook_url,
                priority=priority,
                headers=_caller_headers(headers),
                start_timeout=start_timeout,
            )
        )
        return self._handle(handle)

    def subscribe(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "",
        hint: Optional[str] = None,
        with_logs: bool = False,
        interval: float = DEFAULT_POLL_INTERVAL,
        on_enqueue: Optional[Callable[[str], Any]] = None,
        on_queue_update: Optional[Callable[[Status], Any]] = None,
        priority: Optional[Priority] = None,
        headers: Optional[Mapping[str, str]] = None,
        start_timeout: Optional[float] = None,
        client_timeout: Optional[float] = None,
        webhook_url: Optional[str] = None,
    ) -> AnyJSON:
        def make(relay: Callable[..., Any]) -> Any:
            # The engine awaits relay(...), which runs the user's callback on this thread.
            return self._async.subscribe(
                application,
                arguments,
                path=path,
                hint=hint,
                with_logs=with_logs,
                interval=interval,
                on_enqueue=partial(relay, on_enqueue) if on_enqueue else None,
                on_queue_update=partial(relay, on_queue_update) if on_queue_update else None,
                priority=priority,
                headers=_caller_headers(headers),
                start_timeout=start_timeout,
                client_timeout=client_timeout,
                webhook_url=webhook_url,
            )

        result: AnyJSON = self._portal.call_with_callbacks(make)
        return result

    def get_handle(self, application: str, request_id: str) -> SyncRequestHandle:
        return self._handle(AsyncRequestHandle(self._async, application, request_id))

    def status(self, application: str, request_id: str, *, with_logs: bool = False) -> Status:
        return self.get_handle(application, request_id).status(with_logs=with_logs)

    def result(self, application: str, request_id: str) -> AnyJSON:
        return self.get_handle(application, request_id).get()

    def cancel(self, application: str, request_id: str) -> None:
        self.get_handle(application, request_id).cancel()


def _share_docstrings() -> None:
    # One docstring per operation, written on the async engine; the sync face shows the same.
    for sync_cls, async_cls in ((SyncClient, AsyncClient), (SyncRequestHandle, AsyncRequestHandle)):
        for name in dir(sync_cls):
            member = getattr(sync_cls, name)
            if callable(member) and not name.startswith("_") and member.__doc__ is None:
                member.__doc__ = getattr(async_cls, name).__doc__


_share_docstrings()
