"""Starting and stopping, gates, and waiting on the emulator from tests."""

from __future__ import annotations

import socket
import threading
from typing import Any, Dict

import anyio
import httpx
import pytest

from fal_client.testing import AppContext, Emulator, Gate

pytestmark = [pytest.mark.timeout(20)]


def test_sync_context_manager_serves_then_releases_the_port() -> None:
    emulator = Emulator()
    with emulator:
        url = emulator.url
        assert url.startswith("http://127.0.0.1:")
        assert emulator.env == {
            "FAL_KEY": "fal-emulator-key",
            "FAL_RUN_URL": f"{url}/run",
            "FAL_QUEUE_URL": f"{url}/queue",
            "FAL_REST_URL": f"{url}/rest",
            "FAL_CDN_URL": f"{url}/cdn",
            "FAL_API_URL": f"{url}/api/v1",
        }
        response = httpx.post(
            f"{url}/run/fal-ai/echo",
            json={"a": 1},
            headers={"Authorization": "Key fal-emulator-key"},
        )
        assert response.json() == {"a": 1}
    with pytest.raises(RuntimeError):
        emulator.url  # noqa: B018
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/__emulator/apps")
    emulator.stop()  # idempotent


def test_it_can_be_restarted_and_keeps_its_apps() -> None:
    emulator = Emulator(builtin_apps=False)
    emulator.add_app("me/a", lambda arguments, ctx: {"ok": True})
    with emulator:
        pass
    with emulator:
        response = httpx.post(
            f"{emulator.url}/run/me/a", json={}, headers={"Authorization": f"Key {emulator.key}"}
        )
        assert response.json() == {"ok": True}
    assert [app.name for app in emulator.apps()] == ["me/a"]


def test_starting_twice_is_an_error() -> None:
    with Emulator() as emulator, pytest.raises(RuntimeError):
        emulator.start()


def test_a_taken_port_raises_oserror() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            Emulator(port=taken.getsockname()[1]).start()


@pytest.mark.anyio
async def test_async_context_manager_works_on_both_backends() -> None:
    async with Emulator() as emulator:
        async with httpx.AsyncClient(base_url=emulator.url) as http:
            response = await http.post(
                "/run/fal-ai/echo", json={"b": 2}, headers={"Authorization": f"Key {emulator.key}"}
            )
    assert response.json() == {"b": 2}


def test_stop_cancels_running_jobs_and_their_finally_runs() -> None:
    cleaned_up = threading.Event()
    emulator = Emulator()
    gate = emulator.gate()

    @emulator.app("me/forever")
    async def forever(arguments: Dict[str, Any], ctx: AppContext) -> None:
        try:
            await gate.wait()
        finally:
            cleaned_up.set()

    with emulator:
        httpx.post(
            f"{emulator.url}/queue/me/forever",
            json={},
            headers={"Authorization": f"Key {emulator.key}"},
        )
        job = emulator.wait_job_status(app="me/forever", status="IN_PROGRESS")

    assert cleaned_up.is_set()
    info = emulator.job(job.request_id)
    assert info is not None and info.status == "COMPLETED" and info.status_code == 499


