"""The official client's own end-to-end tests pass against this package (issue 12).

``tools/run_official_tests.py`` runs the official ``tests/test_sync_client.py`` and
``tests/test_async_client.py`` with the emulator hosting the apps they call. CI has no checkout
of the official repository, but the official sdist on PyPI ships both files, so the main test
here downloads it once (``benchmarks/_official.py`` caches it next to the official venv) and
runs the script on them; it is skipped, saying why, only when PyPI is unreachable.

The other tests need no network: they pin the script's two rewrites (and that anything else
stops it), and run it on stand-in files to show what the run guarantees: nothing but 127.0.0.1 is
reachable, your ``FAL_*`` and proxy settings are gone, the async tests run on both backends with
the fixture and the test in one event loop.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from benchmarks._official import (
    OFFICIAL_VERSION,
    OfficialClientUnavailable,
    ensure_official_sdist_tests,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "run_official_tests.py"
RUN_TIMEOUT = 300.0  # the whole script; the suites themselves take a few seconds


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_official_tests", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


tool = _load_script()


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=env,
    )


def report_of(path: Path, proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert path.exists(), f"no report; stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr}"
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def expected_ids(folder: Path, backends: list[str]) -> set[str]:
    """Every test the two files define, minus the dropped ones, per backend for async ones."""
    ids = set()
    for name in tool.SUITE_FILES:
        tree = ast.parse((folder / name).read_text())
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if not node.name.startswith("test") or node.name == tool.RETRY_TEST:
                continue
            if isinstance(node, ast.AsyncFunctionDef):
                ids |= {f"{name}::{node.name}[{backend}]" for backend in backends}
            else:
                ids.add(f"{name}::{node.name}")
    return ids


# --- the official suite itself -----------------------------------------------------------------


@pytest.fixture(scope="module")
def official_tests() -> Path:
    """The official sdist's two end-to-end test files (downloaded once), or a skip saying why."""
    try:
        return ensure_official_sdist_tests()
    except OfficialClientUnavailable as exc:
        pytest.skip(f"the official fal-client=={OFFICIAL_VERSION} sdist is not downloadable: {exc}")


@pytest.mark.network_pypi
@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_the_official_end_to_end_tests_pass(official_tests: Path, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"

    proc = run_script(str(official_tests), "--json", str(report_path))

    report = report_of(report_path, proc)
    assert report["backends"] == ["asyncio", "trio"]
    outcomes = {item["test"]: item["outcome"] for item in report["tests"]}
    expected = expected_ids(official_tests, report["backends"])
    assert len(expected) >= 10  # 4 sync tests, 3 async ones on two backends, at 1.0.3
    not_passed = {
        item["test"]: f"{item['outcome']}: {item['message'][:300]}"
        for item in report["tests"]
        if item["outcome"] != "passed"
    }
    assert not not_passed, proc.stdout[proc.stdout.rfind("Official fal-client") :]
    assert set(outcomes) == expected
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


# --- the rewrites ------------------------------------------------------------------------------

SYNC_STANDIN = textwrap.dedent(
    """\
    import os

    import httpx
    import pytest

    import fal_client
    from fal_client.client import _maybe_retry_request


    @pytest.fixture
    def client() -> fal_client.SyncClient:
        client = fal_client.SyncClient()
        try:
            client._auth
        except fal_client.auth.MissingCredentialsError:
            pytest.skip("Missing credentials")
        return client


    def test_only_the_emulator_is_configured():
        fal = {name for name in os.environ if name.startswith("FAL_")}
        assert fal == {
            "FAL_KEY", "FAL_RUN_URL", "FAL_QUEUE_URL", "FAL_REST_URL", "FAL_CDN_URL", "FAL_API_URL"
        }
        assert all(os.environ[name].startswith("http://127.0.0.1:") for name in fal - {"FAL_KEY"})
        assert not {"HTTPS_PROXY", "https_proxy", "ALL_PROXY"} & set(os.environ)


    @pytest.mark.parametrize("url", ["http://192.0.2.1/", "http://example.com/"])
    def test_nothing_else_is_reachable(url):
        with pytest.raises(httpx.ConnectError, match="only 127.0.0.1 is allowed"):
            httpx.get(url, timeout=5)


    def test_the_emulator_is_reachable():
        response = httpx.get(os.environ["FAL_RUN_URL"].rsplit("/", 1)[0] + "/__emulator/apps")
        assert "fal-ai/any-llm" in response.text


    @pytest.mark.parametrize("n", [1, 2])
    def test_retry(mocker, n):
        _maybe_retry_request(mocker.Mock(), "GET", "https://example.com")
        assert False, "test_retry must not run"
    """
)

ASYNC_STANDIN = textwrap.dedent(
    """\
    import anyio.lowlevel
    import pytest
    import sniffio

    import fal_client
    from fal_client.client import _async_maybe_retry_request


    @pytest.fixture
    async def client() -> fal_client.AsyncClient:
        client = fal_client.AsyncClient()
        try:
            await client._auth
        except fal_client.auth.MissingCredentialsError:
            pytest.skip("No credentials found")
        return client


    @pytest.fixture
    async def fixture_loop():
        return anyio.lowlevel.current_token()


    async def test_runs_on_its_backend_in_the_fixtures_loop(fixture_loop, anyio_backend):
        assert sniffio.current_async_library() == anyio_backend
        assert anyio.lowlevel.current_token() == fixture_loop


    async def test_retry(mocker):
        await _async_maybe_retry_request(mocker.Mock(), "GET", "https://example.com")
        assert False, "test_retry must not run"
    """
)


def test_rewrite_drops_the_retry_test_and_replaces_the_probe_only() -> None:
    result = tool.rewrite(tool.SYNC_FILE, SYNC_STANDIN)

    retry_at = SYNC_STANDIN.index('@pytest.mark.parametrize("n", [1, 2])')
    expected = (
        SYNC_STANDIN[:retry_at]
        .replace("from fal_client.client import _maybe_retry_request\n", "")
        .replace("        client._auth\n", "        fal_client.auth.fetch_credentials()\n")
    ) + "# test_retry dropped by tools/run_official_tests.py\n"
    assert result.source == expected
    assert len(result.changes) == 3


def test_rewrite_of_the_async_file_replaces_the_awaited_probe() -> None:
    result = tool.rewrite(tool.ASYNC_FILE, ASYNC_STANDIN)

    tree = ast.parse(result.source)
    names = [node.name for node in tree.body if isinstance(node, ast.AsyncFunctionDef)]
    assert names == ["client", "fixture_loop", "test_runs_on_its_backend_in_the_fixtures_loop"]
    assert "await client._auth" not in result.source and "_async_maybe" not in result.source


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("from fal_client.client import _maybe_retry_request\n", "", "exactly one 'from"),
        ("import _maybe_retry_request", "import _maybe_retry_request, X", "other names"),
        ("def test_retry(", "def test_retried(", "exactly one top-level test_retry"),
        (
            '    assert "fal-ai/any-llm" in response.text\n',
            "    assert _maybe_retry_request\n",
            "still uses _maybe_retry_request",
        ),
        ("        client._auth\n", "        client._auth2\n", "exactly one 'try:"),
        (
            "except fal_client.auth.MissingCredentialsError",
            "except Exception",
            "exactly one 'try:",
        ),
        ("    return client\n", "    return client._auth\n", "still uses _auth"),
        ("def client()", "def the_client()", "exactly one def client()"),
    ],
)
def test_rewrite_stops_when_the_file_is_not_as_expected(old: str, new: str, complaint: str) -> None:
    assert SYNC_STANDIN.count(old) == 1
    with pytest.raises(tool.RewriteError, match=complaint):
        tool.rewrite(tool.SYNC_FILE, SYNC_STANDIN.replace(old, new))


