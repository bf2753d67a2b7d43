"""Run the official ``fal-client``'s own end-to-end tests against THIS package and the emulator.

    python tools/run_official_tests.py PATH [PATH...] [options] [-- PYTEST_ARGS...]

``PATH`` is a directory holding ``test_sync_client.py`` and ``test_async_client.py`` (the
official repository's ``projects/fal_client/tests/``, or an unpacked official sdist's root or
``tests/``), or those two files. Nothing is fetched: the official sdist on PyPI ships these
files (``pip download --no-deps --no-binary :all: fal-client==1.0.3`` gets them), and
``tests/compat/test_official_suite.py`` does exactly that.

The files are copied to a temporary directory and run under pytest with ``import fal_client``
resolving to this package, changed in two places only (each found in the parsed source; if
either is not there exactly as expected the script stops with an error instead of running
something else):

- the private retry-helper tests are dropped: the ``test_retry`` function and the
  ``from fal_client.client import _maybe_retry_request`` (sync) or
  ``_async_maybe_retry_request`` (async) import. They test a private function of the official
  implementation, which this package does not have (its retries are a policy object).
- the private credential probe of the ``client`` fixture, ``client._auth`` (sync) or
  ``await client._auth`` (async), becomes the public ``fal_client.auth.fetch_credentials()``.
  It only decides whether to skip for missing credentials; the emulator always provides a key.

Everything else runs as written. The async tests (plain ``async def`` tests and an ``async``
fixture, meant for pytest-asyncio's auto mode) run through AnyIO's pytest plugin, on asyncio
and on trio (``--backend`` picks one): a conftest written next to the copies marks every
coroutine test for AnyIO and holds one event loop from the fixture to the end of the test, as
pytest-asyncio does. No pytest-asyncio or pytest-mock is needed (``mocker`` is used only by the
dropped retry tests).

An emulator (``fal_client.testing.Emulator``) is started on 127.0.0.1 and serves the apps the
tests call (``fal-ai/fast-sdxl``, its ``image-to-image`` endpoint, ``fal-ai/any-llm``) and the
uploads. pytest runs in a subprocess whose environment has every ``FAL_*`` and proxy variable
of yours removed and the emulator's ``env`` (``FAL_KEY``, ``FAL_*_URL``) added; an audit hook
in that process refuses any connection or name lookup other than 127.0.0.1, so the run can
never reach fal.ai or anything else. The script prints a summary and exits with pytest's
exit code.

Options:
    --backend {all,asyncio,trio}   where the async tests run (default: all available)
    --json PATH                    also write the summary as JSON
    --keep                         keep the temporary directory (its path is printed)
    --timeout SECONDS              give up on the whole pytest run after this long (600)
    -- ARGS                        extra pytest arguments, e.g. ``-- -k streaming -x``
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence
from urllib.parse import urlsplit

SYNC_FILE = "test_sync_client.py"
ASYNC_FILE = "test_async_client.py"
SUITE_FILES = (SYNC_FILE, ASYNC_FILE)

#: The private retry helper each file imports (only for ``test_retry``).
RETRY_HELPERS = {SYNC_FILE: "_maybe_retry_request", ASYNC_FILE: "_async_maybe_retry_request"}
RETRY_TEST = "test_retry"
PROBE_FIXTURE = "client"
PUBLIC_PROBE = "fal_client.auth.fetch_credentials()"
LOOPBACK = "127.0.0.1"
BACKENDS = ("asyncio", "trio")
BACKENDS_ENV = "RUN_OFFICIAL_TESTS_BACKENDS"
PER_TEST_TIMEOUT = 120  # seconds, with pytest-timeout; the tests take well under a second each

_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "ws_proxy", "wss_proxy"}
# Variables that would change what pytest runs or loads, not just where it connects.
_PYTEST_VARS = {"PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}


class RewriteError(RuntimeError):
    """An official test file does not look as expected, so it was not run."""


# --- locating and rewriting the files -----------------------------------------------------------


def locate_suite(paths: Sequence[Path]) -> dict[str, Path]:
    """Map each of the two official file names to the file given (or found in a directory)."""
    found: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            folder = path / "tests" if not (path / SYNC_FILE).exists() else path
            for name in SUITE_FILES:
                if (folder / name).is_file():
                    found.setdefault(name, folder / name)
        elif path.is_file():
            if path.name not in SUITE_FILES:
                raise RewriteError(f"{path}: expected a file named {' or '.join(SUITE_FILES)}")
            found[path.name] = path
        else:
            raise RewriteError(f"{path}: no such file or directory")
    missing = [name for name in SUITE_FILES if name not in found]
    if missing:
        raise RewriteError(f"not found in {', '.join(map(str, paths))}: {', '.join(missing)}")
    return found


@dataclass
class Rewrite:
    """A rewritten test file and what was changed."""

    name: str
    source: str
    changes: list[str] = field(default_factory=list)


def _one(nodes: list[ast.AST], what: str, name: str) -> ast.AST:
    if len(nodes) != 1:
        raise RewriteError(f"{name}: expected exactly one {what}, found {len(nodes)}")
    return nodes[0]


def _dotted(node: ast.AST) -> Optional[str]:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _is_probe(statement: ast.stmt, *, awaited: bool) -> bool:
    if not isinstance(statement, ast.Expr):
        return False
    value = statement.value
    if awaited:
        if not isinstance(value, ast.Await):
            return False
        value = value.value
    return _dotted(value) == f"{PROBE_FIXTURE}._auth"


def _names_used(tree: ast.AST) -> set[str]:
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    return names


def _test_names(tree: ast.Module) -> set[str]:
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test")
    }


def rewrite(name: str, source: str) -> Rewrite:
    """Drop the retry-helper test and its import, and replace the private credential probe.

    Raises:
        RewriteError: the file does not contain each expected piece exactly once, or something
            private would remain after the rewrite.
    """
    awaited = name == ASYNC_FILE
    helper = RETRY_HELPERS[name]
    tree = ast.parse(source, filename=name)
    lines = source.splitlines(keepends=True)
    result = Rewrite(name, source)
    # (first line, last line, replacement text), 1-based inclusive, applied bottom-up.
    edits: list[tuple[int, int, str]] = []

    imports = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        and node.module == "fal_client.client"
        and any(alias.name == helper for alias in node.names)
    ]
    node = _one(list(imports), f"'from fal_client.client import {helper}'", name)
    assert isinstance(node, ast.ImportFrom)
    if [alias.name for alias in node.names] != [helper]:
        raise RewriteError(f"{name}: the import of {helper} also imports other names")
    edits.append((node.lineno, node.end_lineno or node.lineno, ""))
    result.changes.append(f"line {node.lineno}: dropped 'from fal_client.client import {helper}'")

    retry = [
        node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == RETRY_TEST
    ]
    test = _one(list(retry), f"top-level {RETRY_TEST}()", name)
    assert isinstance(test, (ast.FunctionDef, ast.AsyncFunctionDef))
    first = min([test.lineno, *(d.lineno for d in test.decorator_list)])
    last = test.end_lineno or test.lineno
    edits.append((first, last, f"# {RETRY_TEST} dropped by tools/run_official_tests.py\n"))
    result.changes.append(
        f"lines {first}-{last}: dropped {RETRY_TEST} (tests the private {helper})"
    )

    fixtures = [
        node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name == PROBE_FIXTURE
        and isinstance(node, ast.AsyncFunctionDef) == awaited
    ]
    fixture = _one(list(fixtures), f"{'async ' if awaited else ''}def {PROBE_FIXTURE}()", name)
    probes = [
        statement
        for node in ast.walk(fixture)
        if isinstance(node, ast.Try)
        and len(node.body) == 1
        and _is_probe(node.body[0], awaited=awaited)
        and any(
            handler.type is not None
            and _dotted(handler.type) == "fal_client.auth.MissingCredentialsError"
            for handler in node.handlers
        )
        for statement in node.body
    ]
    probe = _one(
        list(probes),
        f"'try: {'await ' if awaited else ''}client._auth' "
        "except fal_client.auth.MissingCredentialsError' in the client fixture",
        name,
    )
    assert isinstance(probe, ast.stmt)
    if probe.lineno != probe.end_lineno:
        raise RewriteError(f"{name}: the credential probe spans several lines")
    original = lines[probe.lineno - 1]
    indent = original[: len(original) - len(original.lstrip())]
    edits.append((probe.lineno, probe.lineno, f"{indent}{PUBLIC_PROBE}\n"))
    result.changes.append(
        f"line {probe.lineno}: '{original.strip()}' -> '{PUBLIC_PROBE}' (public credential probe)"
    )

    # Listed top to bottom; applied bottom-up so the line numbers of the others still hold.
    result.changes = [change for _, change in sorted(zip(edits, result.changes))]
    for first, last, text in sorted(edits, reverse=True):
        lines[first - 1 : last] = [text] if text else []
    result.source = "".join(lines)

    # The result must parse, keep every other test, and reach nothing private.
    new_tree = ast.parse(result.source, filename=name)
    lost = _test_names(tree) - _test_names(new_tree) - {RETRY_TEST}
    if lost or RETRY_TEST in _test_names(new_tree):
        raise RewriteError(f"{name}: the rewrite changed the tests other than {RETRY_TEST}")
    leftovers = {helper, "_auth"} & _names_used(new_tree)
    if leftovers:
        raise RewriteError(f"{name}: still uses {', '.join(sorted(leftovers))} after the rewrite")
    return result


# --- the pytest run ------------------------------------------------------------------------------

CONFTEST = textwrap.dedent(
    '''\
    """Written by tools/run_official_tests.py next to the official test files it runs."""

    import inspect
    import os
    import sys

    import pytest

    LOOPBACK = "127.0.0.1"
    BACKENDS = os.environ["{backends_env}"].split(",")


    def _loopback_only(event, args):
        # Nothing in this run may reach anything but the emulator on 127.0.0.1.
        if event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple) and address[0] != LOOPBACK:
                raise PermissionError(
                    f"run_official_tests: refused a connection to {{address!r}}; "
                    f"only {{LOOPBACK}} is allowed"
                )
        elif event == "socket.getaddrinfo":
            host = args[0]
            if isinstance(host, bytes):
                host = host.decode("ascii", "replace")
            if host not in (None, LOOPBACK):
                raise PermissionError(
                    f"run_official_tests: refused to look up {{host!r}}; only {{LOOPBACK}} "
                    "is allowed"
                )


    sys.addaudithook(_loopback_only)


    def pytest_report_header(config):
        import fal_client

        return [
            f"fal_client under test: {{fal_client.__file__}} ({{fal_client.__version__}})",
            f"async tests run on: {{', '.join(BACKENDS)}} (AnyIO pytest plugin)",
        ]


    @pytest.fixture(scope="module", params=BACKENDS)
    def anyio_backend(request):
        return request.param


    @pytest.fixture
    async def _one_event_loop(anyio_backend):
        # AnyIO runs a plain async fixture and the test in separate event loops unless an
        # async generator fixture holds the loop open; pytest-asyncio, which the official
        # suite is written for, uses one loop for a test and its fixtures.
        yield


    @pytest.hookimpl(wrapper=True)
    def pytest_pycollect_makeitem(collector, name, obj):
        if collector.istestfunction(obj, name) and inspect.iscoroutinefunction(obj):
            pytest.mark.anyio(obj)
            pytest.mark.usefixtures("_one_event_loop")(obj)
        return (yield)
    '''
)


def pytest_ini(with_timeout: bool) -> str:
    """The run's own pytest config, so no config file above the temporary directory applies."""
    lines = [
        "[pytest]",
        # pytest-asyncio, if installed, would compete with AnyIO for the async tests; our own
        # emulator fixture plugin is not used by these tests.
        "addopts = -p no:cacheprovider -p no:asyncio -p no:fal_client_emulator -ra",
    ]
    if with_timeout:
        lines.append(f"timeout = {PER_TEST_TIMEOUT}")
    return "\n".join(lines) + "\n"


