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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Union

import pytest

from fal_client._manifest import ManifestState, parse_manifest
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


def done_indices(state: ManifestState) -> set[int]:
    return {i for i, entry in state.entries.items() if entry.done}


def written_indices(out: Union[Path, bytes]) -> set[int]:
    """The inputs with a complete line in an output file (or in bytes read from one)."""
    data = out if isinstance(out, bytes) else out.read_bytes()
    return {
        json.loads(line)["index"] for line in data.splitlines(keepends=True) if line[-1:] == b"\n"
    }


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
    # Every input that reached the app is journalled with its request id, and the output holds
    # every result the manifest records as done (a result is journalled as done only once its
    # line is on disk; the rest are fetched again by request id on resume).
    assert all(state.entries[i].request_id for i in range(held_from + concurrency))
    assert done_indices(state) <= written_indices(out)

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


BIG_APP = "batch/big-result"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="a FIFO as the output")
def test_kill_9_leaves_no_result_journalled_as_done_that_the_output_lacks(
    emu: Emulator, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """The output is a FIFO nobody reads, and the first result is larger than the pipe holds, so
    the CLI blocks in the middle of writing that line: the deterministic point at which a
    manifest written before the output would already say "done" for a line the output lacks.
    The test kills the CLI there (or as soon as the manifest says done, which the old order did
    before the write began), then resumes into a regular file."""
    import array
    import fcntl
    import termios

    release = emu.gate()

    @emu.app(BIG_APP, workers=4)
    async def big(arguments: dict[str, Any], ctx: Any) -> dict[str, Any]:
        if arguments["i"] > 0:
            await release.wait()  # keeps the batch from finishing while the test looks
        return {"i": arguments["i"], "blob": "x" * 300_000}

    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"i": 0}\n{"i": 1}\n')
    fifo, manifest = tmp_path / "out.fifo", tmp_path / "m.jsonl"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the CLI open it; never read
    try:
        env = {**os.environ, **emu.env}
        argv = [sys.executable, "-m", "fal_client._cli", "batch", BIG_APP, str(inputs)]
        first = subprocess.Popen(
            [*argv, "-o", str(fifo), "--manifest", str(manifest), "--progress", "none"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        procs.append(first)
        capacity = fcntl.fcntl(reader, getattr(fcntl, "F_GETPIPE_SZ", 1032))

        def blocked_or_journalled() -> bool:
            buffered = array.array("i", [0])
            fcntl.ioctl(reader, termios.FIONREAD, buffered)
            journalled = manifest.exists() and done_indices(parse_manifest(manifest.read_bytes()))
            return buffered[0] >= capacity or bool(journalled)

        wait_for(blocked_or_journalled, first)
        first.send_signal(signal.SIGKILL)
        assert first.wait() == -signal.SIGKILL
        written = b""
        while chunk := read_available(reader):
            written += chunk
    finally:
        os.close(reader)
    state = parse_manifest(manifest.read_bytes())
    assert done_indices(state) <= written_indices(written)
    assert state.entries[0].request_id and not state.entries[0].done

    # Resume into a regular file: input 0, finished but not journalled as done, is fetched again
    # by its request id (never resubmitted); input 1 is re-attached to.
    release.open()
    out = tmp_path / "out.jsonl"
    second = subprocess.run(
        [*argv, "-o", str(out), "--manifest", str(manifest), "--resume", "--progress", "none"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 0, second.stderr
    assert written_indices(out) == {0, 1}
    assert submits(emu, BIG_APP) == 2
    fetched = [r for r in emu.requests() if r.operation == "result"]
    assert [r.request_id for r in fetched].count(state.entries[0].request_id) == 2
    assert done_indices(parse_manifest(manifest.read_bytes())) == {0, 1}


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[Any]) -> None:
    """Poll another process's files until ``condition`` holds (bounded by the test timeout)."""
    while not condition():
        assert proc.poll() is None, f"the CLI exited ({proc.returncode}) first"
        time.sleep(0.005)


def read_available(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


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
