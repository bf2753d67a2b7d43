"""Cancellation means cancellation: giving up on a wait cancels the remote job and leaks nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import anyio
import pytest

import fal_client
from fal_client.testing import Emulator, Gate
from tests.conftest import Driver

pytestmark = pytest.mark.timeout(60)


@pytest.mark.anyio
async def test_cancel_scope_around_subscribe_cancels_the_remote_job(
    emu: Emulator, async_client: fal_client.AsyncClient, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            scope = anyio.CancelScope()

            async def subscriber() -> None:
                with scope:
                    await async_client.subscribe("test/hold", {"gate": name})
                    pytest.fail("subscribe returned although the job is held")

            tg.start_soon(subscriber)
            job = await emu.wait_job_status_async(app="test/hold", status="IN_PROGRESS")
            scope.cancel()
        # By the time the task group exits the remote cancel has been sent (shielded).
        info = await emu.wait_job_status_async(job.request_id, status="CANCELLED", timeout=5)
    assert info.cancelled
    gate.open()


@pytest.mark.anyio
async def test_fail_after_around_handle_get_cancels_the_remote_job(
    emu: Emulator, async_client: fal_client.AsyncClient, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    handle = await async_client.submit("test/hold", {"gate": name})
    await emu.wait_job_status_async(handle.request_id, status="IN_PROGRESS")
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.2):
            await handle.get()
    info = await emu.wait_job_status_async(handle.request_id, status="CANCELLED", timeout=5)
    assert info.cancelled
    gate.open()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asyncio_wait_for_around_subscribe_async_cancels(
    emu: Emulator, client_options: dict[str, Any], new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    client = fal_client.AsyncClient(**client_options)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.subscribe("test/hold", {"gate": name}), timeout=0.3)
    (job,) = emu.jobs()
    info = await emu.wait_job_status_async(job.request_id, status="CANCELLED", timeout=5)
    assert info.cancelled
    await client.aclose()
    gate.open()


def test_client_timeout_raises_cancels_and_leaves_nothing_polling(
    mode: Any, emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    with pytest.raises(fal_client.FalClientTimeoutError) as info:
        mode.call("subscribe", "test/hold", {"gate": name}, client_timeout=0.5)
    assert isinstance(info.value, TimeoutError)
    request_id = info.value.request_id
    assert request_id is not None
    assert emu.wait_job_status(request_id, status="CANCELLED", timeout=5).cancelled
    # The call returned only after its cleanup: from now on nothing asks about this job.
    before = len([r for r in emu.requests() if request_id in r.path])
    mode.call("run", "test/echo", {})  # a full round trip through the same client
    after = len([r for r in emu.requests() if request_id in r.path])
    assert after == before
    gate.open()


def test_ctrl_c_between_a_sync_subscribes_submit_and_wait_cancels_the_job(
    sync_client: fal_client.SyncClient,
    emu: Emulator,
    new_gate: Callable[[], tuple[str, Gate]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sync subscribe is two calls (submit, then the handle's get): an interrupt after the
    first and before the second reaches the loop still cancels the job."""
    name, gate = new_gate()
    submitted: list[str] = []

    def interrupted_get(self: fal_client.SyncRequestHandle, **kwargs: Any) -> Any:
        submitted.append(self.request_id)
        raise KeyboardInterrupt

    monkeypatch.setattr(fal_client.SyncRequestHandle, "get", interrupted_get)
    with pytest.raises(KeyboardInterrupt):
        sync_client.subscribe("test/hold", {"gate": name})
    (request_id,) = submitted
    assert emu.wait_job_status(request_id, status="CANCELLED", timeout=5).cancelled
    gate.open()


