"""Building a job from an incoming run, stream or submit request (fal's request headers)."""

from __future__ import annotations

import math
from typing import Any, Optional

from ._exchange import BadRequest, Exchange, detail_response, new_request_id
from ._jobs import VIA_QUEUE, Job
from ._routing import Route
from ._scheduler import LOW, NORMAL


def _start_timeout(raw: Optional[str]) -> Optional[float]:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise BadRequest(
            detail_response(
                422, f"Invalid X-Fal-Request-Timeout header: {raw!r}", request_id=new_request_id()
            )
        )
    return value


def _priority(raw: Optional[str]) -> str:
    if raw is None:
        return NORMAL
    value = raw.strip().lower()
    if value not in (NORMAL, LOW):
        raise BadRequest(
            detail_response(
                422,
                f"Invalid X-Fal-Queue-Priority header: {raw!r} (expected 'normal' or 'low')",
                request_id=new_request_id(),
            )
        )
    return value


def make_job(ex: Exchange, route: Route, via: str, arguments: Any) -> Job:
    """A new job for ``route``'s app, honouring fal's request headers.

    Raises:
        BadRequest: 422 for a malformed priority or request-timeout header.
    """
    assert route.app is not None and route.endpoint is not None
    headers = ex.headers_dict()
    request_id = new_request_id()
    ex.entry.request_id = request_id
    return Job(
        request_id=request_id,
        spec=route.app,
        root=route.endpoint.root,
        path=route.app_path,
        via=via,
        arguments=arguments,
        headers=headers,
        base_url=ex.base_url,
        priority=_priority(headers.get("x-fal-queue-priority")),
        hint=headers.get("x-fal-runner-hint"),
        start_timeout=_start_timeout(headers.get("x-fal-request-timeout")),
        webhook_url=ex.query.get("fal_webhook") if via == VIA_QUEUE else None,
    )
