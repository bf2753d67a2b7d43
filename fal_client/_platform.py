"""What fal's platform API answers, read into typed records: pure functions, no I/O.

The platform API (``https://api.fal.ai/v1``) serves model metadata with each endpoint's OpenAPI
document, unit prices, cost estimates and the caller's request history. Its pages share one
shape (``{<items>: [...], "next_cursor": ..., "has_more": ...}``). Where fal's docs leave a
field open, the readers here accept every reading seen (see docs/platform.md): a page's list
under its documented key or ``items``/``data``, timestamps with ``Z`` or an offset, numbers
sent as strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

from ._errors import UnexpectedResponseError

__all__ = [
    "MAX_IDS_PER_CALL",
    "CostEstimate",
    "HistoryItem",
    "ModelInfo",
    "Page",
    "Price",
    "format_time",
    "parse_estimate",
    "parse_history_item",
    "parse_model",
    "parse_page",
    "parse_price",
    "parse_time",
]

#: The platform API takes at most this many ``endpoint_id`` values in one call.
MAX_IDS_PER_CALL = 50


@dataclass(frozen=True)
class ModelInfo:
    """One model endpoint as the platform API describes it.

    Attributes:
        endpoint_id: the id you call it by, e.g. ``"fal-ai/flux/dev"``.
        metadata: what fal lists about it (``display_name``, ``category``, ``description``,
            ``status``...), as sent.
        openapi: the endpoint's OpenAPI 3.0 document, when it was asked for (``None`` if not).
    """

    endpoint_id: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    openapi: Optional[Mapping[str, Any]] = None

    @property
    def display_name(self) -> Optional[str]:
        """The model's name as fal shows it."""
        value = self.metadata.get("display_name")
        return value if isinstance(value, str) else None

    @property
    def category(self) -> Optional[str]:
        """fal's category, e.g. ``"text-to-image"``."""
        value = self.metadata.get("category")
        return value if isinstance(value, str) else None

    @property
    def status(self) -> Optional[str]:
        """``"active"`` or ``"deprecated"``."""
        value = self.metadata.get("status")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Price:
    """The unit price of one endpoint: ``unit_price`` ``currency`` per ``unit``.

    ``unit`` is the endpoint's billing unit (``"image"``, ``"video_second"``, ``"megapixel"``,
    ``"request"``, GPU seconds...): most endpoints bill per output, not per call.
    """

    endpoint_id: str
    unit_price: float
    unit: str
    currency: str


@dataclass(frozen=True)
class CostEstimate:
    """What the platform API estimates a set of calls to cost."""

    estimate_type: str
    total_cost: float
    currency: str


@dataclass(frozen=True)
class HistoryItem:
    """One of your requests to an endpoint, from the request history.

    Times are timezone-aware UTC ``datetime``s (``None`` when fal sent none, as for a request
    that has not started or ended). ``json_input`` and ``json_output`` are only filled when the
    history was asked for with payloads. ``raw`` is the item as sent.
    """

    request_id: str
    endpoint_id: str
    sent_at: Optional[datetime]
    started_at: Optional[datetime]
    ended_at: Optional[datetime]
    status_code: Optional[int]
    duration: Optional[float]
    json_input: Any = None
    json_output: Any = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def succeeded(self) -> bool:
        """Whether the request ended with a 2xx status."""
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Page:
    """One page of a paginated answer: its raw items and the cursor of the next page."""

    items: Sequence[Any]
    next_cursor: Optional[str]


def _unexpected(what: str, body: Any) -> UnexpectedResponseError:
    return UnexpectedResponseError(
        f"the platform API sent {what}", body=repr(body)[:200].encode("utf-8", "replace")
    )


