"""Header propagation when this client is called from inside a running fal app.

fal's app SDK registers a function returning the current app (``set_get_current_app``); while
that app serves a request, calls made through this client forward the request's
``x-fal-cdn-token`` and ``x-app-fal-can-disable-filter`` headers, and a refreshed CDN token
from a response is handed back to the request, as the official client does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Optional

_FORWARDED = ("x-fal-cdn-token", "x-app-fal-can-disable-filter")
_get_current_app: Optional[Callable[[], Any]] = None


def set_get_current_app(func: Callable[[], Any]) -> None:
    """Register the function that returns the fal app currently serving a request.

    Used by fal's app SDK; the app object must have ``current_request`` with ``headers``.
    """
    global _get_current_app
    _get_current_app = func


def _current_request() -> Any:
    if _get_current_app is None:
        return None
    app = _get_current_app()
    return getattr(app, "current_request", None) if app is not None else None


def app_context_headers() -> dict[str, str]:
    """The headers to forward from the current fal app request (empty outside fal apps)."""
    request = _current_request()
    if request is None:
        return {}
    out = {}
    for name in _FORWARDED:
        value = request.headers.get(name)
        if value:
            out[name] = value
    return out


def absorb_response_headers(headers: Mapping[str, str]) -> None:
    """Hand a refreshed CDN token from a response back to the current fal app request."""
    request = _current_request()
    if request is not None:
        token = headers.get("x-fal-cdn-token")
        if token:
            request.headers["x-fal-cdn-token"] = token