def child_env(emulator_env: dict[str, str], backends: Sequence[str]) -> dict[str, str]:
    """The pytest process's environment: yours minus FAL_*, proxies and pytest settings, plus
    the emulator's variables."""
    for name, value in emulator_env.items():
        if name.endswith("_URL") and urlsplit(value).hostname != LOOPBACK:
            raise RuntimeError(f"the emulator's {name}={value} is not on {LOOPBACK}")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("FAL_")
        and name.lower() not in _PROXY_VARS
        and name not in _PYTEST_VARS
    }
    env.update(emulator_env)
    env["NO_PROXY"] = env["no_proxy"] = LOOPBACK
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env[BACKENDS_ENV] = ",".join(backends)
    return env


@dataclass
class Outcome:
    """One test's result, from pytest's JUnit XML."""

    test: str
    outcome: str  # passed, failed, error, skipped
    message: str = ""


def read_junit(path: Path) -> list[Outcome]:
    """The outcomes in a JUnit XML report (empty if pytest wrote none)."""
    if not path.exists():
        return []
    outcomes = []
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        test = f"{module}.py::{case.get('name', '')}"
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (child.get("message") or "").strip()
                break
        outcomes.append(Outcome(test, outcome, message))
    return outcomes


def summary(outcomes: Sequence[Outcome], exit_code: int) -> str:
    """A human summary: one line per test, then the counts."""
    lines = ["", "Official fal-client end-to-end tests against this package:"]
    for item in outcomes:
        line = f"  {item.outcome.upper():8} {item.test}"
        if item.message and item.outcome != "passed":
            first = item.message.splitlines()[0]
            line += f"\n           {first[:200]}"
        lines.append(line)
    counts: dict[str, int] = {}
    for item in outcomes:
        counts[item.outcome] = counts.get(item.outcome, 0) + 1
    text = ", ".join(
        f"{n} {what}{'s' if what == 'error' and n != 1 else ''}"
        for what, n in sorted(counts.items())
    )
    lines.append(f"  {text or 'no tests ran'}; pytest exit code {exit_code}")
    return "\n".join(lines)