def test_stop_closes_open_streams() -> None:
    emulator = Emulator()
    gate = emulator.gate()

    @emulator.app("me/held")
    async def held(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        await gate.wait()
        return {}

    with emulator:
        headers = {"Authorization": f"Key {emulator.key}"}
        job = httpx.post(f"{emulator.url}/queue/me/held", json={}, headers=headers).json()
        streaming = threading.Event()

        def watch() -> None:
            try:
                with httpx.stream(
                    "GET", job["status_url"] + "/stream", headers=headers
                ) as response:
                    for _ in response.iter_lines():
                        streaming.set()
            except httpx.HTTPError:
                pass

        watcher = threading.Thread(target=watch)
        watcher.start()
        assert streaming.wait(5)
    watcher.join(5)
    assert not watcher.is_alive()
    assert emulator.streams()[0].finished


def test_open_connections_counts_and_waits() -> None:
    with Emulator() as emulator:
        assert emulator.open_connections() == 0
        with httpx.Client(base_url=emulator.url) as http:
            http.get("/__emulator/apps")
            assert emulator.open_connections() == 1
        assert emulator.wait_open_connections(0) == 0


def test_wait_job_status_times_out_with_a_clear_message() -> None:
    with Emulator() as emulator, pytest.raises(TimeoutError, match="me/none"):
        emulator.wait_job_status(app="me/none", status="COMPLETED", timeout=0.05)


def test_wait_job_status_rejects_unknown_statuses() -> None:
    with Emulator() as emulator, pytest.raises(ValueError):
        emulator.wait_job_status(status="DONE")


@pytest.mark.anyio
async def test_wait_job_status_async_times_out(anyio_backend: str) -> None:
    async with Emulator() as emulator:
        with pytest.raises(TimeoutError):
            await emulator.wait_job_status_async("unknown", status="COMPLETED", timeout=0.05)


@pytest.mark.anyio
async def test_gate_opened_from_another_thread_releases_the_app() -> None:
    async with Emulator() as emulator:
        gate = emulator.gate()

        @emulator.app("me/gated")
        async def gated(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
            await gate.wait()
            return {"released": True}

        async with httpx.AsyncClient(
            base_url=emulator.url, headers={"Authorization": f"Key {emulator.key}"}
        ) as http:
            job = (await http.post("/queue/me/gated", json={})).json()
            await emulator.wait_job_status_async(job["request_id"], status="IN_PROGRESS")
            assert not gate.is_open
            opener = threading.Thread(target=gate.open)
            opener.start()
            opener.join()
            await emulator.wait_job_status_async(job["request_id"], status="COMPLETED")
            assert (await http.get(job["response_url"])).json() == {"released": True}


@pytest.mark.anyio
async def test_gate_wait_in_the_test_loop_and_blocking() -> None:
    gate = Gate()
    assert not gate.wait_blocking(timeout=0.01)
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(gate.wait)
        await anyio.to_thread.run_sync(gate.open)
    assert gate.is_open and gate.wait_blocking(timeout=0)
    await gate.wait()  # returns at once once open


def test_sync_apps_can_wait_on_a_gate_blocking() -> None:
    emulator = Emulator()
    gate = emulator.gate()
    emulator.add_app("me/blocking", lambda arguments, ctx: {"opened": gate.wait_blocking(5)})
    with emulator:
        headers = {"Authorization": f"Key {emulator.key}"}
        job = httpx.post(f"{emulator.url}/queue/me/blocking", json={}, headers=headers).json()
        emulator.wait_job_status(job["request_id"], status="IN_PROGRESS")
        gate.open()
        emulator.wait_job_status(job["request_id"], status="COMPLETED")
        assert httpx.get(job["response_url"], headers=headers).json() == {"opened": True}


def test_registering_an_app_while_running() -> None:
    with Emulator() as emulator:
        emulator.add_app("me/late", lambda arguments, ctx: {"late": True})
        response = httpx.post(
            f"{emulator.url}/run/me/late", json={}, headers={"Authorization": f"Key {emulator.key}"}
        )
    assert response.json() == {"late": True}


def test_stop_ends_injected_delays_without_crash_reports(caplog: pytest.LogCaptureFixture) -> None:
    # A request parked in a latency fault when the emulator stops must end quietly (503), not
    # be cancelled by uvicorn, which logs that as "Exception in ASGI application".
    answers: list[int] = []
    emulator = Emulator()
    with emulator:
        emulator.faults("latency", operation="status", seconds=60)

        def ask() -> None:
            with httpx.Client(base_url=emulator.url, timeout=30) as http:
                try:
                    answers.append(http.get("/queue/fal-ai/echo/requests/r1/status").status_code)
                except httpx.TransportError:
                    answers.append(-1)

        asker = threading.Thread(target=ask)
        asker.start()
        emulator.wait_until(lambda: any(r.fault == "latency" for r in emulator.requests()))
        caplog.set_level("ERROR", logger="uvicorn.error")
    asker.join(10)
    assert answers == [503]
    assert "Exception in ASGI application" not in caplog.text
