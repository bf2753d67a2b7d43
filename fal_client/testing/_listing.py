"""Filtering and paging the inspection lists (``GET /__emulator/jobs?app=...&limit=...``).

No I/O: a :class:`Listing` says which query parameters a list accepts; :func:`parse_query`
turns a query string into a :class:`ListQuery` (or a :class:`QueryError` naming the bad
parameter), and :func:`paginate` applies it to the list's entries, which come as ``(key,
item)`` pairs in ascending key order. A cursor is opaque to clients: it encodes the list, the
order and the key of the last item returned, so the next page starts after it even if older
items expired meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

Key = Union[int, str]

#: The most items one page may hold.
MAX_LIMIT = 10_000


class QueryError(ValueError):
    """A query parameter the list does not accept, or a value it cannot use.

    Attributes:
        parameter: the offending parameter's name.
    """

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Filter:
    """One filtering query parameter of a list.

    Attributes:
        name: the query parameter.
        description: what it selects (shown in the OpenAPI document).
        schema: the parameter's JSON schema.
        parse: turns the raw value into what ``test`` compares against; raises ValueError
            with a message for the client.
        test: whether an item passes, given the parsed value.
    """

    name: str
    description: str
    schema: Mapping[str, Any]
    parse: Callable[[str], Any]
    test: Callable[[Any, Any], bool]


@dataclass(frozen=True)
class Listing:
    """A list under ``/__emulator/`` and the filters it accepts (``limit``, ``cursor`` and
    ``order`` are accepted by every list)."""

    name: str
    filters: Tuple[Filter, ...] = ()

    @property
    def parameters(self) -> Tuple[str, ...]:
        """Every query parameter the list accepts, filters first."""
        return (*(f.name for f in self.filters), *PAGING_PARAMETERS)


@dataclass(frozen=True)
class ListQuery:
    """A parsed list query."""

    filters: Tuple[Tuple[Filter, Any], ...] = ()
    limit: Optional[int] = None
    after: Optional[Key] = None
    descending: bool = False


@dataclass
class Page:
    """One page of a list.

    Attributes:
        items: the items on this page, in order.
        total: how many items match the filters (on every page).
        next_cursor: the cursor of the next page, or None on the last one.
    """

    items: List[Any] = field(default_factory=list)
    total: int = 0
    next_cursor: Optional[str] = None


#: Paging parameters, in the order the OpenAPI document lists them.
PAGING_PARAMETERS = ("limit", "cursor", "order")

PAGING_DOCS: Dict[str, Tuple[str, Mapping[str, Any]]] = {
    "limit": (
        f"At most this many items (1 to {MAX_LIMIT}); without it, every matching item. When "
        'more remain, the response has a `Link: <...>; rel="next"` header and `X-Next-Cursor`.',
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    ),
    "cursor": (
        "Continue after the last item of a previous page: the `X-Next-Cursor` it returned "
        "(given with the same filters and order).",
        {"type": "string"},
    ),
    "order": (
        "`asc` (oldest first, the default) or `desc` (newest first).",
        {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
    ),
}


def parse_query(listing: Listing, items: Sequence[Tuple[str, str]]) -> ListQuery:
    """Validate and parse a list's query parameters.

    A filter given several times (``status=IN_QUEUE&status=IN_PROGRESS``), or with
    comma-separated values, matches any of them.

    Raises:
        QueryError: for a parameter the list does not accept, or a value it cannot use.
    """
    by_name = {f.name: f for f in listing.filters}
    raw: Dict[str, List[str]] = {}
    for name, value in items:
        if name not in by_name and name not in PAGING_PARAMETERS:
            accepted = ", ".join(listing.parameters)
            raise QueryError(
                name,
                f"Unknown query parameter {name!r} for /__emulator/{listing.name}; "
                f"it accepts: {accepted}",
            )
        raw.setdefault(name, []).append(value)
    for name in PAGING_PARAMETERS:
        if len(raw.get(name, ())) > 1:
            raise QueryError(name, f"Query parameter {name!r} was given more than once")
    filters = []
    for flt in listing.filters:
        if flt.name not in raw:
            continue
        values = [part.strip() for value in raw[flt.name] for part in value.split(",")]
        values = [value for value in values if value]
        if not values:
            raise QueryError(flt.name, f"Query parameter {flt.name!r} is empty")
        try:
            parsed = [flt.parse(value) for value in values]
        except ValueError as exc:
            raise QueryError(flt.name, f"Query parameter {flt.name!r}: {exc}") from None
        filters.append((flt, parsed))
    order = raw.get("order", ["asc"])[0]
    if order not in ("asc", "desc"):
        raise QueryError("order", "Query parameter 'order' must be 'asc' or 'desc'")
    descending = order == "desc"
    limit = None
    if "limit" in raw:
        limit = _parse_limit(raw["limit"][0])
    after = None
    if "cursor" in raw:
        after = decode_cursor(listing.name, descending, raw["cursor"][0])
    return ListQuery(tuple(filters), limit, after, descending)


def _parse_limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise QueryError("limit", f"Query parameter 'limit' is not an integer: {value!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError("limit", f"Query parameter 'limit' must be between 1 and {MAX_LIMIT}")
    return limit


def paginate(query: ListQuery, entries: Iterable[Tuple[Key, Any]], *, listing: str) -> Page:
    """Apply ``query`` to ``entries`` (``(key, item)`` pairs in ascending key order)."""
    ordered = list(entries)
    if query.descending:
        ordered.reverse()
    matching = [
        (key, item)
        for key, item in ordered
        if all(any(flt.test(item, value) for value in values) for flt, values in query.filters)
    ]
    start = 0
    after = query.after
    if after is not None:
        # The page starts at the first item beyond the cursor in the list's order.
        start = next(
            (
                index
                for index, (key, _) in enumerate(matching)
                if (_lt(key, after) if query.descending else _lt(after, key))
            ),
            len(matching),
        )
    chosen = matching[start:]
    next_cursor = None
    if query.limit is not None and len(chosen) > query.limit:
        chosen = chosen[: query.limit]
        next_cursor = encode_cursor(listing, query.descending, chosen[-1][0])
    return Page([item for _, item in chosen], len(matching), next_cursor)


def _lt(a: Key, b: Key) -> bool:
    # Keys of one list are all ints or all strs; a cursor of the wrong type was refused.
    return a < b  # type: ignore[operator]


def encode_cursor(listing: str, descending: bool, key: Key) -> str:
    """The opaque cursor continuing ``listing`` after ``key``."""
    raw = json.dumps(
        {"l": listing, "o": "desc" if descending else "asc", "k": key}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(listing: str, descending: bool, cursor: str) -> Key:
    """The key a cursor continues after.

    Raises:
        QueryError: if it is not a cursor of this list and order.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key = data["k"]
        ok = (
            isinstance(data, dict)
            and data.get("l") == listing
            and isinstance(key, (int, str))
            and not isinstance(key, bool)
        )
    except (ValueError, binascii.Error, KeyError, TypeError):
        ok = False
    if not ok:
        raise QueryError("cursor", f"Query parameter 'cursor' is not a cursor of {listing}")
    if data.get("o") != ("desc" if descending else "asc"):
        raise QueryError("cursor", "Query parameter 'cursor' was made for the other order")
    return key  # type: ignore[no-any-return]


