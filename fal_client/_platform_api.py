"""The platform resource: model metadata and schemas, prices, estimates, request history.

Over the client's engine, like the other resources; ``AsyncClient.platform`` is one of these
and ``SyncClient.platform`` its generated sync face (``tools/gen_sync_api.py``). Requests go
to the platform API's base URL (``FAL_API_URL``, default ``https://api.fal.ai/v1``), a fal
origin, so they carry the key. Everything is read-only but the estimate, which is a pure
computation on fal's side: every request here may be retried.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Optional, Union

from ._endpoints import parse_app_id
from ._engine import Engine, decode_json, get_platform_json
from ._errors import UnknownEndpointError
from ._platform import (
    MAX_IDS_PER_CALL,
    CostEstimate,
    HistoryItem,
    ModelInfo,
    Price,
    format_time,
    parse_estimate,
    parse_history_item,
    parse_model,
    parse_page,
    parse_price,
)
from ._schema_cache import EndpointSchema, SchemaCache

__all__ = ["HISTORY_STATUSES", "HistoryStatus", "Platform"]

HistoryStatus = Literal["success", "error", "user_error"]
#: The values the history's ``status`` filter takes.
HISTORY_STATUSES = ("success", "error", "user_error")
_MODEL_STATUSES = ("active", "deprecated")
_MAX_HISTORY_PAGE = 100


def _endpoint_ids(value: Union[str, Iterable[str]], name: str = "endpoint_ids") -> list[str]:
    """One id or several, each checked as an app id, without repeats, in the order given."""
    ids = [value] if isinstance(value, str) else list(value)
    if not ids:
        raise ValueError(f"{name} is empty: pass at least one endpoint id like 'fal-ai/flux/dev'")
    seen: dict[str, None] = {}
    for endpoint_id in ids:
        if not isinstance(endpoint_id, str):
            raise TypeError(f"{name} must hold str endpoint ids, got {endpoint_id!r}")
        seen.setdefault(parse_app_id(endpoint_id).full, None)
    return list(seen)


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), MAX_IDS_PER_CALL):
        yield ids[start : start + MAX_IDS_PER_CALL]


def _moment(name: str, value: Union[datetime, timedelta, None]) -> Optional[str]:
    """A history bound: a ``datetime``, or a ``timedelta`` meaning that long ago."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(f"{name} as a timedelta means 'that long ago': it must be >= 0")
        return format_time(datetime.now(timezone.utc) - value)
    if isinstance(value, datetime):
        return format_time(value)
    raise TypeError(f"{name} must be a datetime or a timedelta, got {type(value).__name__}")


def _page_size(value: Optional[int], maximum: int) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValueError(f"page_size must be an int from 1 to {maximum}, got {value!r}")
    return str(value)


