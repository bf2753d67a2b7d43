"""Adaptive concurrency for fan-out: shrink for a real rate limit, not for scattered 429s.

Pure decisions, no I/O, no clock (times are plain floats from the caller). ``map`` asks this
object how many jobs may be in flight and tells it what the server answered:

* **A refused submit** (429: no job was created). The refused input waits out its own
  ``Retry-After`` and comes back; nobody else waits for it. The limit shrinks only when the
  refusals are a *signal*: at the configured concurrency, when at least half of the recent submits
  (``min_samples`` or more) were refused, which scattered 429s almost never reach and a plan's
  concurrency cap reaches at once. The limit then drops to the number of jobs the server has
  accepted and still carries (what a concurrency cap allows; by Little's law also the
  concurrency a rate cap allows), not blindly to half. Below the configured concurrency the
  limit is a probe of the server's capacity, so a refused submit there means the last step up
  was one too many, and takes it back.
* **A 429 on an existing job's request** (status, stream, result): the job exists and its
  request is retried by the transport after its ``Retry-After``. Those halve the limit only when
  at least half of the recent such answers were 429s: the platform asks for fewer requests.
* **An accepted submit** grows the limit back. While refusals are recent the limit probes one
  step above what the server carries after one round (``limit`` accepted submits), and each probe
  refused doubles the rounds before the next one (up to ``MAX_PROBE_ROUNDS``): a cap that stays
  costs a handful of refused submits per run, each of which delays one input by its
  ``Retry-After``, rather than one per round (a probe refused near the end of a run would leave
  the cap idle while that input waits). Once a whole round went through without a refusal the
  pressure is gone: one step per accepted submit, back to the configured concurrency within a
  couple of rounds.

Signals are counted per *epoch*: each decrease opens a new one, and only answers to jobs admitted
in the current epoch count, so the refusals of a burst sent under the old limit cut it once.
When a decrease leaves the server carrying none of ours, nothing new is sent before the refused
input's wait is over: a submit now could only be refused again.
"""

from __future__ import annotations

from collections import deque

__all__ = ["MAX_PROBE_ROUNDS", "AdaptiveLimit"]

#: The most rounds of accepted submits between two probes of a capacity that keeps refusing.
MAX_PROBE_ROUNDS = 32


class AdaptiveLimit:
    """The in-flight limit of a ``map``, between ``minimum`` and ``maximum``.

    Args:
        maximum: the configured concurrency (the limit starts and recovers here).
        minimum: the floor of the limit.
        window: how many recent answers of each kind (submits; requests of existing jobs) the
            share of 429s is taken over.
        min_samples: answers of a kind needed before their share counts as a signal.
        threshold: the share of 429s among those answers that is a signal.
    """

    def __init__(
        self,
        maximum: int,
        *,
        minimum: int = 1,
        window: int = 32,
        min_samples: int = 8,
        threshold: float = 0.5,
    ):
        if not 1 <= minimum <= maximum:
            raise ValueError(f"need 1 <= minimum <= maximum, got {minimum} and {maximum}")
        if not 1 <= min_samples <= window:
            raise ValueError(f"need 1 <= min_samples <= window, got {min_samples} and {window}")
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
        self.maximum = maximum
        self.minimum = minimum
        self.min_samples = min_samples
        self.threshold = threshold
        self.limit = maximum
        self.epoch = 0
        self.resume_at = float("-inf")
        # Whether each recent answer of the current epoch was a 429.
        self._submits: deque[bool] = deque(maxlen=window)
        self._answers: deque[bool] = deque(maxlen=window)
        self._credit = 0  # accepted submits since the limit last changed
        self._probe_rounds = 1  # rounds of accepted submits before the next probe
        # No refusal since the last round that went through: one step per accepted submit.
        self._steady = True
        # Stepped one above a level that refused, waiting for a round through at the new level.
        self._probing = False

    def __repr__(self) -> str:
        return f"AdaptiveLimit(limit={self.limit}, maximum={self.maximum}, epoch={self.epoch})"

    def may_start(self, in_flight: int, now: float) -> bool:
        """Whether one more job may start with ``in_flight`` jobs holding a slot at ``now``."""
        return in_flight < self.limit and now >= self.resume_at

    def wait_time(self, now: float) -> float:
        """Seconds until submissions may resume (0 when not paused)."""
        return max(0.0, self.resume_at - now)

    def on_accepted(self, started_epoch: int) -> bool:
        """A submit of a job admitted in ``started_epoch`` went through; returns whether the
        limit grew."""
        if started_epoch == self.epoch:
            self._submits.append(False)
        if self.limit >= self.maximum:
            return False
        self._credit += 1
        if self._steady:
            return self._grow()
        if self._probing:
            if self._credit < self.limit:
                return False
            # A whole round went through one step above the level that refused: the pressure
            # is gone.
            self._steady, self._probing, self._probe_rounds = True, False, 1
            return self._grow()
        if self._credit < self.limit * self._probe_rounds:
            return False
        self._probing = True
        return self._grow()

    def on_refused(self, started_epoch: int, *, carried: int, now: float, wait: float) -> bool:
        """A submit of a job admitted in ``started_epoch`` was refused with 429 at ``now``;
        returns whether the limit shrank.

        Args:
            carried: the jobs in flight the server has accepted (the refused one is not).
            wait: how long the refused input waits before it is submitted again (the server's
                ``Retry-After``, or a backoff).
        """
        if started_epoch != self.epoch:
            return False  # sent under an older limit: that signal was taken already
        self._submits.append(True)
        # Below the maximum the limit is a probe of what the server takes: a refusal answers it.
        below_maximum = self.limit < self.maximum
        if not below_maximum and not self._signal(self._submits):
            return False  # scattered: only this input waits
        # A refused probe: wait twice as long before the next one. (A first signal at the
        # maximum starts probing afresh.)
        self._probe_rounds = min(self._probe_rounds * 2, MAX_PROBE_ROUNDS) if below_maximum else 1
        self._decrease(min(self.limit - 1, carried))
        if carried == 0:
            # The server carries nothing of ours and still refuses: anything sent before the
            # refused input's own wait is over would be refused too.
            self.resume_at = max(self.resume_at, now + wait)
        return True

    def on_answer(self, started_epoch: int, *, rate_limited: bool) -> bool:
        """An answer to a request of an existing job (status, stream, result) admitted in
        ``started_epoch``; ``rate_limited`` when it was a 429. Returns whether the limit
        shrank."""
        if started_epoch != self.epoch:
            return False
        self._answers.append(rate_limited)
        if not rate_limited or not self._signal(self._answers):
            return False
        self._decrease(self.limit // 2)
        return True

    def _signal(self, recent: deque[bool]) -> bool:
        return len(recent) >= self.min_samples and sum(recent) >= self.threshold * len(recent)

    def _grow(self) -> bool:
        self.limit += 1
        self._credit = 0
        return True

    def _decrease(self, target: int) -> None:
        self.limit = max(self.minimum, min(self.limit, target))
        self.epoch += 1
        self._submits.clear()
        self._answers.clear()
        self._credit = 0
        self._steady = self._probing = False
