"""The documentation site builds with every warning an error (what CI checks of the docs)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(200)
@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="the docs toolchain is installed on Python 3.11+ only (see pyproject's dev extra); "
    "CI builds the docs on 3.11",
)
def test_docs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.fail("mkdocs is not installed: pip install -e '.[dev]'")
    # Silence mkdocs-material's end-of-life banner; it is not a warning of this build.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "api" / "index.html").is_file()
