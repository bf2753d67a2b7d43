"""429 storms slow a map down but lose nothing; waiting uses one stream per job in flight."""

from __future__ import annotations

from typing import Any

import pytest

import fal_client
from fal_client.testing import Emulator

from ..conftest import Driver
from .conftest import WORK_APP, WorkLog, submits


@pytest.fixture(params=["asyncio", "trio", "sync"])
def strict_mode(request: pytest.FixtureRequest, client_options: dict[str, Any]) -> Any:
    """A mode driver whose client does not retry: every 429 reaches ``map`` itself."""
    driver = Driver(str(request.param), {**client_options, "max_retries": 0})
    yield driver
    driver.close()


def test_a_429_storm_on_submit_loses_nothing(mode: Driver, emu: Emulator, work: WorkLog) -> None:
    emu.faults("rate_limit", operation="submit", probability=0.5, seed=1, retry_after=0.01)
    progress: list[fal_client.Progress] = []
    inputs = [{"i": i} for i in range(60)]
    results = mode.collect("map", WORK_APP, inputs, concurrency=8, on_progress=progress.append)
    assert results == [{"i": i, "out": f"result-{i}"} for i in range(60)]
    assert submits(emu) == 60 and work.duplicates() == {}
    refused = [r for r in emu.requests() if r.operation == "submit" and r.status_code == 429]
    assert refused  # the storm really happened
    # The client's own retries absorbed the 429s, and map still heard every one and backed off.
    assert progress[-1].rate_limited == len(refused)
    assert min(p.limit for p in progress) < 8


def test_429s_on_status_requests_slow_the_map_down_too(
    mode: Driver, emu: Emulator, work: WorkLog
) -> None:
    # A 429 on a job's status is not a refused submit, but it is the platform asking for less.
    emu.faults("rate_limit", operation="status_stream", count=3, retry_after=0.01)
    progress: list[fal_client.Progress] = []
    inputs = [{"i": i} for i in range(20)]
    results = mode.collect("map", WORK_APP, inputs, concurrency=8, on_progress=progress.append)
    assert results == [{"i": i, "out": f"result-{i}"} for i in range(20)]
    assert submits(emu) == 20 and work.duplicates() == {}
    assert progress[-1].rate_limited == 3
    assert min(p.limit for p in progress) < 8


def test_rate_limits_that_reach_map_shrink_the_limit_and_every_input_is_put_back(
    strict_mode: Driver, emu: Emulator, work: WorkLog
) -> None:
    emu.faults("rate_limit", operation="submit", probability=0.5, seed=1, retry_after=0.01)
    progress: list[fal_client.Progress] = []
    inputs = [{"i": i} for i in range(60)]
    results = strict_mode.collect(
        "map", WORK_APP, inputs, concurrency=8, on_progress=progress.append
    )
    assert results == [{"i": i, "out": f"result-{i}"} for i in range(60)]
    assert submits(emu) == 60 and work.duplicates() == {}
    refused = [r for r in emu.requests() if r.operation == "submit" and r.status_code == 429]
    assert progress[-1].rate_limited == len(refused) > 0
    assert min(p.limit for p in progress) < 8  # backed off...
    assert progress[-1].done == 60 and progress[-1].failed == 0


def test_rate_limits_on_an_attached_job_are_not_resubmitted(
    strict_mode: Driver, emu: Emulator, work: WorkLog
) -> None:
    # A 429 on status/result is not a refused submit: the job exists, so it is not put back.
    emu.faults("rate_limit", operation="result", count=1)
    results = strict_mode.collect("map", WORK_APP, [{"i": 0}], return_exceptions=True)
    assert isinstance(results[0], fal_client.RateLimitError)
    assert submits(emu) == 1


def test_waiting_holds_one_connection_per_job_in_flight(
    mode: Driver, emu: Emulator, work: WorkLog
) -> None:
    peak = 0

    def sample(_: fal_client.Progress) -> None:
        nonlocal peak
        peak = max(peak, emu.open_connections())

    inputs = [{"i": i} for i in range(200)]
    results = mode.collect("map", WORK_APP, inputs, concurrency=5, on_progress=sample)
    assert len(results) == 200
    # 200 pending inputs, 5 in flight: a handful of connections, never one per input.
    assert 0 < peak <= 5 + 2


def test_map_under_a_plan_limit_delivers_everything_once(
    mode: Driver, emu: Emulator, work: WorkLog
) -> None:
    # More concurrency than the plan allows: the gateway refuses the excess with 429s, and map
    # backs off and puts them back, losing nothing and submitting nothing twice.
    emu.max_in_flight, emu.in_flight_retry_after = 3, 0.01
    try:
        inputs = [{"i": i, "sleep": 0.02} for i in range(30)]
        results = mode.collect("map", WORK_APP, inputs, concurrency=8)
    finally:
        emu.max_in_flight, emu.in_flight_retry_after = None, 1.0
    assert results == [{"i": i, "out": f"result-{i}"} for i in range(30)]
    assert submits(emu) == 30 and work.duplicates() == {}
    assert [r for r in emu.requests() if r.fault == "in_flight_cap"]  # the cap was hit
