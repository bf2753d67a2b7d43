"""The OFFICIAL ``fal-client`` (from PyPI, in a throwaway venv) against our emulator.

The emulator must speak the wire protocol so faithfully that the official package works against
it unchanged apart from its base URLs. Each test runs one case of ``official_cases.py`` in the
official venv (through ``benchmarks/_official_shim.py``, which points the client's URL constants
at the emulator), then asserts on what the client printed AND on the emulator's own records.

Needs the package index once per machine to build ``benchmarks/.venvs/official-<version>/``;
skipped, saying why, only when the index is unreachable.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from benchmarks._official import (
    OFFICIAL_VERSION,
    OfficialClientUnavailable,
    ensure_official_venv,
    official_command,
    official_env,
)
from fal_client.testing import AppContext, Emulator

pytestmark = pytest.mark.network_pypi

CASES = Path(__file__).with_name("official_cases.py")
CASE_TIMEOUT = 30.0  # seconds per subprocess; the whole module takes a few seconds
MODES = ["sync", "async"]


@pytest.fixture(scope="session")
def official_python() -> Path:
    """The official client's venv, built once per machine (cached), or a skip with the reason."""
    try:
        return ensure_official_venv()
    except OfficialClientUnavailable as exc:
        pytest.skip(f"official fal-client=={OFFICIAL_VERSION} not installable: {exc}")


