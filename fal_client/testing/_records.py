"""Immutable snapshots of what the emulator saw and did, returned by its inspection methods.

They are plain frozen dataclasses so tests can compare and print them; each has ``as_dict()``
giving the JSON shape served under ``/__emulator/``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional


class _AsDict:
    def as_dict(self) -> Dict[str, Any]:
        """This record as a JSON-ready dict (the shape served under ``/__emulator/``)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]


@dataclass(frozen=True)
class JobInfo(_AsDict):
    """One request the emulator ran or is running: a queue job, a sync run or a stream.

    Attributes:
        request_id: the fal request id (``x-fal-request-id``).
        app: the registered app name that served it, e.g. ``"fal-ai/fast-sdxl"``.
        status: ``"IN_QUEUE"``, ``"IN_PROGRESS"`` or ``"COMPLETED"``.
        cancelled: whether a cancel was requested (queue cancel, or the client went away).
        submitted_at: wall-clock time (``time.time()``) the request arrived.
        started_at: when an app worker picked it up, if it has.
        finished_at: when it completed, if it has.
        error_type: the fal ``error_type`` of a failed request, if any.
        status_code: the HTTP status of its result, once completed.
        via: how it was made: ``"queue"``, ``"run"`` or ``"stream"``.
        path: the endpoint sub-path (``"dev"`` for ``fal-ai/flux/dev``), or None.
        priority: the ``X-Fal-Queue-Priority`` it was submitted with.
        hint: the ``X-Fal-Runner-Hint`` it was submitted with, if any.
        start_timeout: the ``X-Fal-Request-Timeout`` in seconds, if any.
        webhook_url: the ``fal_webhook`` it was submitted with, if any.
        queue_position: how many queued jobs of its app run before it (0 = next), while it is
            ``IN_QUEUE``; None otherwise.
    """

    request_id: str
    app: str
    status: str
    cancelled: bool
    submitted_at: float
    started_at: Optional[float]
    finished_at: Optional[float]
    error_type: Optional[str]
    status_code: Optional[int] = None
    via: str = "queue"
    path: Optional[str] = None
    priority: str = "normal"
    hint: Optional[str] = None
    start_timeout: Optional[float] = None
    webhook_url: Optional[str] = None
    queue_position: Optional[int] = None


@dataclass(frozen=True)
class RequestRecord(_AsDict):
    """One HTTP or WebSocket request the emulator received (inspection endpoints excluded).

    Attributes:
        method: HTTP method (``"WEBSOCKET"`` for realtime connections).
        path: the URL path, e.g. ``"/queue/fal-ai/echo"``.
        query: the raw query string.
        authorized: whether the request passed the endpoint's auth check (public endpoints such as
            file downloads and signed uploads always pass).
        headers: request headers, lower-cased; an ``authorization`` value is reduced to its scheme
            (``"Key [redacted]"``) so keys never show up in test output.
        status_code: the response status, or None when no response was sent (connection reset).
        operation: the fal operation it was classified as (``run``, ``stream``, ``submit``,
            ``status``, ``status_stream``, ``result``, ``cancel``, ``upload``, ``part``,
            ``token``, ``file``, ``realtime``), or None.
        app: the app id it addressed, if any.
        request_id: the fal request id it created or addressed, if any.
        fault: the injected fault kind applied to it, if any.
        timestamp: wall-clock arrival time.
        duration: seconds from arrival until the response was complete (for a stream or a
            realtime session, until it ended), or None while it is in progress.
    """

    method: str
    path: str
    query: str
    authorized: bool
    headers: Mapping[str, str]
    status_code: Optional[int]
    operation: Optional[str] = None
    app: Optional[str] = None
    request_id: Optional[str] = None
    fault: Optional[str] = None
    timestamp: float = 0.0
    duration: Optional[float] = None

    def as_dict(self) -> Dict[str, Any]:
        """This record as a JSON-ready dict."""
        result = dataclasses.asdict(self)
        result["headers"] = dict(self.headers)
        return result


