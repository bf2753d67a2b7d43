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


def test_scattered_429s_on_status_requests_leave_the_limit_alone(
    mode: Driver, emu: Emulator, work: WorkLog
) -> None:
    # Three jobs of twenty hear a 429 on their status stream: those three wait out their
    # Retry-After (the transport retries them), the others go on at full concurrency.
    emu.faults("rate_limit", operation="status_stream", count=3, retry_after=0.01)
    progress: list[fal_client.Progress] = []
    inputs = [{"i": i} for i in range(20)]
    results = mode.collect("map", WORK_APP, inputs, concurrency=8, on_progress=progress.append)
    assert results == [{"i": i, "out": f"result-{i}"} for i in range(20)]
    assert submits(emu) == 20 and work.duplicates() == {}
    assert progress[-1].rate_limited == 3
    assert {p.limit for p in progress} == {8}


def test_429s_on_most_status_requests_slow_the_map_down(
    mode: Driver, emu: Emulator, work: WorkLog
) -> None:
    # Every job in flight hears 429s on its status stream: the platform asks for less. (No job
    # can finish before the twelve are used up, so the first eight answers are all 429s.)
    emu.faults("rate_limit", operation="status_stream", count=12, retry_after=0.01)
    progress: list[fal_client.Progress] = []
    inputs = [{"i": i} for i in range(20)]
    results = mode.collect("map", WORK_APP, inputs, concurrency=8, on_progress=progress.append)
    assert results == [{"i": i, "out": f"result-{i}"} for i in range(20)]
    assert submits(emu) == 20 and work.duplicates() == {}
    assert progress[-1].rate_limited == 12
    assert min(p.limit for p in progress) == 4  # halved once: the burst was one signal


def test_scattered_refused_submits_wait_alone(mode: Driver, emu: Emulator, work: WorkLog) -> None:
    # Three refused submits: each of those inputs waits out its own Retry-After and comes back;
    # the limit stays where it was and nothing is submitted twice.
    emu.faults("rate_limit", operation="submit", count=3, retry_after=0.01)
    progress: list[fal_client.Progress] = []
    inputs = [{"i": i} for i in range(20)]
    results = mode.collect("map", WORK_APP, inputs, concurrency=8, on_progress=progress.append)
    assert results == [{"i": i, "out": f"result-{i}"} for i in range(20)]
    assert submits(emu) == 20 and work.duplicates() == {}
    refused = [r for r in emu.requests() if r.operation == "submit" and r.status_code == 429]
    assert len(refused) == 3 == progress[-1].rate_limited
    assert {p.limit for p in progress} == {8}


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

    inputs = [{"i": i} for i in range(60)]
    results = mode.collect("map", WORK_APP, inputs, concurrency=5, on_progress=sample)
    assert len(results) == 60
    # 60 pending inputs (twelve rounds of the limit), 5 in flight: a handful of connections,
    # never one per input.
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


def test_map_finds_a_plan_limit(mode: Driver, emu: Emulator, work: WorkLog) -> None:
    # The first three jobs are held on a gate while a plan allows three in flight: the other
    # five of the first eight are refused, which is most of the submits, so the limit drops to
    # what the server carries (three, or fewer if an accepted answer was still on its way)
    # instead of halving blindly. The gate opens once a progress report shows that.
    work.gates["cap"] = emu.gate()
    found: list[int] = []

    def watch(p: fal_client.Progress) -> None:
        if p.limit <= 3 and not found:
            found.append(p.limit)
            work.gates["cap"].open()

    emu.max_in_flight, emu.in_flight_retry_after = 3, 0.01
    try:
        inputs = [{"i": i, "gate": "cap"} for i in range(12)]
        results = mode.collect("map", WORK_APP, inputs, concurrency=8, on_progress=watch)
    finally:
        emu.max_in_flight, emu.in_flight_retry_after = None, 1.0
    assert results == [{"i": i, "out": f"result-{i}"} for i in range(12)]
    assert submits(emu) == 12 and work.duplicates() == {}
    assert 1 <= found[0] <= 3
