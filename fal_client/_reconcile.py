"""Which job a lost submit created, decided from the request history. No I/O.

fal's queue has no idempotency key: when a submit's answer is lost after the POST may have been
sent, the job may exist. The request history lists the caller's requests with their input and
the time fal received them, so the job can be looked up instead of guessed at:

* ``FOUND``: exactly one listed request of the endpoint, not already claimed by this caller,
  has ``json_input`` equal to the JSON that was sent and ``sent_at`` inside the submit's window
  (from just before the POST to just after the error, widened by a clock-skew margin). That is
  our job: attach to it.
* ``AMBIGUOUS``: more than one does (the same input sent twice in one window): the caller
  cannot tell which is its own, and must not guess.
* ``ABSENT_PROVEN``: the history demonstrably covers the window and holds no such request, so
  the POST never created a job and sending it again creates the first one. Only two facts
  together prove that: the answers list unfinished requests (some item of this endpoint has no
  ``ended_at``; a history of finished requests only cannot show a job still queued), and some
  request sent after the window's end is listed (the history has caught up past the window).
  And the answer must list no request twice: the history's pages are offsets into a list that
  moves while it is read (a request that finishes moves down it), and an item moving past the
  page boundary both repeats and makes its neighbour skipped, so an answer with a repeat may
  miss the very job looked for.
* ``NOT_YET``: anything else; look again later (the history may lag), up to a bound.

This is the one place the rule lives; ``_recovery`` runs the lookups.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from ._platform import HistoryItem

__all__ = ["CLOCK_SKEW", "LostSubmit", "Match", "Verdict", "decide"]

#: How far fal's clock may be from ours: the window is widened by this on both sides.
CLOCK_SKEW = timedelta(seconds=2)


class Verdict(Enum):
    """What the history says about a lost submit."""

    FOUND = "found"
    AMBIGUOUS = "ambiguous"
    ABSENT_PROVEN = "absent_proven"
    NOT_YET = "not_yet"


@dataclass(frozen=True)
class LostSubmit:
    """A submit whose answer was lost.

    Attributes:
        endpoint_id: the endpoint as the history names it (app id plus sub-path).
        sent: the JSON value the POST carried.
        not_before: our UTC clock just before the POST (or before the process may have sent it).
        not_after: our UTC clock once the error arrived (or the latest the POST could arrive).
        skew: the clock-skew margin added on both sides.
    """

    endpoint_id: str
    sent: Any
    not_before: datetime
    not_after: datetime
    skew: timedelta = CLOCK_SKEW

    @property
    def window_start(self) -> datetime:
        """The earliest ``sent_at`` fal may have recorded for it."""
        return self.not_before - self.skew

    @property
    def window_end(self) -> datetime:
        """The latest ``sent_at`` fal may have recorded for it."""
        return self.not_after + self.skew


@dataclass(frozen=True)
class Match:
    """A verdict and the request ids it rests on (one when found, all when ambiguous)."""

    verdict: Verdict
    candidates: tuple[str, ...] = ()

    @property
    def request_id(self) -> str:
        """The found request id (only for ``FOUND``)."""
        assert self.verdict is Verdict.FOUND
        return self.candidates[0]


def _canonical(value: Any) -> str:
    # Key order and spacing are not part of a JSON value's identity; fal may re-serialise.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decide(lost: LostSubmit, items: Iterable[HistoryItem], claimed: Collection[str]) -> Match:
    """Decide what ``items`` (history answers for ``lost.endpoint_id``, in any order, repeats
    allowed) say about ``lost``. ``claimed`` are request ids this caller already holds: none of
    them can be the lost one's job."""
    sent = _canonical(lost.sent)
    start, end = lost.window_start, lost.window_end
    candidates: dict[str, None] = {}
    lists_pending = caught_up = repeats = False
    seen: set[str] = set()
    for item in items:
        if item.endpoint_id != lost.endpoint_id:
            continue
        if item.request_id in seen:
            repeats = True
        seen.add(item.request_id)
        if item.ended_at is None:
            lists_pending = True
        if item.sent_at is None:
            continue
        if item.sent_at > end:
            caught_up = True
            continue
        if item.sent_at < start or item.request_id in claimed:
            continue
        if _canonical(item.json_input) == sent:
            candidates.setdefault(item.request_id, None)
    found = tuple(candidates)
    if len(found) == 1:
        return Match(Verdict.FOUND, found)
    if len(found) > 1:
        return Match(Verdict.AMBIGUOUS, found)
    if lists_pending and caught_up and not repeats:
        return Match(Verdict.ABSENT_PROVEN)
    return Match(Verdict.NOT_YET)