def _register_apps(emu: Emulator) -> None:
    @emu.app("compat/echo", workers=4)
    async def echo(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        return {"received": arguments}

    @emu.app("compat/steps", workers=4)
    async def steps(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        n = int(arguments.get("n", 3))
        for i in range(n):
            ctx.log(f"step {i}")
            await anyio.sleep(0.03)  # long enough for the client to see IN_PROGRESS with logs
        return {"steps": n}

    @emu.app("compat/hold", workers=4)
    async def hold(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        ctx.log("holding")
        await anyio.sleep(30)  # only ever ends by being cancelled
        return {"released": True}

    @emu.app("compat/tokens", workers=4)
    async def tokens(arguments: dict[str, Any], ctx: AppContext) -> AsyncIterator[dict[str, Any]]:
        text = str(arguments["text"])
        for i, ch in enumerate(text):
            yield {"index": i, "token": ch}
        yield {"text": text, "done": True}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    emu = Emulator()
    _register_apps(emu)
    with emu:
        yield emu


def run_case(python: Path, emu: Emulator, name: str, mode: str, **args: Any) -> dict[str, Any]:
    """Run one official-client case in its venv; return the JSON line it printed."""
    cmd = official_command(CASES, [name, mode, json.dumps(args)])
    assert cmd[0] == str(python)
    try:
        proc = subprocess.run(
            cmd,
            env=official_env(emu.env),
            capture_output=True,
            text=True,
            timeout=CASE_TIMEOUT,
            cwd=CASES.parent,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"official case {name}/{mode} hung for {CASE_TIMEOUT}s; stderr:\n{exc.stderr}")
    assert proc.returncode == 0, (
        f"official case {name}/{mode} exited {proc.returncode}\n"
        f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["official_version"] == OFFICIAL_VERSION
    return out


def job(emu: Emulator, request_id: str) -> Any:
    matches = [j for j in emu.jobs() if _get(j, "request_id") == request_id]
    assert len(matches) == 1, f"emulator has {len(matches)} jobs with id {request_id}"
    return matches[0]


def _get(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, dict) else getattr(record, name)


def wait_for_job(emu: Emulator, request_id: str, predicate: Any, timeout: float = 5.0) -> Any:
    """The emulator settles a cancel asynchronously; give it a bounded moment."""
    deadline = time.monotonic() + timeout
    while True:
        record = job(emu, request_id)
        if predicate(record) or time.monotonic() > deadline:
            return record
        time.sleep(0.01)


def assert_stored(emu: Emulator, out: dict[str, Any], content_type: str | None = None) -> None:
    """The file is on the emulator's CDN with the client's bytes, and served back by URL."""
    by_url = {_get(f, "url"): f for f in emu.files()}
    assert out["url"] in by_url, f"{out['url']} not among stored files {sorted(by_url)}"
    record = by_url[out["url"]]
    assert _get(record, "sha256") == out["sha256"]
    assert _get(record, "size") == out["size"]
    # Stored by the CDN v3 single upload, the official client's first choice (not its fallback).
    assert _get(record, "source") == "cdn"
    response = httpx.get(out["url"], timeout=5.0, trust_env=False)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == out["sha256"]
    if content_type is not None:
        assert response.headers["content-type"].startswith(content_type)


def requests_to(emu: Emulator, method: str, fragment: str) -> list[Any]:
    return [
        r for r in emu.requests() if _get(r, "method") == method and fragment in _get(r, "path")
    ]


@pytest.mark.parametrize("mode", MODES)
def test_run(official_python: Path, emulator: Emulator, mode: str) -> None:
    out = run_case(official_python, emulator, "run", mode, value=f"hello-{mode}")
    assert out["result"] == {"received": {"value": f"hello-{mode}"}}
    posts = requests_to(emulator, "POST", "/run/compat/echo")
    assert posts and all(_get(r, "authorized") for r in posts)


@pytest.mark.parametrize("mode", MODES)
def test_submit_and_handle(official_python: Path, emulator: Emulator, mode: str) -> None:
    out = run_case(official_python, emulator, "handle", mode, n=3)
    events = out["events"]
    assert events[-1]["type"] == "Completed"
    assert {e["type"] for e in events[:-1]} <= {"Queued", "InProgress"}
    assert events[-1]["logs"] == ["step 0", "step 1", "step 2"]
    assert out["status"]["type"] == "Completed"
    assert out["status"]["error"] is None
    assert out["result"] == {"steps": 3}
    record = job(emulator, out["request_id"])
    assert _get(record, "status") == "COMPLETED"
    assert _get(record, "app") == "compat/steps"
    assert not _get(record, "cancelled")


@pytest.mark.parametrize("mode", MODES)
def test_handle_cancel_running_job(official_python: Path, emulator: Emulator, mode: str) -> None:
    out = run_case(official_python, emulator, "handle_cancel", mode)
    assert out["seen"] == "InProgress"
    record = wait_for_job(emulator, out["request_id"], lambda j: _get(j, "status") == "COMPLETED")
    assert _get(record, "cancelled") is True
    puts = requests_to(emulator, "PUT", f"/requests/{out['request_id']}/cancel")
    assert len(puts) == 1


@pytest.mark.parametrize("mode", MODES)
def test_subscribe_with_updates(official_python: Path, emulator: Emulator, mode: str) -> None:
    out = run_case(official_python, emulator, "subscribe", mode, n=2)
    assert out["result"] == {"steps": 2}
    assert len(out["enqueued"]) == 1
    updates = out["updates"]
    assert updates[-1]["type"] == "Completed"
    assert updates[-1]["logs"] == ["step 0", "step 1"]
    assert _get(job(emulator, out["enqueued"][0]), "status") == "COMPLETED"


@pytest.mark.parametrize("mode", MODES)
def test_stream(official_python: Path, emulator: Emulator, mode: str) -> None:
    out = run_case(official_python, emulator, "stream", mode, text="fal")
    assert out["events"] == [
        {"index": 0, "token": "f"},
        {"index": 1, "token": "a"},
        {"index": 2, "token": "l"},
        {"text": "fal", "done": True},
    ]
    assert requests_to(emulator, "POST", "/run/compat/tokens/stream")


@pytest.mark.parametrize("mode", MODES)
def test_status_result_cancel_by_id(official_python: Path, emulator: Emulator, mode: str) -> None:
    out = run_case(official_python, emulator, "by_id", mode, n=2)
    assert out["first"]["type"] in {"Queued", "InProgress", "Completed"}
    assert out["final"]["type"] == "Completed"
    assert out["final"]["logs"] == ["step 0", "step 1"]
    assert out["result"] == {"steps": 2}
    assert _get(job(emulator, out["request_id"]), "status") == "COMPLETED"
    cancelled = wait_for_job(
        emulator, out["cancelled_id"], lambda j: _get(j, "status") == "COMPLETED"
    )
    assert _get(cancelled, "cancelled") is True


@pytest.mark.parametrize("mode", MODES)
def test_upload(official_python: Path, emulator: Emulator, mode: str) -> None:
    out = run_case(official_python, emulator, "upload", mode, size=300_000)
    assert_stored(emulator, out)


@pytest.mark.parametrize("mode", MODES)
def test_upload_file(official_python: Path, emulator: Emulator, mode: str) -> None:
    out = run_case(official_python, emulator, "upload_file", mode, size=4096)
    assert_stored(emulator, out, content_type="text/plain")


@pytest.mark.parametrize("mode", MODES)
def test_upload_image(official_python: Path, emulator: Emulator, mode: str) -> None:
    out = run_case(official_python, emulator, "upload_image", mode)
    assert_stored(emulator, out, content_type="image/png")
