"""The OFFICIAL ``fal-client`` from PyPI in a throwaway venv, pointed at a local server.

Used by ``tests/compat`` and by the benchmarks, so it only needs the standard library::

    from benchmarks._official import ensure_official_venv, run_official

    python = ensure_official_venv()          # cached: benchmarks/.venvs/official-1.0.3/
    proc = run_official("script.py", env=emulator.env, timeout=30)

The venv is created once (``python -m venv`` + ``pip install fal-client==<pin> Pillow``) under a
file lock, so parallel test runs share it; a finished venv is marked by a ``.ready`` file holding
the exact requirement list, so a changed pin builds a fresh one. Scripts run through
``_official_shim.py``, which rewrites the official client's URL constants to the ``FAL_RUN_URL``,
``FAL_QUEUE_URL``, ``FAL_REST_URL`` and ``FAL_CDN_URL`` environment variables (loopback only).

``ensure_official_sdist_tests()`` downloads the official sdist once (it ships the official
end-to-end tests, ``tests/test_sync_client.py`` and ``tests/test_async_client.py``) and keeps those
two files under ``benchmarks/.venvs/official-<version>-sdist-tests/`` for
``tools/run_official_tests.py``.

When pip cannot reach the package index, ``OfficialClientUnavailable`` is raised with pip's own
words; tests turn exactly that into a skip. Any other failure is a plain ``RuntimeError``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Optional, Union

OFFICIAL_VERSION = "1.0.3"
"""The pinned official release (PyPI's latest when this was written)."""

EXTRA_REQUIREMENTS: tuple[str, ...] = ("Pillow",)
"""Installed next to the official client: ``upload_image`` needs PIL."""

BENCH_DIR = Path(__file__).resolve().parent
SHIM = BENCH_DIR / "_official_shim.py"
VENVS_DIR = BENCH_DIR / ".venvs"

_INSTALL_TIMEOUT = 600.0

# Fragments pip prints when it cannot reach an index at all (DNS, refused, proxy, TLS, timeout).
_NETWORK_MARKERS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "nodename nor servname",
    "Connection refused",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
    "SSLError",
    "Max retries exceeded",
    "connection broken by",
    "Could not fetch URL",
)


class OfficialClientUnavailable(RuntimeError):
    """The official client could not be installed because the package index is unreachable."""


def requirements(version: str = OFFICIAL_VERSION) -> list[str]:
    """The exact pip requirement list of the official venv."""
    return [f"fal-client=={version}", *EXTRA_REQUIREMENTS]


def venv_dir(version: str = OFFICIAL_VERSION) -> Path:
    """Where the venv for ``version`` lives (git-ignored)."""
    return VENVS_DIR / f"official-{version}"


def _python_in(venv: Path) -> Path:
    if os.name == "nt":  # pragma: no cover - this project runs on POSIX
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock on ``path`` (POSIX ``flock``)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _is_ready(venv: Path, reqs: Sequence[str]) -> bool:
    marker = venv / ".ready"
    return (
        marker.is_file() and marker.read_text().split() == list(reqs) and _python_in(venv).exists()
    )


def _base_python() -> str:
    # A venv made from a venv's interpreter is based on the same base interpreter.
    return sys.executable


def ensure_official_venv(
    version: str = OFFICIAL_VERSION, *, log: Optional[Union[Path, str]] = None
) -> Path:
    """Create (once) and return the python executable of the official client's venv.

    Raises:
        OfficialClientUnavailable: pip could not reach the package index.
        RuntimeError: anything else went wrong (pip's output is in the message).
    """
    venv = venv_dir(version)
    reqs = requirements(version)
    if _is_ready(venv, reqs):
        return _python_in(venv)
    with _locked(VENVS_DIR / f".official-{version}.lock"):
        if _is_ready(venv, reqs):  # another process built it while we waited
            return _python_in(venv)
        # venv scripts hard-code their absolute path, so build at the final place; the
        # ``.ready`` marker (written last) is what makes it count as finished.
        try:
            _build_venv(venv, reqs, log=log)
            (venv / ".ready").write_text("\n".join(reqs) + "\n")
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)
            raise
    return _python_in(venv)


