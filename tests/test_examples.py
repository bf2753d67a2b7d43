"""Every script in examples/ runs against the emulator and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fal_client.testing import Emulator

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script: Path, emulator: Emulator) -> None:
    env = {**os.environ, **emulator.env}
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=100
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip(), "an example should show what it did"


def test_there_is_an_example_per_major_feature() -> None:
    names = {p.stem for p in EXAMPLES}
    features = (
        "sync_subscribe",
        "asyncio_handle",
        "trio_cancel",
        "batch_map",
        "files",
        "platform_validate_budget",
    )
    for feature in features:
        assert feature in names
