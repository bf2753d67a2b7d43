"""The exception an emulated app raises to fail its request the way fal reports app errors."""

from __future__ import annotations

from typing import Any, Mapping, Optional


class AppError(Exception):
    """Fail the current request with a fal-shaped error response.

    Raise it from an app function. The emulator answers (or, for queued jobs, stores as the
    result) ``status_code`` with the JSON body ``{"detail": detail}``, plus ``"error_type"`` in the
    body and the ``X-Fal-Error-Type`` header when ``error_type`` is given, which is how fal
    reports both validation errors (422 with a list of ``{loc, msg, type}`` details) and
    infrastructure errors (flat ``{detail, error_type}``).

    Args:
        status_code: the HTTP status of the error response (default 422).
        detail: any JSON value; a string, or fal's list of validation error dicts.
        error_type: machine-readable error type, e.g. ``"request_timeout"``.
        headers: extra response headers to send with the error.

    Example::

        raise AppError(422, detail=[{"loc": ["body", "prompt"], "msg": "field required",
                                     "type": "missing"}])
    """

    def __init__(
        self,
        status_code: int = 422,
        detail: Any = "Unprocessable Entity",
        *,
        error_type: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        super().__init__(detail if isinstance(detail, str) else f"HTTP {status_code}")
        self.status_code = status_code
        self.detail = detail
        self.error_type = error_type
        self.headers = dict(headers or {})
