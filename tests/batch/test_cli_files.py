"""``fal-client batch`` never destroys a user's file: an output that is the input (or the
manifest) is refused before anything is read or written, and a refused ``--resume`` leaves the
output of the earlier run as it was."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from fal_client.testing import Emulator

from .conftest import WORK_APP, WorkLog, submits


def run_batch(emu: Emulator, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **emu.env}
    return subprocess.run(
        [sys.executable, "-m", "fal_client._cli", "batch", WORK_APP, *args, "--progress", "none"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def write_inputs(path: Path, n: int, tag: str = "") -> None:
    path.write_text("".join(json.dumps({"i": i, "tag": tag}) + "\n" for i in range(n)))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_output_equal_to_the_input_is_refused_before_anything_is_done(
    emu: Emulator, work: WorkLog, tmp_path: Path
) -> None:
    inputs = tmp_path / "in.jsonl"
    write_inputs(inputs, 3)
    before = digest(inputs)
    # The same file, also when spelled differently.
    for spelled in (str(inputs), str(tmp_path / "." / "in.jsonl")):
        proc = run_batch(emu, str(inputs), "-o", spelled)
        assert proc.returncode == 2, proc.stderr
        assert "-o" in proc.stderr and "input file" in proc.stderr
    assert digest(inputs) == before
    assert submits(emu) == 0
    assert not (tmp_path / "in.jsonl.manifest").exists()


def test_output_equal_to_the_manifest_is_refused(
    emu: Emulator, work: WorkLog, tmp_path: Path
) -> None:
    inputs = tmp_path / "in.jsonl"
    write_inputs(inputs, 2)
    out = tmp_path / "out.jsonl"
    proc = run_batch(emu, str(inputs), "-o", str(out), "--manifest", str(out))
    assert proc.returncode == 2 and "manifest" in proc.stderr
    assert submits(emu) == 0 and not out.exists()


def test_a_refused_resume_leaves_the_earlier_output_untouched(
    emu: Emulator, work: WorkLog, tmp_path: Path
) -> None:
    inputs, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_inputs(inputs, 4, tag="first")
    assert run_batch(emu, str(inputs), "-o", str(out)).returncode == 0
    assert len(out.read_text().splitlines()) == 4
    before = digest(out)
    emu.reset()
    # The last input changed since that run: resuming with this manifest must be refused.
    lines = inputs.read_text().splitlines()
    lines[-1] = json.dumps({"i": 3, "tag": "changed"})
    inputs.write_text("\n".join(lines) + "\n")
    proc = run_batch(emu, str(inputs), "-o", str(out), "--resume")
    assert proc.returncode == 2, proc.stderr
    assert "input 3 differs" in proc.stderr
    assert digest(out) == before
    assert submits(emu) == 0


def test_a_batch_that_would_fail_every_input_stops_early(
    emu: Emulator, work: WorkLog, tmp_path: Path
) -> None:
    inputs, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_inputs(inputs, 200)
    env = {**os.environ, **emu.env, "FAL_KEY": "not-the-key"}

    def batch(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = ["batch", WORK_APP, str(inputs), "-o", str(out), "-c", "2", *extra]
        return subprocess.run(
            [sys.executable, "-m", "fal_client._cli", *argv, "--progress", "none"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    proc = batch()
    assert proc.returncode == 3, proc.stderr  # a rejected key
    assert "stopped: the first 5 inputs all failed with AuthenticationError" in proc.stderr
    refused = [r for r in emu.requests() if r.operation == "submit"]
    assert 5 <= len(refused) < 20  # not 200 attempts
    emu.reset()
    out.unlink()
    (tmp_path / "out.jsonl.manifest").unlink()
    proc = batch("--keep-going")
    assert proc.returncode == 1 and "stopped" not in proc.stderr
    assert len([r for r in emu.requests() if r.operation == "submit"]) == 200
