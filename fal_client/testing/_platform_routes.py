"""The platform API (``/api/v1`` = api.fal.ai/v1): model search, prices, cost estimates and the
request history by endpoint.

The handlers only read the request and the emulator's state; what to answer is decided by the
pure modules below them: ``_platform_params`` (query parameters), ``_model_catalog`` (which apps
a search finds, their metadata and OpenAPI documents), ``_pricing`` (prices, estimates) and
``_history`` (the request history). Every refused parameter or field is a 422 whose ``detail``
names it.
"""

from __future__ import annotations

import time
from typing import Optional

from starlette.responses import Response

from . import _history as history
from . import _model_catalog as catalog
from . import _platform_params as params
from ._exchange import Exchange, detail_response, json_response
from ._pricing import Price, estimate_cost, price_entry
from ._routing import Route

#: The query parameters of ``GET /api/v1/models``.
MODEL_PARAMETERS = ("endpoint_id", "q", "category", "status", "expand", "limit", "cursor")
#: ``GET /api/v1/models``' page size, and the most it gives however many are asked for.
MODELS_DEFAULT_LIMIT = 50
MODELS_MAX_LIMIT = 100
#: What ``expand`` can add to a model.
OPENAPI_EXPANSION = "openapi-3.0"


def _refused(error: params.FieldError) -> Response:
    return detail_response(422, str(error))


def _model_price(ex: Exchange, endpoint_id: str) -> Optional[Price]:
    spec = ex.state.apps.get(endpoint_id)
    return spec.price if spec is not None and catalog.is_model(spec) else None


async def models(ex: Exchange, route: Route) -> Optional[Response]:
    """``GET /api/v1/models``: every model endpoint (paged), those named by ``endpoint_id``,
    or those a search (``q``, ``category``, ``status``) finds; ``expand=openapi-3.0`` adds each
    one's OpenAPI document. The key is optional, as on fal."""
    items = ex.request.query_params.multi_items()
    try:
        params.refuse_unknown(items, MODEL_PARAMETERS)
        ids = params.endpoint_ids(items, required=False)
        openapi = OPENAPI_EXPANSION in params.expansions(items, (OPENAPI_EXPANSION,))
        q = params.single(items, "q")
        category = params.single(items, "category")
        status = params.choice(items, "status", catalog.STATUSES, None)
        size = params.limit(
            items, default=MODELS_DEFAULT_LIMIT, maximum=MODELS_MAX_LIMIT, clamp=True
        )
        page = params.page_number(items)
    except params.FieldError as exc:
        return _refused(exc)
    with ex.state.lock:
        specs = list(ex.state.apps.values())
    base_url = ex.base_url
    found = catalog.find_models(
        specs, base_url, endpoint_ids=ids, q=q, category=category, status=status
    )
    chunk, next_cursor = params.page_of(found, page, size)
    return json_response(
        200,
        {
            "models": [catalog.model_item(spec, base_url, openapi=openapi) for spec in chunk],
            "next_cursor": next_cursor,
            "has_more": next_cursor is not None,
        },
    )


async def pricing(ex: Exchange, route: Route) -> Optional[Response]:
    """``GET /api/v1/models/pricing?endpoint_id=...``: the unit price of each named endpoint
    (1 to 50) the emulator serves; unknown ones are left out."""
    items = ex.request.query_params.multi_items()
    try:
        params.refuse_unknown(items, ("endpoint_id",))
        ids = params.endpoint_ids(items, required=True)
    except params.FieldError as exc:
        return _refused(exc)
    prices = []
    with ex.state.lock:
        for endpoint_id in ids:
            price = _model_price(ex, endpoint_id)
            if price is not None:
                prices.append(price_entry(endpoint_id, price))
    return json_response(200, {"prices": prices, "next_cursor": None, "has_more": False})


async def estimate(ex: Exchange, route: Route) -> Optional[Response]:
    """``POST /api/v1/models/pricing/estimate``: the cost of calls (``historical_api_price``)
    or of billing units (``unit_price``) across endpoints."""
    body = await ex.json_body(default=None)
    try:
        with ex.state.lock:
            answer = estimate_cost(body, lambda endpoint_id: _model_price(ex, endpoint_id))
    except params.FieldError as exc:
        return _refused(exc)
    return json_response(200, answer)


async def requests_by_endpoint(ex: Exchange, route: Route) -> Optional[Response]:
    """``GET /api/v1/models/requests/by-endpoint?endpoint_id=...``: the requests the emulator
    ran for one endpoint, newest first (see ``_history`` for what it lists)."""
    try:
        query = history.parse_query(ex.request.query_params.multi_items())
    except params.FieldError as exc:
        return _refused(exc)
    state = ex.state
    with state.lock:
        # Only this endpoint's jobs are copied: a history query stays cheap among 10,000 jobs.
        entries = [history.entry_of(job) for job in state.jobs if job.endpoint == query.endpoint_id]
        lag = state.config.history_lag
        include_pending = state.config.history_lists_pending
    answer = history.query_history(
        entries,
        query,
        now=params.to_micros(time.time()),
        lag=lag,
        include_pending=include_pending,
    )
    return json_response(200, answer)
