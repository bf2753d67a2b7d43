"""The ``fal_emulator`` pytest fixture (entry point ``fal_client_emulator``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import httpx
import pytest

from fal_client.testing import Emulator

pytestmark = [pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]


def _env() -> Dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.fixture
def resets(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """Record calls of the hook that resets the default clients (set up before fal_emulator)."""
    from fal_client import _defaults

    calls: List[str] = []
    monkeypatch.setattr(_defaults, "reset_default_clients", lambda: calls.append("reset"))
    return calls


def test_fixture_points_the_environment_at_a_running_emulator(
    resets: List[str], fal_emulator: Emulator
) -> None:
    assert resets == ["reset"]
    assert {name: os.environ[name] for name in fal_emulator.env} == fal_emulator.env

    @fal_emulator.app("me/plugin")
    async def plugin(arguments: Dict[str, str], ctx: object) -> Dict[str, bool]:
        return {"from_fixture": True}

    response = httpx.post(
        os.environ["FAL_RUN_URL"] + "/me/plugin",
        json={},
        headers={"Authorization": f"Key {os.environ['FAL_KEY']}"},
    )
    assert response.json() == {"from_fixture": True}


def test_importing_the_plugin_does_not_import_the_server_stack() -> None:
    code = (
        "import sys; import fal_client.testing._pytest_plugin; "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'sse_starlette') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=30
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_the_testing_extra_only_the_fixture_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(
        "import sys\n"
        "sys.modules['starlette'] = None  # as if the testing extra were not installed\n"
    )
    (tmp_path / "test_uses_fixture.py").write_text(
        "def test_plain():\n    assert True\n\ndef test_emulated(fal_emulator):\n    pass\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=60,
    )

    assert "1 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "pip install 'fal-client-anyio[testing]'" in result.stdout
