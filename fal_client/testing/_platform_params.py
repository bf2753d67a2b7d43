"""Reading the platform API's query parameters (``/api/v1/...``, fal's api.fal.ai/v1): endpoint
id lists, limits, page cursors, ISO 8601 timestamps and expansions. No I/O.

Every refusal is a :class:`FieldError` naming the parameter, answered 422. A parameter a route
does not take is refused too (fal ignores them), so a misspelt filter fails a test instead of
silently matching everything.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from typing import Collection, FrozenSet, List, Optional, Sequence, Tuple, TypeVar

from ._app_ids import normalize_app_name

T = TypeVar("T")

Items = Sequence[Tuple[str, str]]

#: How many endpoint ids one request may name (fal's limit).
MAX_ENDPOINT_IDS = 50


class FieldError(ValueError):
    """A query parameter or body field the platform API cannot use (answered 422).

    Attributes:
        field: the parameter or field, e.g. ``"endpoint_id"`` or ``"endpoints.me/app"``.
        message: what is wrong with it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def refuse_unknown(items: Items, known: Collection[str]) -> None:
    """Raise for a parameter not in ``known``."""
    for name, _ in items:
        if name not in known:
            raise FieldError(
                name, f"unknown query parameter; this endpoint takes {', '.join(sorted(known))}"
            )


def values(items: Items, name: str) -> List[str]:
    """Every value of ``name``, repeated (``?a=1&a=2``) or comma-separated (``?a=1,2``)."""
    found: List[str] = []
    for key, value in items:
        if key == name:
            found.extend(part.strip() for part in value.split(",") if part.strip())
    return found


def single(items: Items, name: str) -> Optional[str]:
    """The value of a parameter given at most once (None when absent or empty)."""
    given = [value for key, value in items if key == name]
    if len(given) > 1:
        raise FieldError(name, "give it once")
    return (given[0].strip() or None) if given else None


def choice(
    items: Items, name: str, choices: Sequence[str], default: Optional[str]
) -> Optional[str]:
    """A parameter that must be one of ``choices``."""
    value = single(items, name)
    if value is None:
        return default
    if value not in choices:
        raise FieldError(name, f"must be one of {', '.join(choices)}, not {value!r}")
    return value


def endpoint_ids(items: Items, *, required: bool) -> List[str]:
    """The ``endpoint_id`` values (1 to 50, repeated or comma-separated), normalised, in the
    order given, without repeats."""
    ids: List[str] = []
    for raw in values(items, "endpoint_id"):
        try:
            normalized = normalize_app_name(raw)
        except ValueError:
            raise FieldError("endpoint_id", f"{raw!r} is not an endpoint id (owner/app)") from None
        if normalized not in ids:
            ids.append(normalized)
    if required and not ids:
        raise FieldError("endpoint_id", "at least one endpoint id is required")
    if len(ids) > MAX_ENDPOINT_IDS:
        raise FieldError(
            "endpoint_id", f"at most {MAX_ENDPOINT_IDS} endpoint ids per request, got {len(ids)}"
        )
    return ids


def expansions(items: Items, allowed: Collection[str]) -> FrozenSet[str]:
    """The ``expand`` values (repeated or comma-separated), each one of ``allowed``."""
    found = frozenset(values(items, "expand"))
    unknown = sorted(found - set(allowed))
    if unknown:
        raise FieldError("expand", f"{unknown[0]!r} cannot be expanded; use {', '.join(allowed)}")
    return found


def limit(items: Items, *, default: int, maximum: int, clamp: bool) -> int:
    """``limit``: at least 1; above ``maximum`` it is clamped (``clamp``) or refused."""
    raw = single(items, "limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise FieldError("limit", f"must be an integer, not {raw!r}") from None
    if value < 1:
        raise FieldError("limit", f"must be at least 1, not {value}")
    if value > maximum:
        if not clamp:
            raise FieldError("limit", f"must be at most {maximum}, not {value}")
        value = maximum
    return value


# --- pages -----------------------------------------------------------------------------------
# fal's cursors encode a page number in base64 ("Mg==" is page 2); the first page has none.


def page_cursor(page: int) -> str:
    """The ``cursor`` of page ``page`` (1-based)."""
    return base64.b64encode(str(page).encode()).decode()


def page_number(items: Items) -> int:
    """The page a ``cursor`` names (1 without one)."""
    raw = single(items, "cursor")
    if raw is None:
        return 1
    try:
        page = int(base64.b64decode(raw.encode(), validate=True).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise FieldError("cursor", f"{raw!r} is not a cursor from a previous page") from None
    if page < 1:
        raise FieldError("cursor", f"{raw!r} is not a cursor from a previous page")
    return page


def page_of(entries: Sequence[T], page: int, size: int) -> Tuple[List[T], Optional[str]]:
    """One page of ``entries`` and the cursor of the next (None on the last page)."""
    start = (page - 1) * size
    chunk = list(entries[start : start + size])
    more = start + size < len(entries)
    return chunk, page_cursor(page + 1) if more else None


# --- time ------------------------------------------------------------------------------------
# In whole microseconds, as the wire shows them: a timestamp read back from an answer and sent
# as ``start`` matches the item it came from exactly (floats would be off by rounding).

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MICROSECOND = datetime.timedelta(microseconds=1)
_FRACTION = re.compile(r"(:\d\d\.)(\d+)")


def to_micros(epoch_seconds: float) -> int:
    """``time.time()`` seconds as whole microseconds."""
    return round(epoch_seconds * 1_000_000)


def parse_timestamp(field: str, raw: str) -> int:
    """An ISO 8601 date or date-time as epoch microseconds: ``Z`` or an offset, or none (UTC)."""
    text = raw.strip()
    # Python < 3.11's fromisoformat takes neither "Z" nor a lower-case "t".
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    # ...nor fractions of other than 3 or 6 digits: pad or cut them to microseconds.
    text = _FRACTION.sub(lambda m: m.group(1) + (m.group(2) + "00000")[:6], text, count=1)
    try:
        if len(text) == 10:
            moment = datetime.datetime.combine(
                datetime.date.fromisoformat(text), datetime.time(), datetime.timezone.utc
            )
        else:
            moment = datetime.datetime.fromisoformat(text.replace("t", "T", 1))
    except ValueError:
        raise FieldError(
            field,
            f"{raw!r} is not an ISO 8601 date or time (e.g. 2025-01-01T00:00:00Z or 2025-01-01)",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return (moment - _EPOCH) // _MICROSECOND


def timestamp(items: Items, name: str) -> Optional[int]:
    """An optional ISO 8601 parameter as epoch microseconds."""
    raw = single(items, name)
    return None if raw is None else parse_timestamp(name, raw)


def format_timestamp(micros: Optional[int]) -> Optional[str]:
    """Epoch microseconds as ISO 8601 UTC with ``Z`` (``2025-01-01T00:00:05.000123Z``)."""
    if micros is None:
        return None
    moment = _EPOCH + datetime.timedelta(microseconds=micros)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