def parse_page(body: Any, key: str) -> Page:
    """The items of a page under ``key`` (or ``items``/``data``) and its next cursor.

    A page with ``has_more`` false has no next page whatever its cursor says; a cursor equal to
    none is the end too.
    """
    if not isinstance(body, Mapping):
        raise _unexpected(f"a {type(body).__name__} where a page object was expected", body)
    for name in (key, "items", "data"):
        items = body.get(name)
        if isinstance(items, list):
            break
    else:
        raise _unexpected(f"a page without a {key!r} list", body)
    cursor = body.get("next_cursor")
    if body.get("has_more") is False or not isinstance(cursor, str) or not cursor:
        cursor = None
    return Page(items, cursor)


def _text(item: Mapping[str, Any], name: str, what: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise _unexpected(f"{what} without a {name!r} string", item)
    return value


def _number(value: Any) -> Optional[float]:
    # Numbers may come as JSON strings ("0.025"); anything else unreadable is "not given".
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def parse_model(item: Any) -> ModelInfo:
    """A ``models`` entry."""
    if not isinstance(item, Mapping):
        raise _unexpected("a model entry that is not an object", item)
    metadata = item.get("metadata")
    openapi = item.get("openapi")
    return ModelInfo(
        endpoint_id=_text(item, "endpoint_id", "a model entry"),
        metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
        openapi=openapi if isinstance(openapi, Mapping) else None,
    )


def parse_price(item: Any) -> Price:
    """A ``prices`` entry."""
    if not isinstance(item, Mapping):
        raise _unexpected("a price entry that is not an object", item)
    unit_price = _number(item.get("unit_price"))
    if unit_price is None or unit_price < 0:
        raise _unexpected("a price entry without a non-negative 'unit_price'", item)
    return Price(
        endpoint_id=_text(item, "endpoint_id", "a price entry"),
        unit_price=unit_price,
        unit=str(item.get("unit") or "unit"),
        currency=str(item.get("currency") or "USD"),
    )


def parse_estimate(body: Any) -> CostEstimate:
    """The answer of ``POST /models/pricing/estimate``."""
    if not isinstance(body, Mapping):
        raise _unexpected("an estimate that is not an object", body)
    total = _number(body.get("total_cost"))
    if total is None or total < 0:
        raise _unexpected("an estimate without a non-negative 'total_cost'", body)
    return CostEstimate(
        estimate_type=str(body.get("estimate_type") or ""),
        total_cost=total,
        currency=str(body.get("currency") or "USD"),
    )


def parse_time(value: Any) -> Optional[datetime]:
    """An ISO 8601 timestamp as an aware UTC ``datetime``; ``None`` for none or unreadable.

    Accepts ``Z`` and numeric offsets, any number of fractional digits (Python before 3.11
    takes only 3 or 6), and a time without an offset as UTC.
    """
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    date_part, sep, time_part = text.partition("T")
    if not sep:
        date_part, sep, time_part = text.partition(" ")
    if sep and "." in time_part:
        whole, _, rest = time_part.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, offset = rest[:digits], rest[digits:]
        time_part = f"{whole}.{(fraction + '000000')[:6]}{offset}"
        text = f"{date_part}T{time_part}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def format_time(moment: datetime) -> str:
    """``moment`` as the platform API's query parameters take it (ISO 8601, UTC, ``Z``).

    A naive ``datetime`` is taken as local time, as Python's own ``astimezone`` does.
    """
    utc = moment.astimezone(timezone.utc)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_history_item(item: Any, endpoint_id: str) -> HistoryItem:
    """A request history entry (``endpoint_id`` fills in an entry that omits its own)."""
    if not isinstance(item, Mapping):
        raise _unexpected("a history entry that is not an object", item)
    status_code = item.get("status_code")
    return HistoryItem(
        request_id=_text(item, "request_id", "a history entry"),
        endpoint_id=str(item.get("endpoint_id") or endpoint_id),
        sent_at=parse_time(item.get("sent_at")),
        started_at=parse_time(item.get("started_at")),
        ended_at=parse_time(item.get("ended_at")),
        status_code=status_code
        if isinstance(status_code, int) and not isinstance(status_code, bool)
        else None,
        duration=_number(item.get("duration")),
        json_input=item.get("json_input"),
        json_output=item.get("json_output"),
        raw=dict(item),
    )
