"""A lost submit answer looked up in the request history (``recover_lost_submit``).

Each test drives the emulator: a fault drops the answer (``reset_after_submit``: the job exists)
or the request (``reset_before``: no job), and the history's options decide what it can prove.
The app records which input each job ran, so "exactly one job per input" is counted, not
assumed.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest

import fal_client
from fal_client import RetryPolicy
from fal_client.testing import AppContext, Emulator, Gate
from tests.conftest import Driver

FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, max_attempts=4)
APP = "rec/count"
HELD = "rec/held"


class Seen:
    """What each job of the apps ran (request id -> input ``i``), across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_request: dict[str, Any] = {}
        self.gates: dict[str, Gate] = {}

    def add(self, request_id: str, i: Any) -> None:
        with self.lock:
            self.by_request[request_id] = i

    def per_input(self) -> Counter[Any]:
        with self.lock:
            return Counter(self.by_request.values())


SEEN = Seen()


@pytest.fixture(scope="module")
def recovery_emulator() -> Iterator[Emulator]:
    emu = Emulator(builtin_apps=False)

    @emu.app(APP, workers=64)
    async def count(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        SEEN.add(ctx.request_id, arguments.get("i"))
        if "gate" in arguments:
            await SEEN.gates[arguments["gate"]].wait()
        return {"i": arguments.get("i"), "request_id": ctx.request_id}

    @emu.app(HELD, workers=8)
    async def held(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        SEEN.add(ctx.request_id, arguments.get("i"))
        await SEEN.gates[arguments["gate"]].wait()
        return {"i": arguments.get("i"), "request_id": ctx.request_id}

    with emu:
        yield emu


@pytest.fixture
def emu(recovery_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    recovery_emulator.reset()
    SEEN.by_request.clear()
    # The emulator and the client share one clock: a small margin keeps the tests quick.
    monkeypatch.setattr("fal_client._reconcile.CLOCK_SKEW", timedelta(seconds=0.05))
    monkeypatch.setattr("fal_client._recovery.FIRST_LOOK", 0.02)
    monkeypatch.setattr("fal_client._recovery.LAST_LOOK", 0.2)
    yield recovery_emulator
    recovery_emulator.reset()
    recovery_emulator.history_lag = 0.0
    recovery_emulator.history_lists_pending = False


@pytest.fixture
def client_options(emu: Emulator) -> dict[str, Any]:
    env = emu.env
    return {
        "key": env["FAL_KEY"],
        "queue_url": env["FAL_QUEUE_URL"],
        "run_url": env["FAL_RUN_URL"],
        "rest_url": env["FAL_REST_URL"],
        "api_url": env["FAL_API_URL"],
        "retry": FAST,
    }


@pytest.fixture
def bound(monkeypatch: pytest.MonkeyPatch) -> float:
    """A short recovery bound for the tests that end undecided (they wait all of it): several
    looks fit in it (``FIRST_LOOK`` 0.02 s doubling to ``LAST_LOOK`` 0.2 s)."""
    monkeypatch.setattr("fal_client._recovery.RECOVERY_SECONDS", 0.4)
    return 0.4


def history_queries(emu: Emulator) -> int:
    return sum(1 for r in emu.requests() if r.operation == "history")


def submits(emu: Emulator) -> int:
    # By method and path: a request reset before it was handled has no operation recorded.
    return sum(1 for r in emu.requests() if r.method == "POST" and r.path.startswith("/queue/"))


def test_a_lost_answer_is_found_and_its_result_delivered(mode: Driver, emu: Emulator) -> None:
    emu.faults("reset_after_submit", operation="submit", count=1)
    result = mode.call("subscribe", APP, {"i": 1}, recover_lost_submit=True)
    assert result["i"] == 1
    assert len(emu.jobs()) == 1 and submits(emu) == 1  # never re-sent
    assert result["request_id"] == emu.jobs()[0].request_id
    assert SEEN.per_input() == {1: 1}
    assert history_queries(emu) >= 1


def test_submit_returns_the_found_jobs_handle(mode: Driver, emu: Emulator) -> None:
    emu.faults("reset_after_submit", operation="submit", count=1)
    handle = mode.call("submit", APP, {"i": 2}, recover_lost_submit=True)
    assert handle.request_id == emu.jobs()[0].request_id
    assert len(emu.jobs()) == 1


def test_without_the_option_a_lost_answer_is_not_looked_up(mode: Driver, emu: Emulator) -> None:
    emu.faults("reset_after_submit", operation="submit", count=1)
    with pytest.raises(fal_client.SubmitNotConfirmedError) as info:
        mode.call("subscribe", APP, {"i": 3})
    assert not isinstance(info.value, fal_client.SubmitNotRecoveredError)
    assert history_queries(emu) == 0 and len(emu.jobs()) == 1


def test_a_submit_that_answers_asks_the_history_nothing(mode: Driver, emu: Emulator) -> None:
    assert mode.call("subscribe", APP, {"i": 4}, recover_lost_submit=True)["i"] == 4
    assert history_queries(emu) == 0


def test_a_lagging_history_is_waited_for(mode: Driver, emu: Emulator) -> None:
    emu.history_lag = 0.5  # finished-only: the job is listed only 0.5 s after it ended
    emu.faults("reset_after_submit", operation="submit", count=1)
    assert mode.call("subscribe", APP, {"i": 5}, recover_lost_submit=True)["i"] == 5
    assert len(emu.jobs()) == 1
    assert history_queries(emu) >= 2  # looked before the lag passed, and again after


def test_a_request_proved_never_made_is_sent_again_once(
    mode: Driver, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One clock, no margin: a request sent after the first look is after the window's end.
    monkeypatch.setattr("fal_client._reconcile.CLOCK_SKEW", timedelta(0))
    emu.history_lists_pending = True
    gate = emu.gate()
    SEEN.gates["g"] = gate
    emu.faults("reset_before", operation="submit", count=1)

    def other_traffic() -> None:
        # Once the lookup has looked (and found nothing), another request of the endpoint is
        # sent, after the lost one's window: the history has then caught up past it.
        emu.wait_until(lambda: history_queries(emu) >= 1)
        with fal_client.SyncClient(**client_options_of(emu)) as other:
            other.submit(HELD, {"i": "other", "gate": "g"})
        # The lookup proves the first submit made nothing and sends it again.
        emu.wait_until(lambda: len(SEEN.per_input()) >= 2)
        gate.open()

    helper = threading.Thread(target=other_traffic)
    helper.start()
    try:
        result = mode.call("subscribe", HELD, {"i": 6, "gate": "g"}, recover_lost_submit=True)
    finally:
        gate.open()
        helper.join(10)
    assert result["i"] == 6
    assert SEEN.per_input() == {6: 1, "other": 1}
    assert submits(emu) == 3  # the lost one (no job), the other, the one re-sent


def client_options_of(emu: Emulator) -> dict[str, Any]:
    env = emu.env
    return {"key": env["FAL_KEY"], "queue_url": env["FAL_QUEUE_URL"], "api_url": env["FAL_API_URL"]}


def test_a_finished_only_history_cannot_prove_absence(
    mode: Driver, emu: Emulator, bound: float
) -> None:
    mode.call("subscribe", APP, {"i": "before"})  # traffic, but nothing proves the absence
    emu.faults("reset_before", operation="submit", count=1)
    with pytest.raises(fal_client.SubmitNotRecoveredError) as info:
        mode.call("subscribe", APP, {"i": 7}, recover_lost_submit=True)
    error = info.value
    assert isinstance(error, fal_client.SubmitNotConfirmedError)
    assert error.reason == f"not found in the history within {bound:g} s"
    assert error.candidates == () and error.app == APP
    assert "answer was lost" in str(error) and "not re-sent" in str(error)
    assert SEEN.per_input() == {"before": 1}  # nothing re-sent on a guess


def test_two_identical_lost_submits_are_ambiguous(
    mode: Driver, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A margin wide enough to put the three submits in one window.
    monkeypatch.setattr("fal_client._reconcile.CLOCK_SKEW", timedelta(seconds=30))
    # Two jobs with the same input, both answers lost: neither lookup can tell its own.
    emu.faults("reset_after_submit", operation="submit", count=2)
    for _ in range(2):
        with pytest.raises(fal_client.SubmitNotConfirmedError):
            mode.call("submit", APP, {"i": 8})
    earlier = {j.request_id for j in emu.jobs()}
    emu.wait_until(lambda: all(j.status == "COMPLETED" for j in emu.jobs()))
    emu.faults("reset_after_submit", operation="submit", count=1)
    with pytest.raises(fal_client.SubmitNotRecoveredError) as info:
        mode.call("submit", APP, {"i": 8}, recover_lost_submit=True)
    assert info.value.reason == "ambiguous"
    # The two listed already, and the third's own job once it is listed too.
    assert earlier <= set(info.value.candidates) <= {j.request_id for j in emu.jobs()}
    assert all(c in str(info.value) for c in earlier)
    assert submits(emu) == 3


@pytest.mark.parametrize("fault", ["not_found", "ingress_503"])
def test_an_unreadable_history_keeps_the_old_semantics(
    mode: Driver, emu: Emulator, bound: float, fault: str
) -> None:
    emu.faults("reset_after_submit", operation="submit", count=1)
    if fault == "not_found":
        emu.faults("http_status", operation="history", status_code=404)
    else:
        emu.faults("ingress_503", operation="history")
    with pytest.raises(fal_client.SubmitNotRecoveredError) as info:
        mode.call("subscribe", APP, {"i": 9}, recover_lost_submit=True)
    assert isinstance(info.value, fal_client.SubmitNotConfirmedError)
    assert info.value.reason.startswith("history unavailable: ")
    assert len(emu.jobs()) == 1 and submits(emu) == 1  # nothing re-sent


# --- map: every result, each job once, under the fault mix ---------------------------------------

#: The fault mix of benchmarks/bench_faults.py (issue 14), in its order.
FAULT_MIX: list[tuple[str, Any, float, dict[str, Any]]] = [
    ("ingress_503", None, 0.15, {}),
    ("rate_limit", None, 0.05, {"retry_after": 1}),
    ("reset_after_submit", "submit", 0.03, {}),
    ("sse_cut", "status_stream", 0.10, {"after_events": 1}),
    ("status_500", "status", 0.05, {}),
]
PATIENT = RetryPolicy(base_delay=0.02, max_delay=0.2, max_attempts=8)


def run_map(mode: str, options: dict[str, Any], inputs: list[Any], **kwargs: Any) -> list[Any]:
    """``map(APP, inputs, ...)`` in ``mode``; the ``BatchResult``s in completion order."""
    if mode == "sync":
        with fal_client.SyncClient(**options) as client:
            with client.map(APP, inputs, **kwargs) as results:
                return list(results)

    async def main() -> list[Any]:
        async with fal_client.AsyncClient(**options) as client:
            with anyio.fail_after(60):
                async with client.map(APP, inputs, **kwargs) as results:
                    return [r async for r in results]

    return anyio.run(main, backend=mode)  # type: ignore[no-any-return]


# The benchmark's size (300 inputs) runs once, on asyncio; every other mode runs 120. Seeded, the
# lost-answer rule fires on its 7th, 114th and 117th draw, and each input's accepted submit is one
# draw, so even 120 inputs lose at least three answers in every run (``lost >= 1`` checks it).
@pytest.mark.parametrize(
    ("backend", "journalled", "n"),
    [("asyncio", False, 300), ("trio", False, 120), ("sync", False, 120), ("asyncio", True, 120)],
)
def test_map_under_the_fault_mix_delivers_every_result_exactly_once(
    emu: Emulator,
    client_options: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    backend: str,
    journalled: bool,
    n: int,
) -> None:
    monkeypatch.setattr("fal_client._reconcile.CLOCK_SKEW", timedelta(seconds=2))
    for seed, (kind, operation, probability, params) in enumerate(FAULT_MIX, start=1):
        emu.faults(kind, operation=operation, probability=probability, seed=seed, **params)
    results = run_map(
        backend,
        {**client_options, "retry": PATIENT},
        [{"i": i} for i in range(n)],
        concurrency=32,
        ordered=False,
        return_exceptions=True,
        manifest=tmp_path / "m.jsonl" if journalled else None,
    )
    emu.clear_faults()
    lost = sum(1 for r in emu.requests() if r.fault == "reset_after_submit")
    errors = [r.error for r in results if not r.ok]
    assert errors == []
    assert sorted(r.result["i"] for r in results) == list(range(n))  # n/n
    per_input = SEEN.per_input()
    assert set(per_input) == set(range(n)) and set(per_input.values()) == {1}  # 0 duplicates
    jobs = {j.request_id for j in emu.jobs()}
    assert len(jobs) == n  # 0 orphans: every job is one input's, and its result was delivered
    assert {r.request_id for r in results} == jobs
    assert {r.result["request_id"] for r in results} == jobs
    assert lost >= 1  # the mix did lose answers (seeded: the same every run)


def test_map_without_lost_answers_asks_the_history_nothing(
    emu: Emulator, client_options: dict[str, Any]
) -> None:
    results = run_map("asyncio", client_options, [{"i": i} for i in range(20)], concurrency=8)
    assert len(results) == 20 and history_queries(emu) == 0


@pytest.mark.parametrize("backend", ["asyncio", "sync"])
def test_map_with_recovery_off_or_the_history_down_resubmits_nothing(
    emu: Emulator, client_options: dict[str, Any], bound: float, backend: str
) -> None:
    for recover, history_down in ((False, False), (True, True)):
        emu.reset()
        SEEN.by_request.clear()
        if history_down:
            emu.faults("http_status", operation="history", status_code=404)
        emu.faults("reset_after_submit", operation="submit", count=2)
        results = run_map(
            backend,
            client_options,
            [{"i": i} for i in range(10)],
            concurrency=4,
            ordered=False,
            return_exceptions=True,
            recover_lost_submit=recover,
        )
        failed = [r.error for r in results if not r.ok]
        assert len(failed) == 2
        assert all(isinstance(e, fal_client.SubmitNotConfirmedError) for e in failed)
        assert all(isinstance(e, fal_client.SubmitNotRecoveredError) == recover for e in failed)
        assert set(SEEN.per_input().values()) == {1} and len(emu.jobs()) == 10  # none re-sent
        if not recover:
            assert history_queries(emu) == 0


# --- resume: a submit in flight when the earlier run died -----------------------------------------


def crashed_manifest(path: Path, inputs: list[Any], at: str) -> None:
    """A manifest as a run killed right after journalling input 0's intent leaves it."""
    from fal_client._manifest import input_key

    header = {"fal_manifest": 1, "app": APP, "path": "", "created_at": 0.0}
    intent = {"event": "submitting", "index": 0, "key": input_key(inputs[0]), "at": at}
    path.write_text(json.dumps(header) + "\n" + json.dumps(intent) + "\n")


def now_at() -> str:
    from fal_client._manifest import format_at

    return format_at(datetime.now(timezone.utc))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_resume_attaches_to_the_job_an_in_flight_submit_made(
    emu: Emulator, client_options: dict[str, Any], tmp_path: Path, backend: str
) -> None:
    inputs = [{"i": i} for i in range(3)]
    manifest = tmp_path / "m.jsonl"
    crashed_manifest(manifest, inputs, now_at())
    with fal_client.SyncClient(**client_options) as other:  # the job the dead run's POST made
        made = other.subscribe(APP, inputs[0])["request_id"]
    results = run_map(backend, client_options, inputs, manifest=manifest, ordered=False)
    assert {r.index: r.request_id for r in results}[0] == made
    assert SEEN.per_input() == {0: 1, 1: 1, 2: 1}


def test_resume_submits_an_input_the_history_proves_was_never_sent(
    emu: Emulator, client_options: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fal_client._reconcile.CLOCK_SKEW", timedelta(0))
    emu.history_lists_pending = True
    SEEN.gates["r"] = gate = emu.gate()
    inputs = [{"i": i} for i in range(2)]
    manifest = tmp_path / "m.jsonl"
    crashed_manifest(manifest, inputs, now_at())

    def other_traffic() -> None:
        # Sent once the resume looks (after its start: past the window), and listed pending.
        emu.wait_until(lambda: history_queries(emu) >= 1)
        with fal_client.SyncClient(**client_options_of(emu)) as other:
            other.submit(APP, {"i": "other", "gate": "r"})

    helper = threading.Thread(target=other_traffic)
    helper.start()
    try:
        results = run_map("asyncio", client_options, inputs, manifest=manifest, ordered=False)
    finally:
        gate.open()
        helper.join(10)
    assert all(r.ok for r in results) and len(results) == 2
    assert SEEN.per_input() == {0: 1, 1: 1, "other": 1}


def test_resume_leaves_an_undecidable_input_unsent(
    emu: Emulator, client_options: dict[str, Any], tmp_path: Path, bound: float
) -> None:
    inputs = [{"i": i} for i in range(2)]
    manifest = tmp_path / "m.jsonl"
    crashed_manifest(manifest, inputs, now_at())  # the dead run's POST made nothing
    results = run_map(
        "asyncio", client_options, inputs, manifest=manifest, ordered=False, return_exceptions=True
    )
    failed = {r.index: r.error for r in results if not r.ok}
    assert list(failed) == [0]
    assert isinstance(failed[0], fal_client.SubmitNotRecoveredError)
    assert "earlier run" in str(failed[0])
    assert SEEN.per_input() == {1: 1}  # input 0 not sent on a guess