def test_break_out_of_a_sync_stream_closes_the_connection(
    sync_client: fal_client.SyncClient, emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    for event in sync_client.stream("test/hold-stream", {"gate": name}):
        assert event == {"token": 0}
        break
    deadline = time.monotonic() + 5
    while not any(s.client_disconnected for s in emu.streams()):
        assert time.monotonic() < deadline, f"server never saw the disconnect: {emu.streams()}"
        time.sleep(0.01)
    gate.open()


@pytest.mark.anyio
async def test_break_out_of_an_async_stream_closes_the_connection(
    async_client: fal_client.AsyncClient, emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    events = async_client.stream("test/hold-stream", {"gate": name})
    async for event in events:
        assert event == {"token": 0}
        break
    await events.aclose()  # type: ignore[attr-defined]
    with anyio.fail_after(5):
        # The disconnect is observed by the server thread; poll its record with a deadline.
        while not any(s.client_disconnected for s in emu.streams()):  # noqa: ASYNC110
            await anyio.sleep(0.01)
    gate.open()


def test_sync_call_from_inside_a_running_event_loop(
    sync_client: fal_client.SyncClient, anyio_backend: str
) -> None:
    async def main() -> Any:
        return sync_client.run("test/echo", {"inside": anyio_backend})

    assert anyio.run(main, backend=anyio_backend)["echo"] == {"inside": anyio_backend}


def test_sync_calls_from_50_threads_at_once(sync_client: fal_client.SyncClient) -> None:
    barrier = threading.Barrier(50)

    def work(i: int) -> Any:
        barrier.wait()
        return sync_client.run("test/echo", {"i": i})["echo"]["i"]

    with ThreadPoolExecutor(50) as pool:
        assert sorted(pool.map(work, range(50))) == list(range(50))


def test_module_level_async_functions_survive_repeated_event_loops(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in emu.env.items():
        monkeypatch.setenv(k, v)
    fal_client._defaults.reset_default_clients()
    try:
        for backend in ("asyncio", "trio", "asyncio", "trio"):
            result = anyio.run(
                fal_client.subscribe_async, "test/echo", {"b": backend}, backend=backend
            )
            assert result["echo"] == {"b": backend}
        assert fal_client.run("test/echo", {"s": 1})["echo"] == {"s": 1}
    finally:
        fal_client._defaults.reset_default_clients()


def test_sigint_in_a_sync_subscribe_cancels_the_job_and_exits_promptly(
    emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    script = textwrap.dedent(
        f"""
        import sys, fal_client
        try:
            fal_client.subscribe("test/hold", {{"gate": {name!r}}},
                                 on_enqueue=lambda rid: print("ENQUEUED", rid, flush=True))
        except KeyboardInterrupt:
            print("INTERRUPTED", flush=True)
            sys.exit(130)
        """
    )
    env = {**os.environ, **emu.env}
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ENQUEUED"), (line, proc.stderr.read() if proc.stderr else "")
        request_id = line.split()[1]
        emu.wait_job_status(request_id, status="IN_PROGRESS")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "INTERRUPTED" in out, err
    assert proc.returncode == 130
    assert elapsed < 10
    assert emu.wait_job_status(request_id, status="CANCELLED", timeout=5).cancelled
    gate.open()


# --- giving up on a job this client did not start ------------------------------------------


async def _give_up_on_result(
    client: fal_client.AsyncClient, emu: Emulator, request_id: str, **options: Any
) -> None:
    """Wait for ``request_id``'s result, and give up once the wait is watching the job."""
    async with anyio.create_task_group() as group:

        async def wait() -> None:
            await client.result("test/hold", request_id, **options)

        group.start_soon(wait)
        await emu.wait_until_async(
            lambda: any(
                s.kind == "status_stream" and s.request_id == request_id and not s.finished
                for s in emu.streams()
            )
        )
        group.cancel_scope.cancel()


@pytest.mark.anyio
async def test_giving_up_on_result_leaves_a_job_this_client_did_not_start(
    async_client: fal_client.AsyncClient, emu: Emulator, new_gate: Any
) -> None:
    gate_name, gate = new_gate()
    try:
        async with async_client:
            # Started by "someone else": another client submitted it.
            other = fal_client.AsyncClient(**_options_of(async_client, emu))
            request_id = (await other.submit("test/hold", {"gate": gate_name})).request_id
            await emu.wait_job_status_async(request_id, status="IN_PROGRESS")
            await _give_up_on_result(async_client, emu, request_id)
            assert "cancel" not in [r.operation for r in emu.requests()]
            assert emu.job(request_id).status == "IN_PROGRESS"
            # Asked to: then it is cancelled.
            await _give_up_on_result(async_client, emu, request_id, cancel_on_give_up=True)
            await emu.wait_job_status_async(request_id, status="CANCELLED")
    finally:
        gate.open()


def _options_of(client: fal_client.AsyncClient, emu: Emulator) -> dict[str, Any]:
    e = client.endpoints
    return {"key": emu.env["FAL_KEY"], "queue_url": e.queue_url, "run_url": e.run_url}


def test_client_timeout_bounds_a_submit_still_in_flight(mode: Driver, emu: Emulator) -> None:
    # The submit's answer takes longer than the whole call may: the call ends at its deadline
    # (the submit is not waited for under a shield), saying the job may exist.
    emu.faults("latency", operation="submit", seconds=20, count=1)
    with pytest.raises(fal_client.FalClientTimeoutError) as info:
        mode.call("subscribe", "test/echo", {"x": 1}, client_timeout=0.5)
    assert "may have been created" in str(info.value)
    assert info.value.timeout == 0.5 and info.value.request_id is None
    # Proof that the call did not wait for the submit: the emulator has not answered it yet.
    submits = [r for r in emu.requests() if r.operation == "submit"]
    assert len(submits) == 1 and submits[0].status_code is None
