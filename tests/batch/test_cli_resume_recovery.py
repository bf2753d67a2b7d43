"""``fal-client batch``: kill -9 while a submit is in flight, then ``--resume`` finds its job.

The crash window a manifest alone cannot close: fal accepted a submit, the process died before
the request id reached the manifest. The manifest's ``submitting`` intent tells the resume that
a job may exist and since when, and the resume looks it up in the request history instead of
paying for it twice. The points of the kill are chosen by the test through the emulator (a
lookup in progress; the N-th accepted submit), never by sleeping.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import fal_client
from fal_client._manifest import parse_manifest
from fal_client.testing import Emulator

from .conftest import WORK_APP, WorkLog

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


def history_queries(emu: Emulator) -> int:
    return sum(1 for r in emu.requests() if r.operation == "history")


def jobs_of(emu: Emulator) -> int:
    return sum(1 for j in emu.jobs() if j.app == WORK_APP)


#: The clock-skew margin of the CLI under test, and its lookups' pauses: the emulator shares the
#: CLI's clock, so a small margin is as sound as the default 2 s and keeps each resume quick
#: (as the in-process recovery tests do with monkeypatch). The CLI is otherwise the real one.
SKEW = 0.3
CLI = (
    "import datetime, sys\n"
    "import fal_client._reconcile as reconcile, fal_client._recovery as recovery\n"
    f"reconcile.CLOCK_SKEW = datetime.timedelta(seconds={SKEW})\n"
    "recovery.FIRST_LOOK, recovery.LAST_LOOK = 0.02, 0.2\n"
    "from fal_client._cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def batch(emu: Emulator, argv: list[str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CLI, "batch", WORK_APP, *argv, *extra],
        env={**os.environ, **emu.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL


def finish(emu: Emulator, argv: list[str], procs: list[subprocess.Popen[str]]) -> None:
    resumed = batch(emu, argv, "--resume", "--progress", "none")
    procs.append(resumed)
    assert resumed.stderr is not None
    errors = resumed.stderr.read()
    assert resumed.wait(60) == 0, errors


MARKER = 1000  # the input of the other caller's request that lets a resume prove absence


def check_exactly_once(emu: Emulator, work: WorkLog, out: Path, n: int) -> None:
    assert work.duplicates() == {}  # no input ran twice
    marker = 1 if MARKER in work.by_input else 0
    assert sorted(work.by_input) == list(range(n)) + [MARKER] * marker
    assert jobs_of(emu) == n + marker  # no orphan: every job is one input's
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["index"] for r in records) == list(range(n))
    for r in records:
        assert r["result"] == {"i": r["index"], "out": f"result-{r['index']}"}, r
        assert r["request_id"] == work.by_input[r["index"]][0]


def test_kill_9_with_a_lost_submit_in_flight_then_resume_attaches_to_its_job(
    emu: Emulator, work: WorkLog, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    n = 6
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"i": i}) + "\n" for i in range(n)))
    out = tmp_path / "out.jsonl"
    argv = [str(inputs), "-o", str(out), "-c", "1"]
    # Input 0's answer is lost (its job exists) and the history is down, so the process sits in
    # its lookup, with input 0 journalled as "submitting" only: kill it there.
    emu.faults("reset_after_submit", operation="submit", count=1)
    emu.faults("ingress_503", operation="history")
    first = batch(emu, argv, "--progress", "none")
    procs.append(first)
    emu.wait_until(lambda: history_queries(emu) >= 1, timeout=30)
    kill(first)
    state = parse_manifest((tmp_path / "out.jsonl.manifest").read_bytes())
    assert state.entries[0].submitting_at is not None and state.entries[0].request_id is None
    assert jobs_of(emu) == 1

    emu.clear_faults()
    finish(emu, argv, procs)
    check_exactly_once(emu, work, out, n)  # input 0's job was found, not paid again


def kill_and_resume(
    emu: Emulator,
    work: WorkLog,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
    seed: int,
) -> None:
    """One batch of 40 under lost submit answers, killed with SIGKILL after a random number of
    accepted submits, then resumed to the end.

    The kill may fall between an input's ``submitting`` intent and its POST: then no job
    exists, and the resume can say so only when the history lists pending requests and has
    caught up past the window (which ends at the resume's start plus the clock-skew margin).
    So the emulator lists pending requests, and once the resume is looking, another caller's
    request (held, so it is listed pending) is sent after that margin.
    """
    rng = random.Random(seed)
    n = 40
    emu.history_lists_pending = True
    work.gates["marker"] = emu.gate()
    inputs = tmp_path / f"in{seed}.jsonl"
    inputs.write_text("".join(json.dumps({"i": i, "sleep": 0.01}) + "\n" for i in range(n)))
    out = tmp_path / f"out{seed}.jsonl"
    argv = [str(inputs), "-o", str(out), "-c", "8"]
    emu.faults("reset_after_submit", operation="submit", probability=0.15, seed=seed)
    first = batch(emu, argv, "--progress", "none")
    procs.append(first)
    at = rng.randint(1, n - 1)
    emu.wait_until(lambda: jobs_of(emu) >= at or first.poll() is not None, timeout=30)
    kill(first)
    emu.clear_faults()
    looked = history_queries(emu)
    resumed = batch(emu, argv, "--resume", "--progress", "none")
    procs.append(resumed)

    def other_caller() -> None:
        try:
            emu.wait_until(
                lambda: history_queries(emu) > looked or resumed.poll() is not None, timeout=30
            )
            if resumed.poll() is not None:
                return
            # Past the margin, measured from the resume's start: a bound, not a guess.
            time.sleep(SKEW + 0.2)
            with fal_client.SyncClient(
                **{"key": emu.env["FAL_KEY"], "queue_url": emu.env["FAL_QUEUE_URL"]}
            ) as other:
                other.submit(WORK_APP, {"i": MARKER, "gate": "marker"})
        except Exception as exc:  # reported by the assertions below
            errors.append(exc)

    errors: list[Exception] = []
    helper = threading.Thread(target=other_caller)
    helper.start()
    try:
        assert resumed.stderr is not None
        text = resumed.stderr.read()
        assert resumed.wait(60) == 0, text
    finally:
        work.gates["marker"].open()
        helper.join(30)
        emu.history_lists_pending = False
    assert errors == []
    check_exactly_once(emu, work, out, n)


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_at_random_points_then_resume_pays_each_input_once(
    emu: Emulator,
    work: WorkLog,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
    seed: int,
) -> None:
    kill_and_resume(emu, work, tmp_path, procs, seed)


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(100, 120))
def test_kill_9_at_random_points_20_times(
    emu: Emulator,
    work: WorkLog,
    tmp_path: Path,
    procs: list[subprocess.Popen[str]],
    seed: int,
) -> None:
    kill_and_resume(emu, work, tmp_path, procs, seed)
