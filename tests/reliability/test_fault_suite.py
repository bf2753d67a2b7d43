"""The fault suite: a bounded batch of jobs through every fault kind the emulator can inject.

Each case runs 16 inputs through ``map`` (``return_exceptions=True``, 8 in flight) on asyncio,
trio and sync, with one fault kind hitting about a third of the requests of one operation, and
checks one of two outcomes:

* ``DELIVERED``: the client could recover, so every input's result arrives exactly once, in
  order, and no input ever ran twice;
* ``UNCONFIRMED``: a POST may have created a job but its answer was lost, so the client cannot
  know and must not re-send: those inputs end in ``SubmitNotConfirmedError`` (the documented
  error), each ran at most once on the server, every other input is delivered exactly once.

Everything is bounded: async runs under a cancel scope (``fail_after``), sync runs under the
per-job ``client_timeout``, and pytest-timeout stops anything else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pytest

import fal_client
from fal_client import RetryPolicy
from fal_client.testing import Emulator

from ..batch.conftest import WORK_APP, WorkLog, _work_app, work  # noqa: F401 (fixtures)
from ..conftest import Driver
from ..files.helpers import SMALL_PARTS, payload, stored

pytestmark = pytest.mark.timeout(120)

# Enough attempts that a fault hitting a third of the requests never exhausts them.
PATIENT = RetryPolicy(base_delay=0.005, max_delay=0.02, max_attempts=12, max_total=30)
INPUTS = 16
DELIVERED = "delivered"
UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class Fault:
    kind: str
    operation: str
    outcome: str
    params: dict[str, Any] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)
    # map's own options: the unconfirmed cases run with the lookup of lost submits off (what
    # the client does without the history); tests/reliability/test_lost_submit_recovery.py
    # covers it on.
    map: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        extra = "-".join(f"{k}={v}" for k, v in {**self.params, **self.map}.items())
        return f"{self.kind}-{self.operation}" + (f"-{extra}" if extra else "")


NO_LOOKUP = {"recover_lost_submit": False}


FAULTS = [
    Fault("ingress_502", "submit", DELIVERED),
    Fault("ingress_503", "status_stream", DELIVERED),
    Fault("ingress_504", "result", DELIVERED),
    Fault("status_500", "status_stream", DELIVERED),
    Fault("rate_limit", "submit", DELIVERED, {"retry_after": 0.01}),
    Fault("rate_limit", "submit", DELIVERED, {"retry_after": None}),
    Fault("rate_limit", "status_stream", DELIVERED, {"retry_after": 0.01}),
    Fault("reset_before", "status_stream", DELIVERED),
    Fault("reset_before", "result", DELIVERED),
    Fault("sse_cut", "status_stream", DELIVERED, {"after_events": 1}),
    # A status stream that answers later than the read timeout: reconnect, then poll.
    Fault("latency", "status_stream", DELIVERED, {"seconds": 0.6}, {"default_timeout": 0.25}),
    # The submit reached the server and its answer was lost: map finds the job in the history.
    Fault("reset_after_submit", "submit", DELIVERED),
    # The same without the lookup: never re-sent.
    Fault("reset_after_submit", "submit", UNCONFIRMED, map=NO_LOOKUP),
    # Reset before the server handled it: the client cannot tell that from the case above.
    Fault("reset_before", "submit", UNCONFIRMED, map=NO_LOOKUP),
    # A submit answered later than the read timeout: sent, answer not seen, never re-sent.
    # (No late job can appear after the assertions: the emulator reads a delayed request's
    # body only after the delay, and by then the client has closed that connection.)
    Fault("latency", "submit", UNCONFIRMED, {"seconds": 0.6}, {"default_timeout": 0.25}, NO_LOOKUP),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_a_batch_under_fault(
    fault: Fault,
    mode: Driver,
    emu: Emulator,
    work: WorkLog,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A lost answer's lookup looks again soon (as in test_lost_submit_recovery.py): the job is
    # listed once it has finished, a few tens of milliseconds after the submit.
    monkeypatch.setattr("fal_client._recovery.FIRST_LOOK", 0.02)
    monkeypatch.setattr("fal_client._recovery.LAST_LOOK", 0.2)
    mode.options = {**mode.options, "retry": PATIENT, **fault.client}
    emu.faults(fault.kind, operation=fault.operation, probability=0.35, seed=7, **fault.params)
    # Each job runs a moment, so status streams see it queued and running before it completes.
    inputs = [{"i": i, "sleep": 0.02} for i in range(INPUTS)]
    outcomes = mode.collect(
        "map",
        WORK_APP,
        inputs,
        concurrency=8,
        return_exceptions=True,
        client_timeout=20,
        **fault.map,
    )
    hit = [r for r in emu.requests() if r.fault == fault.kind and r.operation == fault.operation]
    assert hit, "the fault never fired: the case proves nothing"
    assert len(outcomes) == INPUTS
    accepted = [r for r in emu.requests() if r.operation == "submit" and r.status_code == 200]
    assert work.duplicates() == {}  # no input ever ran twice
    assert len(accepted) <= INPUTS
    for i, outcome in enumerate(outcomes):
        if fault.outcome == DELIVERED or not isinstance(outcome, BaseException):
            assert outcome == {"i": i, "out": f"result-{i}"}, f"input {i}: {outcome!r}"
            assert len(work.by_input[i]) == 1
        else:
            assert isinstance(outcome, fal_client.SubmitNotConfirmedError), repr(outcome)
            assert outcome.app == WORK_APP
            assert len(work.by_input.get(i, [])) <= 1
    if fault.outcome == UNCONFIRMED:
        assert any(isinstance(o, fal_client.SubmitNotConfirmedError) for o in outcomes)


def test_uploads_under_cdn_part_failures(mode: Driver, emu: Emulator) -> None:
    mode.options = {**mode.options, "retry": PATIENT}
    emu.faults("part_fail", operation="part", probability=0.35, seed=3)
    blobs = [payload(5 * SMALL_PARTS["chunk_size"] + n, seed=n) for n in range(4)]
    urls = [mode.call("upload", blob, "application/octet-stream", **SMALL_PARTS) for blob in blobs]
    assert [r for r in emu.requests() if r.fault == "part_fail"], "no part failed"
    for blob, url in zip(blobs, urls):
        assert stored(emu, url).sha256 == hashlib.sha256(blob).hexdigest()
