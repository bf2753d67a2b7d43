"""The request history of the platform API (``GET /api/v1/models/requests/by-endpoint``): a
query read from the URL, answered by a pure function over snapshots of the jobs. No I/O.

What the history shows, and the emulator's choices where fal's docs are silent:

- Every job the emulator still holds (run, stream and queue, ``job_ttl`` after it finished),
  including a job whose submit answer a fault dropped: the job exists, its caller never saw it.
- ``history_lag`` seconds: a finished job shows as finished only that long after it ended; until
  then it is not finished as far as the history knows.
- Not finished (queued, running, or lagging): left out, unless ``history_lists_pending``; then
  listed with ``ended_at``, ``status_code`` and ``duration`` null and no output.
- ``start``/``end`` (end exclusive) bound ``sent_at``, when the request arrived.
- ``status``: ``success`` is a status below 400, ``user_error`` 400 to 499 (a cancelled request's
  499 too), ``error`` 500 and above; unfinished requests have none, so never match.
- ``duration`` is ``ended_at - started_at`` in seconds (execution, not queue, time), null for a
  request that never started (cancelled or timed out in the queue).
- Newest first: ``sort_by=ended_at`` puts unfinished requests first (by ``sent_at``), then the
  finished ones by ``ended_at``; ``sort_by=duration`` puts the longest first and unfinished
  ones last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

from . import _platform_params as params
from ._jobs import COMPLETED, Job

#: Query parameters the history takes.
PARAMETERS = (
    "endpoint_id",
    "start",
    "end",
    "status",
    "request_id",
    "expand",
    "limit",
    "cursor",
    "sort_by",
)
STATUSES = ("success", "error", "user_error")
SORTS = ("ended_at", "duration")
DEFAULT_LIMIT = 50
MAX_LIMIT = 100

_HOUR = 3600 * 1_000_000
#: How far back ``start`` defaults to, without and with a ``request_id``.
DEFAULT_WINDOW = 24 * _HOUR
REQUEST_ID_WINDOW = 90 * 24 * _HOUR


@dataclass(frozen=True)
class HistoryEntry:
    """One request as the history sees it (times in epoch microseconds).

    Attributes:
        request_id: the fal request id.
        endpoint_id: the endpoint called (app name plus sub-path).
        sent_at: when the request arrived.
        started_at: when an app worker picked it up, if it has.
        ended_at: when it finished, if it has.
        status_code: the status of its result, once finished.
        json_input: the JSON input, as bytes.
        json_output: the body of its result, once finished.
        seq: arrival order (breaks ties).
    """

    request_id: str
    endpoint_id: str
    sent_at: int
    started_at: Optional[int]
    ended_at: Optional[int]
    status_code: Optional[int]
    json_input: Optional[bytes]
    json_output: Optional[bytes]
    seq: int


def entry_of(job: Job) -> HistoryEntry:
    """A snapshot of ``job`` (call holding the state lock)."""
    finished_at = job.finished_at if job.status == COMPLETED else None
    response = job.response if finished_at is not None else None
    return HistoryEntry(
        request_id=job.request_id,
        endpoint_id=job.endpoint,
        sent_at=params.to_micros(job.submitted_at),
        started_at=None if job.started_at is None else params.to_micros(job.started_at),
        ended_at=None if finished_at is None else params.to_micros(finished_at),
        status_code=response.status_code if response is not None else None,
        json_input=job.input_json(),
        json_output=response.body if response is not None else None,
        seq=job.seq,
    )


@dataclass(frozen=True)
class HistoryQuery:
    """A request history query, as read from the URL (times in epoch microseconds).

    Attributes:
        endpoint_id: the endpoint whose requests are listed.
        start: the earliest ``sent_at`` (inclusive), or None for the default window.
        end: the latest ``sent_at`` (exclusive), or None for now.
        status: ``success``, ``error`` or ``user_error``, or None for any.
        request_id: only this request.
        payloads: include ``json_input`` and ``json_output``.
        limit: the page size.
        page: the page (1-based).
        sort_by: ``ended_at`` or ``duration``.
    """

    endpoint_id: str
    start: Optional[int] = None
    end: Optional[int] = None
    status: Optional[str] = None
    request_id: Optional[str] = None
    payloads: bool = False
    limit: int = DEFAULT_LIMIT
    page: int = 1
    sort_by: str = "ended_at"


def parse_query(items: params.Items) -> HistoryQuery:
    """Read a history query from the URL's parameters.

    Raises:
        FieldError: for a parameter it does not take or a value it cannot use.
    """
    params.refuse_unknown(items, PARAMETERS)
    ids = params.endpoint_ids(items, required=True)
    if len(ids) > 1:
        raise params.FieldError("endpoint_id", "takes one endpoint id")
    start = params.timestamp(items, "start")
    end = params.timestamp(items, "end")
    if start is not None and end is not None and end <= start:
        raise params.FieldError("end", "must be after start")
    return HistoryQuery(
        endpoint_id=ids[0],
        start=start,
        end=end,
        status=params.choice(items, "status", STATUSES, None),
        request_id=params.single(items, "request_id"),
        payloads="payloads" in params.expansions(items, ("payloads",)),
        limit=params.limit(items, default=DEFAULT_LIMIT, maximum=MAX_LIMIT, clamp=False),
        page=params.page_number(items),
        sort_by=params.choice(items, "sort_by", SORTS, "ended_at") or "ended_at",
    )


def status_class(status_code: int) -> str:
    """Which ``status`` filter a finished request's status code matches."""
    if status_code >= 500:
        return "error"
    if status_code >= 400:
        return "user_error"
    return "success"


