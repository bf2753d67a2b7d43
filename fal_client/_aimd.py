"""Adaptive concurrency for fan-out: AIMD on rate limits. Pure decisions, no I/O, no clock.

``map`` asks this object how many jobs may be in flight. A job rejected with 429 halves the
limit (multiplicative decrease) and pauses new submissions for the server's ``Retry-After``
(or an exponential backoff when it gave none); every success adds one back (additive increase)
up to the configured ``concurrency``. Rejections that arrive together, from jobs started under
the same limit, count as one signal: each halving opens a new *epoch*, and only a job started
in the current epoch can halve again. Without that a burst of eight 429s would cut 16 to 1.
"""

from __future__ import annotations

from typing import Optional

__all__ = ["AdaptiveLimit"]


class AdaptiveLimit:
    """The in-flight limit of a ``map``: AIMD between ``minimum`` and ``maximum``.

    Args:
        maximum: the configured concurrency (the limit starts and recovers here).
        minimum: the floor of the limit.
        base_delay: the pause after a 429 without ``Retry-After``; doubles per consecutive
            signal (a new epoch), not per rejection.
        max_delay: the cap of that pause (a server's ``Retry-After`` is honoured in full).

    Times are plain floats from the caller's clock (``anyio.current_time()`` in ``map``).
    """

    def __init__(
        self,
        maximum: int,
        *,
        minimum: int = 1,
        base_delay: float = 0.1,
        max_delay: float = 10.0,
    ):
        if not 1 <= minimum <= maximum:
            raise ValueError(f"need 1 <= minimum <= maximum, got {minimum} and {maximum}")
        self.maximum = maximum
        self.minimum = minimum
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.limit = maximum
        self.epoch = 0
        self.resume_at = float("-inf")
        self._streak = 0  # consecutive rate-limit signals without a success in between

    def __repr__(self) -> str:
        return f"AdaptiveLimit(limit={self.limit}, maximum={self.maximum}, epoch={self.epoch})"

    def may_start(self, in_flight: int, now: float) -> bool:
        """Whether one more job may start with ``in_flight`` jobs running at time ``now``."""
        return in_flight < self.limit and now >= self.resume_at

    def wait_time(self, now: float) -> float:
        """Seconds until submissions may resume (0 when not paused)."""
        return max(0.0, self.resume_at - now)

    def on_success(self) -> None:
        """A job got through: additive increase."""
        self._streak = 0
        if self.limit < self.maximum:
            self.limit += 1

    def on_rate_limited(
        self, started_epoch: int, now: float, retry_after: Optional[float] = None
    ) -> float:
        """A job started in ``started_epoch`` was rate limited at ``now``; returns the pause.

        Halves the limit once per epoch and pauses new submissions until ``now`` plus the
        server's ``retry_after`` (or the backoff).
        """
        if started_epoch == self.epoch:
            self.limit = max(self.minimum, self.limit // 2)
            self.epoch += 1
            # The backoff grows per signal, not per rejection: a burst of 429s from jobs
            # started together (and every 429 their retries absorb) is one signal.
            self._streak += 1
        if retry_after is not None:
            pause = max(0.0, retry_after)
        else:
            pause = min(self.base_delay * 2 ** (max(self._streak, 1) - 1), self.max_delay)
        self.resume_at = max(self.resume_at, now + pause)
        return pause
