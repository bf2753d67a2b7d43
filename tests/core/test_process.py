"""The sync bridge at process level: callbacks on the caller's thread, fork, interpreter exit."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable

import pytest

import fal_client
from fal_client.testing import Emulator, Gate


def test_sync_callbacks_run_on_the_callers_thread_and_may_reenter(
    sync_client: fal_client.SyncClient,
) -> None:
    caller = threading.get_ident()
    seen: list[tuple[str, int, Any]] = []

    def on_enqueue(request_id: str) -> None:
        # Re-entering the same client from a callback works: we are not on its loop thread.
        seen.append(("enqueue", threading.get_ident(), sync_client.status("test/logs", request_id)))

    def on_update(status: Any) -> None:
        seen.append(("update", threading.get_ident(), status))

    result = sync_client.subscribe(
        "test/logs", {"n": 1}, on_enqueue=on_enqueue, on_queue_update=on_update
    )
    assert result == {"ok": True}
    assert seen[0][0] == "enqueue" and isinstance(seen[-1][2], fal_client.Completed)
    assert {thread for _, thread, _ in seen} == {caller}


def test_a_raising_callback_cancels_the_job_and_propagates(
    sync_client: fal_client.SyncClient, emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()

    def on_update(status: Any) -> None:
        if isinstance(status, fal_client.InProgress):
            raise RuntimeError("the caller gives up")

    with pytest.raises(RuntimeError, match="gives up"):
        sync_client.subscribe("test/hold", {"gate": name}, on_queue_update=on_update)
    (job,) = emu.jobs()
    assert emu.wait_job_status(job.request_id, status="CANCELLED", timeout=5).cancelled
    gate.open()


def run_script(
    code: str, env: dict[str, str], timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_gets_a_fresh_event_loop_thread(emu: Emulator) -> None:
    proc = run_script(
        """
        import os, warnings, fal_client
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: deliberate
        print("parent", fal_client.run("test/echo", {"who": "parent"})["echo"]["who"], flush=True)
        pid = os.fork()
        if pid == 0:
            print("child", fal_client.run("test/echo", {"who": "child"})["echo"]["who"], flush=True)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status), flush=True)
        """,
        emu.env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["parent parent", "child child", "child exit 0"]


def test_interpreter_exit_with_a_job_in_flight_cancels_it_promptly(
    emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    started = time.monotonic()
    proc = run_script(
        f"""
        import threading, fal_client
        enqueued = threading.Event()
        def work():
            fal_client.subscribe("test/hold", {{"gate": {name!r}}},
                                 on_enqueue=lambda rid: (print(rid, flush=True), enqueued.set()))
        threading.Thread(target=work, daemon=True).start()
        enqueued.wait(20)
        # The main thread ends here with the job still waited on by a daemon thread.
        """,
        emu.env,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    request_id = proc.stdout.split()[0]
    assert emu.wait_job_status(request_id, status="CANCELLED", timeout=5).cancelled
    assert elapsed < 20
    gate.open()


def test_debug_logs_name_requests_and_never_the_key(
    sync_client: fal_client.SyncClient, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="fal_client")
    sync_client.subscribe("test/echo", {})
    text = caplog.text
    assert "POST" in text and "/test/echo -> 200" in text and "request id" in text
    assert emu.env["FAL_KEY"] not in text


def test_headers_of_the_current_fal_app_request_are_forwarded(mode: Any, emu: Emulator) -> None:
    class Request:
        def __init__(self) -> None:
            self.headers = {"x-fal-cdn-token": "cdn-1", "x-app-fal-can-disable-filter": "yes"}

    class App:
        current_request = Request()

    fal_client.set_get_current_app(lambda: App())
    try:
        mode.call("run", "test/echo", {})
    finally:
        fal_client._app_context._get_current_app = None
    (record,) = [r for r in emu.requests() if r.path.endswith("/test/echo")]
    assert record.headers["x-fal-cdn-token"] == "cdn-1"
    assert record.headers["x-app-fal-can-disable-filter"] == "yes"


def test_version_tuple_matches_the_version() -> None:
    assert ".".join(map(str, fal_client.version_tuple)) == fal_client.__version__
