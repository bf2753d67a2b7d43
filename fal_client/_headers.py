"""fal's request headers and the rules for their values (no I/O).

The one place that knows how ``hint``, ``priority`` and ``start_timeout`` become headers; the
clients build their headers here, and ``fal_client.client`` re-exports the functions under the
official names (``add_hint_header`` ...) for code that calls them directly.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from . import _app_context
from . import _validate as check

__all__ = [
    "MIN_REQUEST_TIMEOUT_SECONDS",
    "QUEUE_PRIORITY_HEADER",
    "REQUEST_TIMEOUT_HEADER",
    "REQUEST_TIMEOUT_TYPE_HEADER",
    "RUNNER_HINT_HEADER",
    "add_fal_app_context_headers",
    "add_hint_header",
    "add_priority_header",
    "add_timeout_header",
    "handle_response_headers",
]

#: fal's lower bound for ``start_timeout``: a value must be greater than this many seconds.
MIN_REQUEST_TIMEOUT_SECONDS = 1
#: The server-side time-to-start deadline, in seconds.
REQUEST_TIMEOUT_HEADER = "X-Fal-Request-Timeout"
#: On a 504: ``user`` when the caller's own ``start_timeout`` passed.
REQUEST_TIMEOUT_TYPE_HEADER = "X-Fal-Request-Timeout-Type"
#: A hint for routing to a runner (e.g. one with a LoRA loaded).
RUNNER_HINT_HEADER = "X-Fal-Runner-Hint"
#: ``normal`` or ``low``.
QUEUE_PRIORITY_HEADER = "X-Fal-Queue-Priority"


def add_timeout_header(timeout: Any, headers: MutableMapping[str, str]) -> None:
    """Set the start-timeout header; ``ValueError`` unless ``timeout`` is a number > 1 s."""
    seconds = check.start_timeout(timeout)
    if seconds is None:
        raise ValueError(f"start_timeout must be a number, got {timeout!r}")
    headers[REQUEST_TIMEOUT_HEADER] = f"{seconds:g}"


def add_hint_header(hint: str, headers: MutableMapping[str, str]) -> None:
    """Set the runner-hint header; ``TypeError`` unless ``hint`` is a str."""
    value = check.optional_str("hint", hint)
    if value is None:
        raise TypeError("hint must be a str, got None")
    headers[RUNNER_HINT_HEADER] = value


def add_priority_header(priority: str, headers: MutableMapping[str, str]) -> None:
    """Set the queue-priority header; ``ValueError`` unless it is ``normal`` or ``low``."""
    value = check.priority(priority)
    if value is None:
        raise ValueError("priority must be 'normal' or 'low', got None")
    headers[QUEUE_PRIORITY_HEADER] = value


def add_fal_app_context_headers(headers: MutableMapping[str, str]) -> None:
    """Forward the current fal app request's headers (nothing outside a fal app)."""
    if _app_context._get_current_app is not None:
        headers.update(_app_context.app_context_headers())


def handle_response_headers(headers: Mapping[str, str]) -> None:
    """Hand what a response tells the current fal app request back to it (a CDN token)."""
    _app_context.absorb_response_headers(headers)


def fal_headers(
    headers: Any,
    *,
    hint: Any = None,
    start_timeout: Any = None,
    priority: Any = None,
) -> dict[str, str]:
    """The headers of a run or submit: the caller's (checked), the app context's, and those
    of the options that were given."""
    out = check.header_map("headers", headers)
    add_fal_app_context_headers(out)
    if hint is not None:
        add_hint_header(hint, out)
    if start_timeout is not None:
        add_timeout_header(start_timeout, out)
    if priority is not None:
        add_priority_header(priority, out)
    return out
