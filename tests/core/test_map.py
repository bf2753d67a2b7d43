"""Fan-out with ``map``: order, bounded concurrency, failure policy, and early exit."""

from __future__ import annotations

from typing import Any, Callable

import anyio
import pytest

import fal_client
from fal_client import BatchResult, Progress
from fal_client.testing import Emulator, Gate
from tests.conftest import Driver


def max_overlap(emu: Emulator, app: str) -> int:
    """The most jobs of ``app`` that were ever between submission and completion at once."""
    edges = []
    for job in emu.jobs():
        if job.app == app:
            edges.append((job.submitted_at, 1))
            edges.append((job.finished_at, -1))
    current = peak = 0
    for _, step in sorted(edges):
        current += step
        peak = max(peak, current)
    return peak


async def collect(results: fal_client.MapResults) -> list[Any]:
    async with results:
        return [item async for item in results]


@pytest.mark.anyio
async def test_results_come_in_input_order_and_concurrency_is_bounded(
    async_client: fal_client.AsyncClient, emu: Emulator
) -> None:
    # Later inputs finish first, so order is the map's doing, not the server's.
    inputs = [{"i": i, "delay": (12 - i) * 0.005} for i in range(12)]
    progress: list[Progress] = []
    results = await collect(
        async_client.map("test/delay", inputs, concurrency=3, on_progress=progress.append)
    )
    assert results == [{"i": i} for i in range(12)]
    assert max_overlap(emu, "test/delay") <= 3
    assert len(emu.jobs()) == 12
    assert progress[-1].done == 12 and progress[-1].total == 12 and progress[-1].failed == 0


@pytest.mark.anyio
async def test_unordered_results_carry_their_index(
    async_client: fal_client.AsyncClient, emu: Emulator
) -> None:
    inputs = [{"i": i, "delay": (6 - i) * 0.005} for i in range(6)]
    items = await collect(async_client.map("test/delay", inputs, concurrency=6, ordered=False))
    assert all(isinstance(item, BatchResult) and item.ok for item in items)
    assert sorted(item.index for item in items) == list(range(6))
    assert all(item.result == {"i": item.index} and item.request_id for item in items)


@pytest.mark.anyio
async def test_first_failure_cancels_the_remaining_remote_jobs(
    async_client: fal_client.AsyncClient, emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    inputs: list[dict[str, Any]] = [{"i": i, "gate": name} for i in range(3)]
    inputs.append({"i": 3, "fail": True})
    with pytest.raises(fal_client.ValidationError) as info:
        await collect(async_client.map("test/maybe-fail", inputs, concurrency=4))
    error = info.value  # raised bare, as the single call would raise it
    assert "input 3" in str(error)
    # map raised only after every worker's remote cancel was answered.
    jobs = emu.jobs()
    assert len(jobs) == 4
    assert len([j for j in jobs if j.cancelled]) == 3
    gate.open()


@pytest.mark.anyio
async def test_return_exceptions_keeps_going(async_client: fal_client.AsyncClient) -> None:
    inputs = [{"i": i, "fail": i % 3 == 0} for i in range(7)]
    results = await collect(
        async_client.map("test/maybe-fail", inputs, concurrency=2, return_exceptions=True)
    )
    for i, value in enumerate(results):
        if i % 3 == 0:
            assert isinstance(value, fal_client.ValidationError)
        else:
            assert value == {"i": i}


@pytest.mark.anyio
async def test_inputs_are_consumed_lazily_from_an_async_iterable(
    async_client: fal_client.AsyncClient,
) -> None:
    pulled = 0

    async def source() -> Any:
        nonlocal pulled
        for i in range(50):
            pulled += 1
            yield {"i": i}

    results = async_client.map("test/delay", source(), concurrency=2)
    async with results:
        first = await results.__anext__()
        assert first == {"i": 0}
        # Only a bounded window of inputs was read ahead, not all 50.
        assert pulled < 50
    assert pulled < 50


def test_sync_map_is_a_generator_and_break_cancels_in_flight_jobs(
    sync_client: fal_client.SyncClient, emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    inputs = [{"i": 0}] + [{"i": i, "gate": name} for i in range(1, 5)]
    for result in sync_client.map("test/maybe-fail", inputs, concurrency=5):
        assert result == {"i": 0}
        break
    # The break returned only after the in-flight jobs were cancelled remotely.
    jobs = emu.jobs()
    assert len(jobs) == 5
    assert len([j for j in jobs if j.cancelled]) == 4, jobs
    gate.open()


def test_sync_map_with_block_stops_the_jobs_when_left_by_an_error(
    sync_client: fal_client.SyncClient, emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    inputs = [{"i": 0}] + [{"i": i, "gate": name} for i in range(1, 5)]
    kept: list[Any] = []
    with pytest.raises(LookupError, match="stop here"):
        with sync_client.map("test/maybe-fail", inputs, concurrency=5) as results:
            assert isinstance(results, fal_client.SyncIterator)
            for result in results:
                kept.append(result)
                raise LookupError("stop here")
    # Leaving the block returned only after the in-flight jobs were cancelled remotely,
    # while this function still holds the iterator (no garbage collection involved).
    assert kept == [{"i": 0}]
    assert len([j for j in emu.jobs() if j.cancelled]) == 4
    assert list(results) == []
    gate.open()


def test_sync_iterators_close_explicitly(
    sync_client: fal_client.SyncClient, emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    inputs = [{"i": 0}] + [{"i": i, "gate": name} for i in range(1, 3)]
    results = sync_client.map("test/maybe-fail", inputs, concurrency=3)
    assert next(results) == {"i": 0}
    results.close()
    assert len([j for j in emu.jobs() if j.cancelled]) == 2
    with pytest.raises(StopIteration):
        next(results)
    gate.open()


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"concurrency": 0}, ValueError, "concurrency"),
        ({"concurrency": True}, ValueError, "concurrency"),
        ({"inputs": "abc"}, TypeError, "iterable"),
        ({"inputs": {"a": 1}}, TypeError, "iterable"),
        ({"application": "bad"}, ValueError, "appOwner"),
        ({"priority": "now"}, ValueError, "priority"),
    ],
)
def test_bad_map_arguments_fail_at_the_call(
    sync_client: fal_client.SyncClient,
    emu: Emulator,
    kwargs: dict[str, Any],
    exc: type,
    message: str,
) -> None:
    call: dict[str, Any] = {"application": "test/echo", "inputs": [{}], **kwargs}
    with pytest.raises(exc, match=message):
        sync_client.map(call.pop("application"), call.pop("inputs"), **call)
    assert emu.requests() == []


