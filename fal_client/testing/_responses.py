"""The fal-shaped responses a request can end with, as stored, replayable values (no I/O).

A queue job's result endpoint must replay "the status code, headers, and body that the model
returned", so every outcome (success, app error, crash, start timeout, cancel) is turned into a
:class:`StoredResponse` once and served from there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from ._errors import AppError

Headers = Tuple[Tuple[str, str], ...]


@dataclass(frozen=True)
class StoredResponse:
    """An HTTP response kept as bytes: what ``/run`` answered or the queue's result replays."""

    status_code: int
    body: bytes
    headers: Headers = ()
    error: Optional[str] = None
    error_type: Optional[str] = None

    @property
    def failed(self) -> bool:
        """Whether this is an error response (status >= 400)."""
        return self.status_code >= 400

    def json(self) -> Any:
        """The body decoded as JSON, or None if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def dumps(value: Any) -> bytes:
    """Compact JSON bytes, the way the emulator writes bodies."""
    return json.dumps(value, separators=(",", ":")).encode()


def success(result: Any) -> StoredResponse:
    """A 200 carrying the app's JSON result.

    Raises:
        TypeError: if the result is not JSON-serialisable.
    """
    return StoredResponse(200, dumps(result))


def error(
    status_code: int,
    detail: Any,
    *,
    error_type: Optional[str] = None,
    headers: Headers = (),
    message: Optional[str] = None,
) -> StoredResponse:
    """A fal error response: ``{"detail": ...}`` plus ``error_type`` in body and header."""
    body: dict[str, Any] = {"detail": detail}
    if error_type is not None:
        body["error_type"] = error_type
        headers = (*headers, ("x-fal-error-type", error_type))
    if message is None:
        message = detail if isinstance(detail, str) else f"Invalid status code: {status_code}"
    return StoredResponse(status_code, dumps(body), headers, error=message, error_type=error_type)


def from_app_error(exc: AppError) -> StoredResponse:
    """The response an :class:`AppError` raised by an app stands for."""
    return error(
        exc.status_code,
        exc.detail,
        error_type=exc.error_type,
        headers=tuple((name.lower(), value) for name, value in exc.headers.items()),
    )


def from_crash(exc: BaseException) -> StoredResponse:
    """A 500 ``internal_error`` for an app that raised anything but :class:`AppError`."""
    return error(500, f"{type(exc).__name__}: {exc}", error_type="internal_error")


def start_timeout() -> StoredResponse:
    """fal's answer when ``X-Fal-Request-Timeout`` expired before a runner picked the job up."""
    return error(
        504,
        "Request timed out",
        error_type="request_timeout",
        headers=(("x-fal-request-timeout-type", "user"),),
    )


def shutting_down() -> StoredResponse:
    """The answer to a request that arrives while the emulator is stopping."""
    return error(503, "The emulator is shutting down", error_type="runner_scheduling_failure")


def cancelled() -> StoredResponse:
    """What the result of a cancelled request replays (fal answers 499)."""
    return error(499, "Request cancelled by the client", error_type="request_cancelled")