# --- what a run guarantees ---------------------------------------------------------------------


@pytest.fixture
def standins(tmp_path: Path) -> Path:
    folder = tmp_path / "tests"
    folder.mkdir()
    (folder / tool.SYNC_FILE).write_text(SYNC_STANDIN)
    (folder / tool.ASYNC_FILE).write_text(ASYNC_STANDIN)
    return folder


@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_a_run_reaches_only_the_emulator_and_runs_async_tests_on_both_backends(
    standins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Settings of the caller that would point a client elsewhere must not reach the run.
    monkeypatch.setenv("FAL_RUN_HOST", "fal.run")
    monkeypatch.setenv("FAL_KEY", "a-real-looking-key")
    monkeypatch.setenv("HTTPS_PROXY", "http://192.0.2.1:3128")
    report_path = tmp_path / "report.json"

    proc = run_script(str(standins.parent), "--json", str(report_path))

    report = report_of(report_path, proc)
    outcomes = {item["test"]: item["outcome"] for item in report["tests"]}
    sync, async_ = tool.SYNC_FILE, tool.ASYNC_FILE
    assert outcomes == {
        f"{sync}::test_only_the_emulator_is_configured": "passed",
        f"{sync}::test_nothing_else_is_reachable[http://192.0.2.1/]": "passed",
        f"{sync}::test_nothing_else_is_reachable[http://example.com/]": "passed",
        f"{sync}::test_the_emulator_is_reachable": "passed",
        f"{async_}::test_runs_on_its_backend_in_the_fixtures_loop[asyncio]": "passed",
        f"{async_}::test_runs_on_its_backend_in_the_fixtures_loop[trio]": "passed",
    }, proc.stdout[-4000:]
    assert proc.returncode == 0
    assert "dropped test_retry" in proc.stdout and "6 passed" in proc.stdout


@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_a_failing_test_fails_the_run_with_pytests_exit_code(
    standins: Path, tmp_path: Path
) -> None:
    source = (standins / tool.ASYNC_FILE).read_text()
    (standins / tool.ASYNC_FILE).write_text(source + "\n\nasync def test_fails():\n    assert 0\n")

    proc = run_script(str(standins), "--backend", "trio", "--json", str(tmp_path / "r.json"))

    report = report_of(tmp_path / "r.json", proc)
    assert proc.returncode == report["exit_code"] == 1
    failed = [item["test"] for item in report["tests"] if item["outcome"] == "failed"]
    assert failed == [f"{tool.ASYNC_FILE}::test_fails[trio]"]
    assert report["backends"] == ["trio"]


def test_a_file_not_as_expected_runs_nothing(standins: Path) -> None:
    path = standins / tool.SYNC_FILE
    path.write_text(path.read_text().replace("def test_retry(", "def test_retried("))

    proc = run_script(str(standins))

    assert proc.returncode == 2
    assert "nothing was run" in proc.stderr and "Official fal-client" not in proc.stdout


def test_both_files_are_required(standins: Path) -> None:
    proc = run_script(str(standins / tool.SYNC_FILE))

    assert proc.returncode == 2 and "test_async_client.py" in proc.stderr