def _decoded(body: Optional[bytes]) -> Any:
    if body is None:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _item(entry: HistoryEntry, ended_at: Optional[int], payloads: bool) -> Dict[str, Any]:
    finished = ended_at is not None
    started = entry.started_at
    item: Dict[str, Any] = {
        "request_id": entry.request_id,
        "endpoint_id": entry.endpoint_id,
        "sent_at": params.format_timestamp(entry.sent_at),
        "started_at": params.format_timestamp(started),
        "ended_at": params.format_timestamp(ended_at),
        "status_code": entry.status_code if finished else None,
        "duration": (
            (ended_at - started) / 1_000_000
            if ended_at is not None and started is not None
            else None
        ),
    }
    if payloads:
        item["json_input"] = _decoded(entry.json_input)
        item["json_output"] = _decoded(entry.json_output) if finished else None
    return item


def query_history(
    entries: Iterable[HistoryEntry],
    query: HistoryQuery,
    *,
    now: int,
    lag: float = 0.0,
    include_pending: bool = False,
) -> Dict[str, Any]:
    """The answer to ``query`` at ``now`` (epoch microseconds): ``{items, next_cursor,
    has_more}``.

    Args:
        entries: every request the emulator holds, in any order.
        query: what to list.
        now: the present, in epoch microseconds (a test passes its own).
        lag: seconds after its end before a request shows as finished.
        include_pending: list unfinished requests too (with null ``ended_at``).
    """
    lag_micros = round(lag * 1_000_000)
    start = query.start
    if start is None:
        start = now - (REQUEST_ID_WINDOW if query.request_id is not None else DEFAULT_WINDOW)
    end = now if query.end is None else query.end
    found: List[Tuple[Tuple[int, int, int], HistoryEntry, Optional[int]]] = []
    for entry in entries:
        if entry.endpoint_id != query.endpoint_id:
            continue
        if query.request_id is not None and entry.request_id != query.request_id:
            continue
        if not start <= entry.sent_at < end:
            continue
        ended_at = entry.ended_at
        if ended_at is not None and ended_at + lag_micros > now:
            ended_at = None  # finished, but the history has not caught up yet
        if ended_at is None:
            if not include_pending or query.status is not None:
                continue
        elif query.status is not None:
            assert entry.status_code is not None
            if status_class(entry.status_code) != query.status:
                continue
        found.append((_sort_key(entry, ended_at, query.sort_by), entry, ended_at))
    found.sort(key=lambda row: row[0], reverse=True)
    page, next_cursor = params.page_of(found, query.page, query.limit)
    return {
        "items": [_item(entry, ended_at, query.payloads) for _, entry, ended_at in page],
        "next_cursor": next_cursor,
        "has_more": next_cursor is not None,
    }


def _sort_key(entry: HistoryEntry, ended_at: Optional[int], sort_by: str) -> Tuple[int, int, int]:
    # Sorted in reverse (newest, longest first); the first element groups unfinished requests
    # before (ended_at) or after (duration) the finished ones.
    if ended_at is None:
        return (1 if sort_by == "ended_at" else 0, entry.sent_at, entry.seq)
    if sort_by == "ended_at":
        return (0, ended_at, entry.seq)
    duration = ended_at - entry.started_at if entry.started_at is not None else -1
    return (1, duration, entry.seq)
