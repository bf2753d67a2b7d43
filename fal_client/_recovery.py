"""Finding the job of a lost submit in the request history (``Recovery``).

The rule is ``_reconcile.decide``; this module only asks the platform API often enough, and
not more often than needed:

* one lookup polls ``Platform.history(payloads=True, since=window start)`` with backoff
  (``FIRST_LOOK`` doubling to ``LAST_LOOK``) for at most ``RECOVERY_SECONDS``, until the history
  finds the job, proves it absent, or shows it ambiguous;
* lookups of one endpoint share their queries: a lock per endpoint, and a lookup reuses the
  last answer when that query was started after the lookup last needed a fresh one (its loss,
  or its previous look), and reached back far enough. So when many submits of a batch are lost
  together, one query serves all those waiting at that moment;
* nothing is asked when nothing was lost.

A history that cannot be read (an error that retrying does not cure, or the bound passing
while it keeps failing) ends the lookup undecided, as a ``SubmitNotRecoveredError`` whose
``reason`` says so; nothing is re-sent on a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

import anyio

from ._errors import (
    FalClientConnectionError,
    FalClientError,
    FalClientHTTPError,
    RateLimitError,
    ServerError,
    SubmitNotRecoveredError,
)
from ._platform import HistoryItem
from ._platform_api import Platform
from ._reconcile import LostSubmit, Match, Verdict, decide

__all__ = ["RECOVERY_SECONDS", "Recovery"]

logger = logging.getLogger("fal_client")

#: How long one lost submit is looked for in the history before it ends undecided.
RECOVERY_SECONDS = 60.0
#: The first pause between two looks, doubled after each up to ``LAST_LOOK``.
FIRST_LOOK = 0.25
LAST_LOOK = 4.0
_PAGE_SIZE = 100


@dataclass
class _Answer:
    """One history query: when it was started (``anyio.current_time()``), how far back it
    reached, and what it listed."""

    started: float
    since_key: float
    items: list[HistoryItem]


@dataclass
class _Endpoint:
    """The shared lookups of one endpoint."""

    lock: anyio.Lock = field(default_factory=anyio.Lock)
    # The window starts (as timestamps) of the lookups waiting now: a query reaches back to
    # the earliest, so it serves every one of them.
    waiting: dict[object, float] = field(default_factory=dict)
    last: Optional[_Answer] = None


def _transient(exc: FalClientError) -> bool:
    # What a later look may get past; anything else (404, 401/403, a body we cannot read)
    # will answer the same way again.
    if isinstance(exc, (FalClientConnectionError, ServerError, RateLimitError)):
        return True
    return isinstance(exc, FalClientHTTPError) and exc.status_code in (408, 425)


class Recovery:
    """Looks lost submits up in the request history, for one client (over its ``Platform``)."""

    def __init__(self, platform: Platform):
        self._platform = platform
        self._endpoints: dict[str, _Endpoint] = {}
        self.queries = 0  # history queries made (for tests and benchmarks)

    async def find(
        self,
        lost: LostSubmit,
        claimed: Collection[str],
        *,
        app: str,
        timeout: Optional[float] = None,
    ) -> Match:
        """Look ``lost`` up until the history finds it (``FOUND``) or proves it absent
        (``ABSENT_PROVEN``).

        Args:
            lost: the submit, its window and what it sent.
            claimed: request ids the caller holds already (read at each look: a live set may
                grow meanwhile).
            app: the app id, for the error.
            timeout: the bound, ``RECOVERY_SECONDS`` by default.

        Raises:
            SubmitNotRecoveredError: ambiguous, not decided within the bound, or the history
                unavailable.
        """
        bound = RECOVERY_SECONDS if timeout is None else timeout
        endpoint = self._endpoints.setdefault(lost.endpoint_id, _Endpoint())
        token = object()
        endpoint.waiting[token] = lost.window_start.timestamp()
        deadline = anyio.current_time() + bound
        # A query started before this moment cannot show what this lookup still needs to see.
        fresh_after = anyio.current_time()
        delay = FIRST_LOOK
        last_error: Optional[FalClientError] = None
        try:
            while True:
                try:
                    answer = await self._answer(lost, endpoint, fresh_after)
                    last_error = None
                except FalClientError as exc:
                    if not _transient(exc):
                        raise self._unavailable(lost, app, exc) from exc
                    last_error = exc
                    answer = None
                if answer is not None:
                    match = decide(lost, answer.items, claimed)
                    logger.debug(
                        "lost submit to %s: %s %s",
                        lost.endpoint_id,
                        match.verdict.value,
                        match.candidates,
                    )
                    if match.verdict in (Verdict.FOUND, Verdict.ABSENT_PROVEN):
                        return match
                    if match.verdict is Verdict.AMBIGUOUS:
                        raise SubmitNotRecoveredError(
                            f"a submit to {lost.endpoint_id} was sent but its answer was lost, "
                            f"and the request history lists {len(match.candidates)} requests "
                            f"with the same input in its time window "
                            f"({', '.join(match.candidates)}): not re-sent, and none attached "
                            "to, since any of them may be another caller's",
                            reason="ambiguous",
                            candidates=match.candidates,
                            app=app,
                        )
                now = anyio.current_time()
                if now >= deadline:
                    if last_error is not None:
                        raise self._unavailable(lost, app, last_error) from last_error
                    raise SubmitNotRecoveredError(
                        f"a submit to {lost.endpoint_id} was sent but its answer was lost, and "
                        f"the request history neither listed the job nor proved it absent "
                        f"within {bound:g} s: not re-sent, so a paid job is never created twice",
                        reason=f"not found in the history within {bound:g} s",
                        app=app,
                    )
                await anyio.sleep(min(delay, deadline - now))
                delay = min(delay * 2, LAST_LOOK)
                fresh_after = now
        finally:
            endpoint.waiting.pop(token, None)

    async def _answer(self, lost: LostSubmit, endpoint: _Endpoint, fresh_after: float) -> _Answer:
        """The history since ``lost``'s window start, as asked after ``fresh_after``: the last
        shared answer when it qualifies, else a new query reaching back for every waiter."""
        since_key = lost.window_start.timestamp()
        async with endpoint.lock:
            last = endpoint.last
            if last is not None and last.started >= fresh_after and last.since_key <= since_key:
                return last
            earliest = min(since_key, *endpoint.waiting.values())
            since = datetime.fromtimestamp(earliest, timezone.utc)
            started = anyio.current_time()
            items = [
                item
                async for item in self._platform.history(
                    lost.endpoint_id, since=since, payloads=True, page_size=_PAGE_SIZE
                )
            ]
            self.queries += 1
            endpoint.last = _Answer(started, earliest, items)
            return endpoint.last

    @staticmethod
    def _unavailable(lost: LostSubmit, app: str, exc: FalClientError) -> SubmitNotRecoveredError:
        return SubmitNotRecoveredError(
            f"a submit to {lost.endpoint_id} was sent but its answer was lost, and the request "
            f"history could not be read to find its job ({exc}): not re-sent, so a paid job is "
            "never created twice",
            reason=f"history unavailable: {exc}",
            app=app,
        )
