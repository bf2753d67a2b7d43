"""``fal-client batch``: kill -9 half-way, then ``--resume`` finishes with no duplicate submits.

The CLI runs as a real subprocess against the session emulator (configured through the
``FAL_*`` environment variables, as a user would). It reports progress as JSON lines on stderr;
a job counts as queued only once its request id is fsync'd into the manifest, so those lines
tell the test exactly when killing the process can no longer lose a submission.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from fal_client._manifest import parse_manifest
from fal_client.testing import Emulator

from .conftest import WORK_APP, WorkLog, submits

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


def start_batch(emu: Emulator, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **emu.env, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "fal_client._cli", "batch", WORK_APP, *args, "--progress", "json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def progress_until(
    proc: subprocess.Popen[str], condition: Callable[[dict[str, Any]], bool]
) -> None:
    """Read the CLI's JSON progress lines until one satisfies ``condition``."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("{") and condition(json.loads(line)):
            return
    raise AssertionError(f"the CLI exited ({proc.wait()}) before the condition held: {seen[-5:]}")


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


def test_kill_9_half_way_then_resume_completes_without_duplicate_submissions(
    emu: Emulator, work: WorkLog, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    work.gates["cli"] = emu.gate()
    n, held_from, concurrency = 40, 20, 8
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(
        "".join(
            json.dumps({"i": i, "gate": "cli", "hold_from": held_from}) + "\n" for i in range(n)
        )
    )
    out = tmp_path / "out.jsonl"
    argv = [str(inputs), "-o", str(out), "-c", str(concurrency)]

    # Run 1: inputs 0-19 finish, 20-27 are submitted, journalled and held; then kill -9.
    first = start_batch(emu, *argv)
    procs.append(first)
    progress_until(
        first, lambda p: p["done"] == held_from and p["queued"] + p["running"] == concurrency
    )
    first.send_signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL
    assert submits(emu) == held_from + concurrency
    held = [j for j in emu.jobs() if j.app == WORK_APP and j.status != "COMPLETED"]
    assert len(held) == concurrency and not any(j.cancelled for j in held)
    state = parse_manifest((tmp_path / "out.jsonl.manifest").read_bytes())
    assert len([e for e in state.entries.values() if e.done]) == held_from

    # Without --resume the CLI refuses to start over on top of the manifest.
    refused = subprocess.run(
        [sys.executable, "-m", "fal_client._cli", "batch", WORK_APP, *argv],
        env={**os.environ, **emu.env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "--resume" in refused.stderr

    # Run 2: re-attaches to the 8 held jobs (the gate opens only once it waits on them),
    # delivers 0-19 from the manifest, submits 28-39.
    second = start_batch(emu, *argv, "--resume")
    procs.append(second)
    progress_until(
        second, lambda p: p["done"] == held_from and p["queued"] + p["running"] == concurrency
    )
    work.gates["cli"].open()
    assert second.stderr is not None
    rest = second.stderr.read()
    assert second.wait() == 0, rest

    assert submits(emu) == n  # every input submitted exactly once across both runs
    assert work.duplicates() == {}
    assert sorted(work.by_input) == list(range(n))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["index"] for r in records) == list(range(n))
    for r in records:
        assert r["result"] == {"i": r["index"], "out": f"result-{r['index']}"}
        assert r["request_id"] == work.by_input[r["index"]][0]


def test_batch_reports_failures_with_exit_1_and_bad_inputs_with_exit_2(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fal_client._cli import main

    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"i": 0}\n{"i": 1, "fail": true}\n')
    out = tmp_path / "out.jsonl"
    for k, v in emu.env.items():
        monkeypatch.setenv(k, v)
    code = main(["batch", "test/maybe-fail", str(inputs), "-o", str(out), "--progress", "none"])
    assert code == 1
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["index"]: "error" in r for r in lines} == {0: False, 1: True}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"i": 0}\n[1]\n')
    assert main(["batch", "test/echo", str(bad), "-o", str(out)]) == 2
    # A manifest for other inputs is refused, not silently mixed in.
    inputs.write_text('{"i": 5}\n{"i": 1, "fail": true}\n')
    assert main(["batch", "test/maybe-fail", str(inputs), "-o", str(out), "--resume"]) == 2