def test_module_level_map_through_the_default_client(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in emu.env.items():
        monkeypatch.setenv(k, v)
    fal_client._defaults.reset_default_clients()
    try:
        assert list(fal_client.map("test/echo", [{"a": 1}, {"a": 2}])) == [
            {"echo": {"a": 1}, "request_id": emu.jobs()[0].request_id},
            {"echo": {"a": 2}, "request_id": emu.jobs()[1].request_id},
        ]

        async def main() -> list[Any]:
            async with fal_client.map_async("test/delay", [{"i": 1}]) as results:
                return [r async for r in results]

        assert anyio.run(main) == [{"i": 1}]
    finally:
        fal_client._defaults.reset_default_clients()


@pytest.mark.anyio
async def test_an_error_in_the_block_comes_out_bare_after_the_jobs_are_cancelled(
    async_client: fal_client.AsyncClient, emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    # The map's task group belongs to the block, and the consumer's code never runs inside
    # it: the consumer's own exception is neither wrapped in a group nor swallowed.
    name, gate = new_gate()
    inputs = [{"i": 0}] + [{"i": i, "gate": name} for i in range(1, 4)]
    with pytest.raises(LookupError, match="the consumer's"):
        async with async_client.map("test/maybe-fail", inputs, concurrency=4) as results:
            async for result in results:
                assert result == {"i": 0}
                await anyio.sleep(0.001)  # the consumer may await between items
                raise LookupError("the consumer's")
    jobs = emu.jobs()
    assert len(jobs) == 4
    assert len([j for j in jobs if j.cancelled]) == 3
    gate.open()


@pytest.mark.anyio
async def test_map_results_start_once(async_client: fal_client.AsyncClient) -> None:
    results = async_client.map("test/echo", [{"a": 1}])
    async with results:
        assert [item["echo"] async for item in results] == [{"a": 1}]
        with pytest.raises(RuntimeError, match="only once"):
            await results.__aenter__()
    assert [item async for item in results] == []  # closed: nothing more, no error


def test_a_job_timeout_comes_out_of_map_bare_in_every_mode(
    mode: Driver, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    # Sync users write `except FalClientTimeoutError` around a map, as around one call.
    name, gate = new_gate()
    try:
        with pytest.raises(fal_client.FalClientTimeoutError) as info:
            mode.collect("map", "test/hold", [{"gate": name}], client_timeout=0.5)
    finally:
        gate.open()
    assert info.value.timeout == 0.5 and info.value.request_id