def available_backends(choice: str) -> list[str]:
    """The AnyIO backends to run the async tests on."""
    if choice != "all":
        if choice == "trio" and importlib.util.find_spec("trio") is None:
            raise RuntimeError("--backend trio needs trio installed (pip install trio)")
        return [choice]
    return [name for name in BACKENDS if name == "asyncio" or importlib.util.find_spec(name)]


def check_requirements() -> None:
    """Fail early, by name, when something the official tests import is missing."""
    missing = [
        name
        for name in ("pytest", "anyio", "httpx", "PIL")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise RuntimeError(
            f"missing {', '.join(missing)}: install this package's dev extra "
            "(pip install -e '.[dev]')"
        )


def run_suite(
    files: dict[str, Path],
    *,
    backends: Sequence[str],
    pytest_args: Sequence[str] = (),
    workdir: Path,
    timeout: float,
) -> tuple[int, list[Outcome]]:
    """Rewrite ``files`` into ``workdir``, start an emulator, run pytest there."""
    from fal_client.testing import Emulator

    for name, path in sorted(files.items()):
        rewritten = rewrite(name, path.read_text(encoding="utf-8"))
        (workdir / name).write_text(rewritten.source, encoding="utf-8")
        print(f"{name} (from {path}):")
        for change in rewritten.changes:
            print(f"  {change}")
    (workdir / "conftest.py").write_text(CONFTEST.format(backends_env=BACKENDS_ENV))
    has_timeout = importlib.util.find_spec("pytest_timeout") is not None
    (workdir / "pytest.ini").write_text(pytest_ini(has_timeout))
    if not has_timeout:
        print("note: pytest-timeout is not installed; tests run without a per-test deadline")
    junit = workdir / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(workdir / "pytest.ini"),
        "--rootdir",
        str(workdir),
        f"--junitxml={junit}",
        *(workdir / name for name in SUITE_FILES),
        *pytest_args,
    ]
    with Emulator(host=LOOPBACK) as emulator:
        env = child_env(emulator.env, backends)
        print(f"emulator: {emulator.url}; async tests on {', '.join(backends)}", flush=True)
        try:
            proc = subprocess.run(
                [str(part) for part in command], cwd=workdir, env=env, timeout=timeout
            )
            exit_code = proc.returncode
        except subprocess.TimeoutExpired:
            print(f"pytest did not finish within {timeout:g}s; it was stopped", file=sys.stderr)
            exit_code = 124
    return exit_code, read_junit(junit)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, pytest_args = args[:cut], args[cut + 1 :]
    parser = argparse.ArgumentParser(
        description="Run the official fal-client's end-to-end tests against this package.",
        epilog="Extra pytest arguments go after '--'.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="the tests directory or the two files")
    parser.add_argument("--backend", choices=("all", *BACKENDS), default="all")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--timeout", type=float, default=600.0, help="for the whole run (s)")
    options = parser.parse_args(args)
    try:
        check_requirements()
        files = locate_suite(options.paths)
        backends = available_backends(options.backend)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="fal-official-suite-"))
    try:
        try:
            exit_code, outcomes = run_suite(
                files,
                backends=backends,
                pytest_args=pytest_args,
                workdir=workdir,
                timeout=options.timeout,
            )
        except RewriteError as exc:
            print(f"error: {exc}; nothing was run", file=sys.stderr)
            return 2
        print(summary(outcomes, exit_code))
        if options.json is not None:
            report = {
                "exit_code": exit_code,
                "backends": backends,
                "tests": [vars(item) for item in outcomes],
            }
            options.json.write_text(json.dumps(report, indent=2) + "\n")
        return exit_code
    finally:
        if options.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