def _build_venv(venv: Path, reqs: Sequence[str], *, log: Optional[Union[Path, str]]) -> None:
    started = time.monotonic()
    subprocess.run(
        [_base_python(), "-m", "venv", "--clear", str(venv)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    cmd = [
        str(_python_in(venv)),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--retries",
        "2",
        "--timeout",
        "30",
        *reqs,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT, env=env)
    output = proc.stdout + proc.stderr
    if log is not None:
        Path(log).write_text(output)
    if proc.returncode != 0:
        if any(marker in output for marker in _NETWORK_MARKERS):
            raise OfficialClientUnavailable(
                f"cannot install {' '.join(reqs)}: the package index is unreachable "
                f"(pip exited {proc.returncode}):\n{_tail(output)}"
            )
        raise RuntimeError(
            f"pip install {' '.join(reqs)} failed (exit {proc.returncode}) after "
            f"{time.monotonic() - started:.1f}s:\n{_tail(output)}"
        )


#: The official end-to-end test files, as the official sdist ships them under ``tests/``.
SUITE_FILES = ("test_sync_client.py", "test_async_client.py")


def sdist_tests_dir(version: str = OFFICIAL_VERSION) -> Path:
    """Where the official sdist's end-to-end tests for ``version`` are cached (git-ignored)."""
    return VENVS_DIR / f"official-{version}-sdist-tests"


def ensure_official_sdist_tests(version: str = OFFICIAL_VERSION) -> Path:
    """Download (once) the official sdist and return a directory holding its two end-to-end
    test files (``SUITE_FILES``), for ``tools/run_official_tests.py``.

    The sdist comes from ``pip download --no-deps --no-binary :all: fal-client==<version>``;
    only the two files are taken out of it, and a ``.ready`` marker names the version.

    Raises:
        OfficialClientUnavailable: pip could not reach the package index.
        RuntimeError: anything else (the sdist lacks the files, pip failed).
    """
    target = sdist_tests_dir(version)
    marker = target / ".ready"
    wanted = f"fal-client=={version}"

    def ready() -> bool:
        return (
            marker.is_file()
            and marker.read_text().strip() == wanted
            and all((target / name).is_file() for name in SUITE_FILES)
        )

    if ready():
        return target
    with _locked(VENVS_DIR / f".official-{version}-sdist.lock"):
        if ready():
            return target
        shutil.rmtree(target, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix="fal-official-sdist-") as download:
            sdist = _download_sdist(wanted, Path(download))
            _extract_suite(sdist, target)
        marker.write_text(wanted + "\n")
    return target


def _download_sdist(requirement: str, directory: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-input",
        "--retries",
        "2",
        "--timeout",
        "30",
        "--no-deps",
        "--no-binary",
        ":all:",
        "-d",
        str(directory),
        requirement,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT, env=env)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        if any(marker in output for marker in _NETWORK_MARKERS):
            raise OfficialClientUnavailable(
                f"cannot download the {requirement} sdist: the package index is unreachable "
                f"(pip exited {proc.returncode}):\n{_tail(output)}"
            )
        raise RuntimeError(f"pip download {requirement} failed:\n{_tail(output)}")
    sdists = sorted(directory.glob("*.tar.gz"))
    if len(sdists) != 1:
        raise RuntimeError(f"pip download {requirement} left {sdists} instead of one sdist")
    return sdists[0]


def _extract_suite(sdist: Path, target: Path) -> None:
    import tarfile

    # Only the two files are read out (by name, never extracted by the archive's own paths).
    found: dict[str, bytes] = {}
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and parts[1] == "tests":
                if parts[2] in SUITE_FILES:
                    handle = archive.extractfile(member)
                    assert handle is not None
                    found[parts[2]] = handle.read()
    missing = [name for name in SUITE_FILES if name not in found]
    if missing:
        raise RuntimeError(f"{sdist.name} does not ship tests/{', tests/'.join(missing)}")
    target.mkdir(parents=True, exist_ok=True)
    for name, data in found.items():
        (target / name).write_bytes(data)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def official_env(base_env: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The subprocess environment: the emulator's ``FAL_*`` settings, loopback-only proxies."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "FAL_")) and "proxy" not in k.lower()
    }
    env.update(base_env)
    env.update(extra)
    # httpx honours proxy variables; make sure none could route loopback traffic elsewhere.
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def official_command(
    script: Union[Path, str], args: Sequence[str] = (), *, version: str = OFFICIAL_VERSION
) -> list[str]:
    """The argv that runs ``script`` in the official venv through the shim."""
    python = ensure_official_venv(version)
    return [str(python), "-I", str(SHIM), str(script), *args]


def run_official(
    script: Union[Path, str],
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str],
    timeout: float,
    version: str = OFFICIAL_VERSION,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with the official client pointed at ``env``'s base URLs.

    ``env`` holds at least ``FAL_KEY``, ``FAL_RUN_URL``, ``FAL_QUEUE_URL``, ``FAL_REST_URL`` and
    ``FAL_CDN_URL`` (an emulator's ``env``). Output is captured as text. With ``check`` a non-zero
    exit raises ``RuntimeError`` carrying the script's stderr.
    """
    cmd = official_command(script, args, version=version)
    proc = subprocess.run(
        cmd,
        env=official_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tempfile.gettempdir(),
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"official-client script {Path(script).name} exited {proc.returncode}\n"
            f"--- stdout ---\n{_tail(proc.stdout, 40)}\n--- stderr ---\n{_tail(proc.stderr, 60)}"
        )
    return proc