class Platform:
    """fal's platform API for one client (``client.platform``).

    Model metadata and input/output schemas, unit prices, cost estimates, and your request
    history. The schemas are cached (``schema``); ``validate`` checks arguments against an
    endpoint's input schema without sending them.
    """

    def __init__(self, engine: Engine, schemas: SchemaCache):
        self._engine = engine
        self._schemas = schemas

    async def _get(self, path: str, query: Sequence[tuple[str, str]], about: str) -> Any:
        return await get_platform_json(self._engine, path, query, about=about)

    async def models(
        self, endpoint_ids: Union[str, Iterable[str]], *, openapi: bool = False
    ) -> list[ModelInfo]:
        """Look up endpoints by id (any number; asked 50 at a time).

        Args:
            endpoint_ids: one id or several, e.g. ``["fal-ai/flux/dev", "fal-ai/flux/schnell"]``.
            openapi: include each endpoint's OpenAPI 3.0 document (``ModelInfo.openapi``).

        Returns:
            The endpoints the platform API lists, in the order asked; ids it does not know are
            left out (``model`` raises for one instead).
        """
        ids = _endpoint_ids(endpoint_ids)
        found: dict[str, ModelInfo] = {}
        for chunk in _chunks(ids):
            query = [("endpoint_id", i) for i in chunk]
            if openapi:
                query.append(("expand", "openapi-3.0"))
            cursor: Optional[str] = None
            while True:
                page_query = query + ([("cursor", cursor)] if cursor else [])
                page = parse_page(await self._get("models", page_query, chunk[0]), "models")
                for item in page.items:
                    model = parse_model(item)
                    found.setdefault(model.endpoint_id, model)
                cursor = page.next_cursor
                if cursor is None:
                    break
        return [found[i] for i in ids if i in found]

    async def model(self, endpoint_id: str) -> ModelInfo:
        """One endpoint's metadata and OpenAPI document.

        Raises:
            UnknownEndpointError: the platform API does not list ``endpoint_id``.
        """
        listed = await self.models(endpoint_id, openapi=True)
        if not listed:
            raise UnknownEndpointError(
                f"the platform API does not list the endpoint {endpoint_id!r}: check its "
                "spelling (ids look like 'fal-ai/flux/dev')",
                app=endpoint_id,
            )
        return listed[0]

    def search_models(
        self,
        query: Optional[str] = None,
        *,
        category: Optional[str] = None,
        status: Optional[Literal["active", "deprecated"]] = None,
        openapi: bool = False,
        page_size: Optional[int] = None,
    ) -> AsyncIterator[ModelInfo]:
        """Every endpoint matching a free-text ``query``, a ``category`` (``"text-to-image"``)
        and a ``status``; all endpoints without filters. Follows the pages as you iterate."""
        params: list[tuple[str, str]] = []
        if query is not None:
            if not isinstance(query, str) or not query.strip():
                raise ValueError(f"query must be a non-empty str, got {query!r}")
            params.append(("q", query))
        if category is not None:
            if not isinstance(category, str) or not category.strip():
                raise ValueError(f"category must be a non-empty str, got {category!r}")
            params.append(("category", category))
        if status is not None:
            if status not in _MODEL_STATUSES:
                raise ValueError(f"status must be one of {_MODEL_STATUSES}, got {status!r}")
            params.append(("status", status))
        if openapi:
            params.append(("expand", "openapi-3.0"))
        limit = _page_size(page_size, 1000)
        if limit is not None:
            params.append(("limit", limit))
        return self._pages("models", params, "models", parse_model, query or "models")

    async def _pages(
        self, path: str, params: list[tuple[str, str]], key: str, parse: Any, about: str
    ) -> AsyncIterator[Any]:
        cursor: Optional[str] = None
        seen_cursors: set[str] = set()
        while True:
            page_query = params + ([("cursor", cursor)] if cursor else [])
            page = parse_page(await self._get(path, page_query, about), key)
            for item in page.items:
                yield parse(item)
            cursor = page.next_cursor
            # A server that hands back a cursor it already gave would loop forever.
            if cursor is None or cursor in seen_cursors:
                return
            seen_cursors.add(cursor)

    async def prices(self, endpoint_ids: Union[str, Iterable[str]]) -> dict[str, Price]:
        """The unit price of each endpoint, by id (ids fal has no price for are left out).

        A price is per the endpoint's billing unit (``Price.unit``: image, video second,
        megapixel...), not per call; ``estimate`` turns calls into a cost.
        """
        ids = _endpoint_ids(endpoint_ids)
        found: dict[str, Price] = {}
        for chunk in _chunks(ids):
            body = await self._get("models/pricing", [("endpoint_id", i) for i in chunk], chunk[0])
            for item in parse_page(body, "prices").items:
                price = parse_price(item)
                found.setdefault(price.endpoint_id, price)
        return {i: found[i] for i in ids if i in found}

    async def estimate(
        self,
        calls: Optional[Mapping[str, int]] = None,
        *,
        units: Optional[Mapping[str, float]] = None,
    ) -> CostEstimate:
        """What a number of calls (or of billing units) would cost.

        Args:
            calls: endpoint id -> number of calls; priced from each endpoint's historical cost
                per call (fal's ``historical_api_price`` estimate).
            units: endpoint id -> number of billing units (images, video seconds...), priced
                at the unit price (``unit_price``). Pass ``calls`` or ``units``, not both.
        """
        if (calls is None) == (units is None):
            raise ValueError("pass calls={endpoint: n} or units={endpoint: n}, exactly one")
        given: Mapping[str, float]
        if calls is not None:
            kind, field, given = "historical_api_price", "call_quantity", calls
        else:
            assert units is not None
            kind, field, given = "unit_price", "unit_quantity", units
        name = "calls" if calls is not None else "units"
        if not isinstance(given, Mapping) or not given:
            raise ValueError(f"{name} must be a non-empty mapping of endpoint id to quantity")
        endpoints: dict[str, dict[str, float]] = {}
        for endpoint_id, quantity in given.items():
            key = _endpoint_ids(endpoint_id, name)[0]
            wrong_kind = isinstance(quantity, bool) or not isinstance(quantity, (int, float))
            if wrong_kind or quantity < 0 or (calls is not None and quantity != int(quantity)):
                what = "a whole number >= 0" if calls is not None else "a number >= 0"
                raise ValueError(f"{name}[{endpoint_id!r}] must be {what}, got {quantity!r}")
            endpoints[key] = {field: quantity}
        url = self._engine.endpoints.platform("models/pricing/estimate")
        content = json.dumps({"estimate_type": kind, "endpoints": endpoints}).encode()
        about = next(iter(endpoints))
        response = await self._engine.transport.request(
            "POST", url, repeatable=True, app=about, content=content, retry_server_errors=True
        )
        return parse_estimate(decode_json(response, app=about, request_id=None))

    def history(
        self,
        endpoint_id: str,
        *,
        since: Union[datetime, timedelta, None] = None,
        until: Union[datetime, timedelta, None] = None,
        status: Optional[HistoryStatus] = None,
        request_id: Optional[str] = None,
        payloads: bool = False,
        sort_by: Optional[Literal["ended_at", "duration"]] = None,
        page_size: Optional[int] = None,
    ) -> AsyncIterator[HistoryItem]:
        """Your requests to ``endpoint_id``, newest first, following the pages as you iterate.

        Args:
            since: the earliest ``sent_at`` (a ``datetime``, or a ``timedelta`` meaning that
                long ago); fal's default is 24 hours ago (90 days with ``request_id``).
            until: the latest (default now).
            status: only ``"success"``, ``"error"`` or ``"user_error"`` requests.
            request_id: only that request.
            payloads: include each request's input and output (``json_input``,
                ``json_output``).
            sort_by: ``"ended_at"`` (fal's default) or ``"duration"``.
            page_size: items per page (1 to 100; fal's default 50).
        """
        endpoint = _endpoint_ids(endpoint_id, "endpoint_id")[0]
        params: list[tuple[str, str]] = [("endpoint_id", endpoint)]
        for name, value in (("start", _moment("since", since)), ("end", _moment("until", until))):
            if value is not None:
                params.append((name, value))
        if status is not None:
            if status not in HISTORY_STATUSES:
                raise ValueError(f"status must be one of {HISTORY_STATUSES}, got {status!r}")
            params.append(("status", status))
        if request_id is not None:
            if not isinstance(request_id, str) or not request_id.strip():
                raise ValueError(f"request_id must be a non-empty str, got {request_id!r}")
            params.append(("request_id", request_id))
        if not isinstance(payloads, bool):
            raise TypeError(f"payloads must be a bool, got {type(payloads).__name__}")
        if payloads:
            params.append(("expand", "payloads"))
        if sort_by is not None:
            if sort_by not in ("ended_at", "duration"):
                raise ValueError(f"sort_by must be 'ended_at' or 'duration', got {sort_by!r}")
            params.append(("sort_by", sort_by))
        limit = _page_size(page_size, _MAX_HISTORY_PAGE)
        if limit is not None:
            params.append(("limit", limit))

        def parse(item: Any) -> HistoryItem:
            return parse_history_item(item, endpoint)

        return self._pages("models/requests/by-endpoint", params, "items", parse, endpoint)

    async def schema(self, endpoint_id: str) -> EndpointSchema:
        """The endpoint's input and output JSON schemas, from its OpenAPI document.

        Fetched once per endpoint per process and kept on disk for a day (see
        docs/platform.md); later calls answer from the cache.

        Raises:
            UnknownEndpointError: the platform API does not list ``endpoint_id``.
        """
        return await self._schemas.get(self._engine, _endpoint_ids(endpoint_id, "endpoint_id")[0])

    async def validate(self, endpoint_id: str, arguments: Any) -> None:
        """Check ``arguments`` against the endpoint's input schema; send nothing.

        Raises:
            InputValidationError: every problem found, each with its JSON path.
            UnknownEndpointError: the platform API does not list ``endpoint_id``.
        """
        schema = await self.schema(endpoint_id)
        schema.check_input(arguments)
