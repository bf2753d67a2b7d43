"""The dashboard's static files ship in the wheel (they are not Python modules)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "fal_client" / "testing" / "_static"

# Building needs the build backend, which pip fetches into an isolated environment.
pytestmark = [pytest.mark.network_pypi, pytest.mark.timeout(180)]


def test_the_wheel_ships_the_dashboard(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    shipped = sorted(path.name for path in STATIC.iterdir())
    assert {"index.html", "dashboard.js", "dashboard.css"} <= set(shipped)
    assert {f"fal_client/testing/_static/{name}" for name in shipped} <= names
