"""A fan-out's budget (``map(max_cost=...)``, ``batch --max-cost``): priced before the first
submit, then counted per submit.

The platform API's estimate of one call (fal's ``historical_api_price``: what a call of the
endpoint has cost on average) prices the batch. A batch whose inputs can be counted is refused
before anything is sent when its estimate is over budget; during the batch, no job is
submitted once what was started plus that job would exceed it. Re-attaching to a job an
earlier run submitted costs nothing new, so only fresh submits count. Without a price (the
platform API unreachable, the endpoint unpriced) a budget cannot be kept, so the batch is
refused rather than run unguarded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ._errors import BudgetExceededError, FalClientError
from ._platform_api import Platform

__all__ = ["Budget", "open_budget"]


def _money(amount: float, currency: str) -> str:
    return f"{amount:.4f} {currency}".replace(".0000 ", " ")


@dataclass
class Budget:
    """What one map may still spend. ``started`` counts the submits it let through."""

    endpoint_id: str
    max_cost: float
    per_call: float
    currency: str
    started: int = 0

    def admit(self) -> Optional[BudgetExceededError]:
        """Count one more submit, or say why it would break the budget (not counted then)."""
        committed = (self.started + 1) * self.per_call
        # A hair of tolerance: 40 calls at 0.025 must fit a budget of 1.0 despite binary floats.
        if committed > self.max_cost * (1 + 1e-9):
            return BudgetExceededError(
                f"not submitting more of {self.endpoint_id}: {self.started} job(s) started "
                f"at about {_money(self.per_call, self.currency)} each; one more would make "
                f"{_money(committed, self.currency)}, over max_cost "
                f"{_money(self.max_cost, self.currency)}",
                max_cost=self.max_cost,
                estimate=committed,
                currency=self.currency,
                started=self.started,
                app=self.endpoint_id,
            )
        self.started += 1
        return None


def check_max_cost(value: object) -> Optional[float]:
    """``max_cost`` as given: ``None``, or a finite number >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"max_cost must be a number >= 0 (in the price's currency), got {value!r}")
    if value < 0:
        raise ValueError(f"max_cost must be >= 0, got {value!r}")
    return float(value)


async def open_budget(
    platform: Platform, endpoint_id: str, max_cost: float, planned: Optional[int]
) -> Budget:
    """Price one call of ``endpoint_id``; refuse a batch of ``planned`` calls over budget.

    Raises:
        BudgetExceededError: ``planned`` calls are estimated to cost more than ``max_cost``.
        FalClientError: no price could be had (the batch would run unguarded).
    """
    try:
        estimate = await platform.estimate({endpoint_id: 1})
    except FalClientError as exc:
        raise FalClientError(
            f"max_cost={max_cost:g} cannot be kept: the platform API did not price "
            f"{endpoint_id} ({type(exc).__name__}: {exc}); nothing was submitted",
            app=endpoint_id,
        ) from exc
    budget = Budget(endpoint_id, max_cost, estimate.total_cost, estimate.currency)
    if planned is not None and planned * budget.per_call > max_cost * (1 + 1e-9):
        total = planned * budget.per_call
        raise BudgetExceededError(
            f"{planned} calls of {endpoint_id} are estimated at "
            f"{_money(total, budget.currency)} (about {_money(budget.per_call, budget.currency)} "
            f"each), over max_cost {_money(max_cost, budget.currency)}; nothing was submitted",
            max_cost=max_cost,
            estimate=total,
            currency=budget.currency,
            app=endpoint_id,
        )
    return budget
