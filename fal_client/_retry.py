"""The retry policy: which failures are retried, and how long to wait. Pure decisions, no I/O.

One AnyIO loop in ``_transport`` consults this module; nothing else retries. The rules:

* **Never sent** (connection refused, connect timeout, no free pooled connection): retried for
  every request, POSTs included, because the server never saw it.
* **Rejected before it reached an app**: 408, 409, 429 and fal's ingress 502/503/504 (answers
  without an ``x-fal-request-id``, i.e. from the gateway, not from a runner): retried for every
  request. ``Retry-After`` is honoured.
* **Maybe seen by the server** (read timeout, connection reset after the request was written):
  retried only for idempotent requests (GET status/result, PUT cancel, uploads to a fixed URL).
  A POST that runs or submits a paid job is *not* re-sent; the caller gets
  ``SubmitNotConfirmedError``.
* **fal's own 5xx on a read-only queue call** (status, status stream, cancel): retried, since
  those answers come from fal's queue service, not from the app. A result's 5xx is the app's
  answer replayed, so it is final.
* A 504 carrying ``X-Fal-Request-Timeout-Type`` is the caller's own ``start_timeout``: never
  retried. Any other status is final.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Optional

__all__ = ["RetryPolicy", "parse_retry_after"]


def parse_retry_after(value: Optional[str], *, now: Optional[float] = None) -> Optional[float]:
    """``Retry-After`` as seconds from now (delta-seconds or HTTP-date), ``None`` if unusable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        # Servers send delta-seconds; the email package (about 8 ms to import) only for dates.
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds < 0:  # NaN or in the past
        return 0.0 if seconds < 0 else None
    return seconds


@dataclass(frozen=True)
class RetryPolicy:
    """How the client retries transient failures.

    Args:
        max_attempts: attempts in total, the first included (1 disables retrying).
        base_delay: the wait before the first retry, in seconds.
        max_delay: the cap of a single backoff wait. A server's ``Retry-After`` is honoured in
            full instead; when it would exceed ``max_total``, the client gives up at once.
        multiplier: growth of the wait per attempt.
        jitter: the wait is scaled by a random factor in ``[1 - jitter, 1 + jitter]``.
        max_total: no retry starts once this many seconds have passed since the first attempt.
        retry_statuses: statuses retried for every request.
        ingress_statuses: statuses retried when they come from fal's gateway (no request id).
        server_error_statuses: statuses retried for read-only queue calls (status, cancel).
    """

    max_attempts: int = 5
    base_delay: float = 0.1
    max_delay: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_total: float = 60.0
    retry_statuses: frozenset[int] = field(default_factory=lambda: frozenset({408, 409, 429}))
    ingress_statuses: frozenset[int] = field(default_factory=lambda: frozenset({502, 503, 504}))
    server_error_statuses: frozenset[int] = field(
        default_factory=lambda: frozenset({500, 502, 503, 504})
    )

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {self.max_attempts!r}")
        for name in ("base_delay", "max_delay", "max_total"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier!r}")

    def status_is_retryable(
        self, status_code: int, headers: Mapping[str, str], *, server_errors: bool = False
    ) -> bool:
        """Whether an error status means "try again".

        Without ``server_errors`` only answers that prove the request was not processed count
        (safe even for POST); with it, fal's 5xx on read-only queue calls count too.
        """
        lower = {k.lower() for k in headers}
        if "x-fal-request-timeout-type" in lower:
            return False
        if status_code in self.retry_statuses:
            return True
        if server_errors and status_code in self.server_error_statuses:
            return True
        return status_code in self.ingress_statuses and "x-fal-request-id" not in lower

    def delay(
        self,
        retry_number: int,
        retry_after: Optional[float] = None,
        *,
        rng: Optional[random.Random] = None,
    ) -> float:
        """Seconds to wait before retry number ``retry_number`` (1-based)."""
        if retry_after is not None:
            return max(retry_after, 0.0)
        raw = min(self.base_delay * self.multiplier ** (retry_number - 1), self.max_delay)
        factor = 1 + self.jitter * ((rng or random).random() * 2 - 1)
        return min(raw * factor, self.max_delay)

    def may_retry(self, attempt: int, elapsed: float, next_delay: float) -> bool:
        """Whether attempt number ``attempt`` (just failed) may be followed by another."""
        return attempt < self.max_attempts and elapsed + next_delay <= self.max_total


DEFAULT_RETRY_POLICY = RetryPolicy()

# Fields of the default policy set by assigning the official module's constants
# (``fal_client.client.MAX_ATTEMPTS = 2``, as test suites written for it do). Written only by
# ``fal_client.client`` through ``set_legacy_default``; read by ``default_policy``.
_legacy_defaults: dict[str, Any] = {}


def set_legacy_default(field_name: str, value: Any) -> None:
    """Clients created from now on without ``retry=`` use ``value`` for ``field_name``
    (``None``: the built-in default again). Checked at once, by building the policy."""
    if value is None:
        _legacy_defaults.pop(field_name, None)
        return
    replace(DEFAULT_RETRY_POLICY, **{**_legacy_defaults, field_name: value})
    _legacy_defaults[field_name] = value


def default_policy() -> RetryPolicy:
    """The policy of a client created without ``retry=``/``max_retries=``."""
    if not _legacy_defaults:
        return DEFAULT_RETRY_POLICY
    return replace(DEFAULT_RETRY_POLICY, **_legacy_defaults)


def legacy_defaults() -> dict[str, Any]:
    """The fields set through the official module's constants (a copy)."""
    return dict(_legacy_defaults)
