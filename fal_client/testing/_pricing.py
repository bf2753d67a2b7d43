"""What emulated apps cost: their :class:`Price`, and the platform API's cost estimates
(``POST /api/v1/models/pricing/estimate``). No I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

from ._app_ids import normalize_app_name
from ._platform_params import MAX_ENDPOINT_IDS, FieldError

#: The only currency the emulator prices in.
CURRENCY = "USD"

#: The unit of an app registered without a price.
DEFAULT_UNIT = "request"


@dataclass(frozen=True)
class Price:
    """What an emulated app costs, as the platform API reports it (``/api/v1/models/pricing``)
    and estimates it (``/api/v1/models/pricing/estimate``). Always in USD.

    Example::

        from fal_client.testing import Emulator, Price

        emu = Emulator()

        @emu.app("me/draw", price=Price(0.025, unit="image", call_price=0.05))
        async def draw(arguments: dict, ctx) -> dict: ...

    ``price=0.01`` is short for ``Price(0.01)`` (per request), and ``price=(0.025, "image")``
    for ``Price(0.025, unit="image")``. An app registered without a price costs
    ``Price(0.0)``: nothing per request.

    Attributes:
        unit_price: USD per billing unit; a finite number >= 0.
        unit: the billing unit, as fal names them: ``"request"`` (the default), ``"image"``,
            ``"second"``, ``"megapixel"``, ...
        call_price: what one call costs on average, used by ``historical_api_price``
            estimates; None (the default) means one unit per call, ``unit_price``.
    """

    unit_price: float
    unit: str = DEFAULT_UNIT
    call_price: Optional[float] = None

    def __post_init__(self) -> None:
        _check_amount("unit_price", self.unit_price)
        if self.call_price is not None:
            _check_amount("call_price", self.call_price)
        if not isinstance(self.unit, str) or not self.unit.strip():
            raise ValueError(f"Price unit must be a non-empty string, got {self.unit!r}")

    @property
    def per_call(self) -> float:
        """What one call costs on average (``call_price``, else ``unit_price``)."""
        return float(self.unit_price if self.call_price is None else self.call_price)


def _check_amount(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Price {name} must be a number of USD, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"Price {name} must be a finite number >= 0, got {value!r}")


#: The price of an app registered without one.
FREE = Price(0.0)

PriceLike = Union[Price, float, int, Tuple[float, str], None]


def coerce_price(value: PriceLike) -> Price:
    """A :class:`Price` from what ``price=`` accepts: a Price, a number (USD per request), a
    ``(unit_price, unit)`` pair, or None (free).

    Raises:
        TypeError: for anything else.
        ValueError: for a negative or non-finite amount, or an empty unit.
    """
    if value is None:
        return FREE
    if isinstance(value, Price):
        return value
    if isinstance(value, tuple):
        if len(value) != 2:
            raise TypeError(f"price=(unit_price, unit) takes two items, got {value!r}")
        return Price(value[0], unit=value[1])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Price(float(value))
    raise TypeError(
        "price= takes a Price, a number of USD per request or a (unit_price, unit) pair, "
        f"got {value!r}"
    )


def price_entry(endpoint_id: str, price: Price) -> Dict[str, Any]:
    """One item of ``/api/v1/models/pricing``'s ``prices``."""
    return {
        "endpoint_id": endpoint_id,
        "unit_price": float(price.unit_price),
        "unit": price.unit,
        "currency": CURRENCY,
    }


#: The estimate types and the quantity each takes per endpoint.
ESTIMATE_QUANTITIES: Mapping[str, str] = {
    "historical_api_price": "call_quantity",
    "unit_price": "unit_quantity",
}


def estimate_cost(body: Any, price_of: Callable[[str], Optional[Price]]) -> Dict[str, Any]:
    """The answer to a cost estimate request.

    ``historical_api_price`` multiplies each endpoint's ``call_quantity`` by its
    :attr:`Price.per_call`; ``unit_price`` multiplies ``unit_quantity`` by its
    :attr:`Price.unit_price`.

    Args:
        body: the decoded request body, ``{"estimate_type": ..., "endpoints": {id: {...}}}``.
        price_of: the price of a registered endpoint, or None if there is none.

    Raises:
        FieldError: naming the field that is missing, malformed or names an unknown endpoint.
    """
    if not isinstance(body, dict):
        raise FieldError("body", "must be a JSON object with estimate_type and endpoints")
    unknown = sorted(set(body) - {"estimate_type", "endpoints"})
    if unknown:
        raise FieldError(unknown[0], "unknown field; the body takes estimate_type and endpoints")
    estimate_type = body.get("estimate_type")
    if estimate_type not in ESTIMATE_QUANTITIES:
        raise FieldError(
            "estimate_type",
            f"must be one of {', '.join(ESTIMATE_QUANTITIES)}, not {estimate_type!r}",
        )
    assert isinstance(estimate_type, str)
    quantity_name = ESTIMATE_QUANTITIES[estimate_type]
    endpoints = body.get("endpoints")
    if not isinstance(endpoints, dict) or not endpoints:
        raise FieldError("endpoints", f"must be an object of endpoint ids to {{{quantity_name}}}")
    if len(endpoints) > MAX_ENDPOINT_IDS:
        raise FieldError("endpoints", f"at most {MAX_ENDPOINT_IDS} endpoints, got {len(endpoints)}")
    total = 0.0
    for raw_id, quantities in endpoints.items():
        where = f"endpoints.{raw_id}"
        try:
            endpoint_id = normalize_app_name(raw_id)
        except ValueError:
            raise FieldError(where, "is not an endpoint id (owner/app)") from None
        if not isinstance(quantities, dict) or set(quantities) != {quantity_name}:
            raise FieldError(
                f"{where}.{quantity_name}",
                f"required: a {estimate_type} estimate takes {{{quantity_name!r}: n}} per endpoint",
            )
        quantity = quantities[quantity_name]
        if isinstance(quantity, bool) or not isinstance(quantity, (int, float)):
            raise FieldError(f"{where}.{quantity_name}", f"must be a number, not {quantity!r}")
        if not math.isfinite(quantity) or quantity < 0:
            raise FieldError(f"{where}.{quantity_name}", f"must be >= 0, not {quantity!r}")
        price = price_of(endpoint_id)
        if price is None:
            raise FieldError(where, "no such endpoint on this emulator")
        each = price.per_call if quantity_name == "call_quantity" else float(price.unit_price)
        total += quantity * each
    return {
        "estimate_type": estimate_type,
        # Rounded so 100 calls at 0.025 read 2.5, not 2.5000000000000004.
        "total_cost": round(total, 10),
        "currency": CURRENCY,
    }