@dataclass(frozen=True)
class FileInfo(_AsDict):
    """A file held by the emulated CDN.

    Attributes:
        url: where a GET serves it back (no auth needed).
        size: its length in bytes.
        sha256: hex digest of its content.
        content_type: the Content-Type it is served with.
        file_name: its file name (the last URL segment).
        lifecycle: the parsed ``X-Fal-Object-Lifecycle`` (or ``-Preference``) header it was
            uploaded with, if any.
        source: how it got there: ``"cdn"`` (CDN v3 upload), ``"cdn-multipart"``, ``"signed"``
            (REST initiate + PUT), ``"signed-multipart"`` or ``"app"`` (written by an app).
        created_at: wall-clock time it was stored.
        file_id: its id on the CDN (the URL segment before the file name).
        app: the app that wrote it, for ``source="app"``; None for uploads.
        request_id: the request whose app wrote it, for ``source="app"``.
    """

    url: str
    size: int
    sha256: str
    content_type: str
    file_name: str
    lifecycle: Optional[Mapping[str, Any]] = None
    source: str = "cdn"
    created_at: float = 0.0
    file_id: str = ""
    app: Optional[str] = None
    request_id: Optional[str] = None


@dataclass(frozen=True)
class WebhookDelivery(_AsDict):
    """The delivery of one job's completion webhook.

    Attributes:
        url: the ``fal_webhook`` target.
        request_id: the job it reports.
        status_code: the receiver's last HTTP status, or None if no response was received.
        error: why the delivery failed or was refused, or None on success.
        attempts: how many POSTs were made so far.
        body: the exact JSON text that was (or would have been) POSTed.
        headers: the ``X-Fal-Webhook-*`` headers it was signed with.
        delivered: True once a 2xx answer arrived.
        finished: True once no more attempts will be made.
        app: the app whose job it reports.
        created_at: wall-clock time the job completed and the delivery began.
    """

    url: str
    request_id: str
    status_code: Optional[int]
    error: Optional[str]
    attempts: int
    body: str
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    delivered: bool = False
    finished: bool = False
    app: str = ""
    created_at: float = 0.0

    def as_dict(self) -> Dict[str, Any]:
        """This record as a JSON-ready dict."""
        result = dataclasses.asdict(self)
        result["headers"] = dict(self.headers)
        return result


@dataclass(frozen=True)
class StreamInfo(_AsDict):
    """One streaming response: a ``/run/.../stream`` or queue status stream (SSE), or a realtime
    WebSocket session.

    Attributes:
        app: the app id it streams from.
        request_id: the fal request id (for realtime, the session's).
        events_sent: how many ``data:`` events (realtime: result frames) were written.
        client_disconnected: True if the client went away before the stream ended.
        finished: True once the server side is done with the stream (either way).
        kind: ``"stream"``, ``"status_stream"`` or ``"realtime"``.
        events_received: realtime only: how many input frames were read.
        events_dropped: realtime only: inputs discarded unprocessed by ``max_buffering``.
        opened_at: wall-clock time the stream (or session) began.
        closed_at: wall-clock time it ended, or None while it is open.
    """

    app: str
    request_id: str
    events_sent: int
    client_disconnected: bool
    finished: bool
    kind: str = "stream"
    events_received: int = 0
    events_dropped: int = 0
    opened_at: float = 0.0
    closed_at: Optional[float] = None


@dataclass(frozen=True)
class AppInfo(_AsDict):
    """A registered app, as listed by ``Emulator.apps()`` and ``GET /__emulator/apps``.

    Attributes:
        name: the app id it is served at, e.g. ``"fal-ai/echo"``.
        kind: ``"plain"``, ``"streaming"`` (an async or sync generator) or ``"realtime"``.
        workers: how many of its requests run at once.
        description: the first paragraph of the app function's docstring.
        inputs: the input fields its docstring lists under ``Inputs:``, name to description.
        example: the JSON input its docstring gives under ``Example:``, if any.
    """

    name: str
    kind: str
    workers: int
    description: str = ""
    inputs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    example: Any = None

    def as_dict(self) -> Dict[str, Any]:
        """This record as a JSON-ready dict."""
        result = dataclasses.asdict(self)
        result["inputs"] = dict(self.inputs)
        return result
