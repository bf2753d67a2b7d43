"""``map(max_cost=...)``: priced before the first submit, then no submit past the budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import fal_client
from fal_client._schema_cache import SCHEMAS

from .fake_platform import FakePlatform, async_client, instant_queue, sync_client

APP = "me/painter"

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def fresh_schema_store() -> None:
    SCHEMAS.clear()


def priced(per_call: float) -> FakePlatform:
    return FakePlatform(prices={APP: (per_call, "image")}, queue=instant_queue)


def inputs(count: int) -> list[dict[str, Any]]:
    return [{"n": i} for i in range(count)]


def submits(fake: FakePlatform) -> list[int]:
    import json

    return [json.loads(r.content)["n"] for r in fake.queue_requests() if r.method == "POST"]


async def test_a_batch_over_budget_is_refused_before_anything_is_sent() -> None:
    fake = priced(0.25)
    async with async_client(fake) as client:
        with pytest.raises(fal_client.BudgetExceededError) as info:
            async with client.map(APP, inputs(10), max_cost=2.0) as results:
                async for _ in results:
                    pass
    assert submits(fake) == []
    error = info.value
    assert error.estimate == pytest.approx(2.5) and error.max_cost == 2.0
    assert error.currency == "USD" and error.started == 0
    assert "10 calls" in str(error) and "nothing was submitted" in str(error)


async def test_a_batch_within_budget_runs_every_input() -> None:
    fake = priced(0.25)
    async with async_client(fake) as client:
        results = [r async for r in client.map(APP, inputs(8), max_cost=2.0)]
    assert [r["echo"] for r in results] == [f"req-{i}" for i in range(8)]
    assert sorted(submits(fake)) == list(range(8))


async def test_an_uncounted_stream_of_inputs_stops_submitting_at_the_budget() -> None:
    fake = priced(0.25)

    def endless() -> Any:
        n = 0
        while n < 50:
            yield {"n": n}
            n += 1

    async with async_client(fake) as client:
        outcomes = [
            r
            async for r in client.map(
                APP, endless(), max_cost=1.0, return_exceptions=True, concurrency=2
            )
        ]
    assert len(outcomes) == 50
    assert sorted(submits(fake)) == [0, 1, 2, 3]
    refused = outcomes[4:]
    assert all(isinstance(o, fal_client.BudgetExceededError) for o in refused)
    assert refused[0].started == 4 and refused[0].estimate == pytest.approx(1.25)


async def test_without_a_price_a_budget_cannot_be_kept() -> None:
    fake = priced(0.25)
    fake.platform_status = 503
    async with async_client(fake) as client:
        with pytest.raises(fal_client.FalClientError, match="cannot be kept") as info:
            async for _ in client.map(APP, inputs(2), max_cost=5):
                pass
    assert not isinstance(info.value, fal_client.BudgetExceededError)
    assert submits(fake) == []


@pytest.mark.parametrize("bad", [-1, float("nan"), "5", True])
def test_bad_max_cost_is_refused_when_called(bad: Any) -> None:
    client = async_client(priced(1.0))
    with pytest.raises(ValueError, match="max_cost must be"):
        client.map(APP, inputs(1), max_cost=bad)


async def test_resumed_jobs_cost_nothing_new(tmp_path: Path) -> None:
    fake = priced(1.0)
    manifest = tmp_path / "m.jsonl"
    async with async_client(fake) as client:
        first = [r async for r in client.map(APP, inputs(3), manifest=manifest)]
        # The three are done: running again within a budget of 0 submits nothing and passes.
        again = [r async for r in client.map(APP, inputs(3), manifest=manifest, max_cost=0)]
    assert again == first
    assert len(submits(fake)) == 3


def test_the_sync_map_keeps_the_budget_too() -> None:
    fake = priced(0.5)
    with sync_client(fake) as client:
        with pytest.raises(fal_client.BudgetExceededError):
            list(client.map(APP, inputs(3), max_cost=1.0))
        assert len(list(client.map(APP, inputs(2), max_cost=1.0))) == 2
    assert len(submits(fake)) == 2