# --- building blocks for filters ------------------------------------------------------------


def parse_timestamp(value: str) -> float:
    """A ``since`` value: seconds since the epoch, or an ISO 8601 date-time (UTC if no zone)."""
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise ValueError(f"not a time: {value!r}")
        return number
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not a time: {value!r} (give seconds since the epoch or ISO 8601)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def since_filter(attribute: str, what: str) -> Filter:
    """``since``: items whose ``attribute`` (a ``time.time()`` value) is at or after it."""
    return Filter(
        "since",
        f"Only items {what} at or after this time: seconds since the epoch (as in the "
        "records) or an ISO 8601 date-time such as `2026-11-01T12:00:00Z`.",
        {"type": "string", "examples": ["1767268800.5", "2026-11-01T12:00:00Z"]},
        parse_timestamp,
        lambda item, since: (getattr(item, attribute) or 0.0) >= since,
    )


def app_filter(attribute: str = "app") -> Filter:
    """``app``: items of one app id, or of those matching a ``*`` pattern."""

    def test(item: Any, pattern: str) -> bool:
        value = getattr(item, attribute)
        return value is not None and fnmatch.fnmatchcase(value, pattern)

    return Filter(
        "app",
        "Only items of this app id (`fal-ai/echo`); `*` matches any run of characters "
        "(`fal-ai/*`). Several, comma-separated, match any of them.",
        {"type": "string", "examples": ["fal-ai/echo", "fal-ai/*"]},
        str,
        test,
    )


def choice_filter(
    name: str,
    description: str,
    choices: Sequence[str],
    test: Callable[[Any, str], bool],
) -> Filter:
    """A filter whose values come from a fixed set (matched case-insensitively)."""
    canonical = {choice.lower(): choice for choice in choices}

    def parse(value: str) -> str:
        found = canonical.get(value.lower())
        if found is None:
            raise ValueError(f"expected one of {', '.join(choices)}; got {value!r}")
        return found

    return Filter(
        name,
        description,
        {"type": "string", "enum": list(choices)},
        parse,
        test,
    )


def equals_filter(name: str, attribute: str, description: str) -> Filter:
    """A filter matching one attribute exactly."""
    return Filter(
        name,
        description,
        {"type": "string"},
        str,
        lambda item, value: getattr(item, attribute) == value,
    )


_STATUS_CODE = re.compile(r"^[1-5](?:[0-9]{2}|xx)$", re.IGNORECASE)


def parse_status_code(value: str) -> str:
    """An HTTP status filter: a code (``404``) or a class (``4xx``)."""
    if not _STATUS_CODE.match(value):
        raise ValueError(
            f"expected an HTTP status such as 404 or a class such as 4xx; got {value!r}"
        )
    return value.lower()


def status_code_matches(code: Optional[int], pattern: str) -> bool:
    """Whether an HTTP status matches ``404`` or ``4xx`` (a missing status matches nothing)."""
    if code is None:
        return False
    if pattern.endswith("xx"):
        return code // 100 == int(pattern[0])
    return code == int(pattern)
