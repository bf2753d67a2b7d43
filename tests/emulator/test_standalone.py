"""The standalone server: ``python -m fal_client.testing`` and ``serve_forever``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import httpx
import pytest

from fal_client.testing import AppContext, Emulator, serve_forever
from fal_client.testing._serve import banner_lines, is_loopback_host

pytestmark = [pytest.mark.timeout(30)]

ROOT = Path(__file__).resolve().parents[2]


def _env() -> Dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com", "::"])
def test_cli_refuses_non_loopback_hosts(host: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fal_client.testing", "--host", host, "--port", "0"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=20,
    )

    assert result.returncode == 2
    assert "refusing" in result.stderr and "--allow-remote" in result.stderr


def test_serve_forever_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="allow_remote"):
        serve_forever("0.0.0.0", 0)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.2", False),
        ("example.com", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_cli_serves_prints_exports_and_stops_on_ctrl_c() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "fal_client.testing", "--port", "0", "--key", "k-123"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    ) as process:
        assert process.stdout is not None
        exports: Dict[str, str] = {}
        lines: List[str] = []
        try:
            while "FAL_API_URL" not in exports:
                line = process.stdout.readline()
                assert line, f"server exited early: {lines}"
                lines.append(line)
                if line.startswith("export "):
                    name, _, value = line[len("export ") :].strip().partition("=")
                    exports[name] = value
            assert exports["FAL_KEY"] == "k-123"
            response = httpx.post(
                exports["FAL_RUN_URL"] + "/fal-ai/echo",
                json={"standalone": True},
                headers={"Authorization": "Key k-123"},
                timeout=10,
            )
            assert response.json() == {"standalone": True}
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=15)

    assert code == 0
    banner = "".join(lines)
    assert "/__emulator/ui" in banner and "/__emulator/docs" in banner
    for app in Emulator().apps():  # the registry's apps, whatever they are
        assert f"#   {app.name} " in banner
    assert set(exports) == {
        "FAL_KEY",
        "FAL_RUN_URL",
        "FAL_QUEUE_URL",
        "FAL_REST_URL",
        "FAL_CDN_URL",
        "FAL_API_URL",
    }


def test_banner_lists_the_registered_apps_with_their_inputs() -> None:
    with Emulator(builtin_apps=False) as emu:

        @emu.app("me/upscale")
        async def upscale(arguments: Dict[str, Any], ctx: AppContext) -> None:
            """Upscales an image.

            Inputs:
                image_url: what to upscale.
                scale: 2 or 4.
            """

        lines = banner_lines(emu)
        url = emu.url

    assert lines[0] == f"# fal emulator listening on {url} (Ctrl-C to stop)"
    assert lines[1] == f"# dashboard:   {url}/__emulator/ui"
    assert [line for line in lines if "me/upscale" in line] == [
        "#   me/upscale  plain      Upscales an image (image_url, scale)"
    ]
    assert all(line.startswith("#") for line in lines)


def test_every_builtin_app_documents_what_it_does_and_its_inputs() -> None:
    # The banner, GET /__emulator/apps, the dashboard and docs/emulator.md all show this.
    for app in Emulator().apps():
        assert app.description, f"{app.name}: its function needs a docstring"
        assert app.inputs, f"{app.name}: its docstring needs an 'Inputs:' section"
