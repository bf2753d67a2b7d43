"""Client options and less common paths: HTTP library choice, injected clients, queue headers,
start timeouts, and the polling fallback when a server has no status stream."""

from __future__ import annotations

from typing import Any, Callable

import anyio
import httpx
import pytest

import fal_client
from fal_client.testing import Emulator, Gate
from tests.conftest import Driver


def _libraries() -> list[Any]:
    out: list[Any] = [pytest.param("httpx", id="httpx")]
    try:
        import httpx2  # noqa: F401
    except ImportError:  # Python < 3.11
        out.append(pytest.param("httpx2", id="httpx2", marks=pytest.mark.skip("no httpx2")))
    else:
        out.append(pytest.param("httpx2", id="httpx2"))
    return out


@pytest.mark.parametrize("library", _libraries())
def test_both_http_libraries_drive_every_kind_of_call(
    mode: Driver, emu: Emulator, library: str
) -> None:
    mode.options = {**mode.options, "http_library": library}
    assert mode.call("run", "test/echo", {"l": library})["echo"] == {"l": library}
    assert mode.call("subscribe", "test/logs", {"n": 1}) == {"ok": True}
    assert mode.collect("stream", "test/tokens", {"n": 2}) == [{"token": 0}, {"token": 1}]


def test_an_unknown_http_library_is_refused() -> None:
    with pytest.raises(ValueError, match="http_library"):
        fal_client.AsyncClient(key="k", http_library="requests")


@pytest.mark.anyio
@pytest.mark.parametrize("library", _libraries())
async def test_an_injected_http_client_is_used_and_left_open(
    client_options: dict[str, Any], library: str
) -> None:
    module = httpx if library == "httpx" else pytest.importorskip("httpx2")
    seen: list[str] = []

    async def record(request: Any) -> None:
        seen.append(str(request.url))

    async with module.AsyncClient(event_hooks={"request": [record]}) as http:
        client = fal_client.AsyncClient(**client_options, http_client=http)
        result = await client.subscribe("test/echo", {"x": 1})
        await client.aclose()
        assert result["echo"] == {"x": 1}
        assert not http.is_closed  # the owner closes it, not us
    assert any(url.endswith("/test/echo") for url in seen)


def test_priority_hint_and_webhook_reach_the_queue(mode: Driver, emu: Emulator) -> None:
    handle = mode.call(
        "submit",
        "test/echo",
        {},
        priority="low",
        hint="h1",
        webhook_url="http://127.0.0.1:9/hook",
        start_timeout=60,
    )
    (record,) = [r for r in emu.requests() if r.method == "POST" and r.path.endswith("/test/echo")]
    assert record.headers["x-fal-queue-priority"] == "low"
    assert record.headers["x-fal-runner-hint"] == "h1"
    assert "fal_webhook=http%3A%2F%2F127.0.0.1%3A9%2Fhook" in record.query
    assert handle.request_id


def test_start_timeout_while_queued_is_a_start_timeout_error(
    mode: Driver, emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    blockers = [mode.call("submit", "test/hold", {"gate": name}) for _ in range(8)]
    for b in blockers:
        emu.wait_job_status(b.request_id, status="IN_PROGRESS")
    with pytest.raises(fal_client.StartTimeoutError) as info:
        mode.call("subscribe", "test/hold", {"gate": name}, start_timeout=1.1)
    assert isinstance(info.value, TimeoutError) and info.value.status_code == 504
    gate.open()


def test_without_a_status_stream_the_client_polls(mode: Driver, emu: Emulator) -> None:
    emu.faults("http_status", operation="status_stream", status_code=404, detail="no stream here")
    assert mode.call("subscribe", "test/logs", {"n": 1}, interval=0.01) == {"ok": True}
    paths = [r.path for r in emu.requests()]
    assert any(p.endswith("/status") for p in paths)


def test_cancelling_while_a_submit_is_in_flight_cancels_the_new_job(
    emu: Emulator,
    client_options: dict[str, Any],
    anyio_backend: str,
    new_gate: Callable[[], tuple[str, Gate]],
) -> None:
    name, gate = new_gate()
    # The submit is slowed down; the caller gives up while it is on the wire.
    emu.faults("latency", operation="submit", count=1, seconds=0.5)
    outcome: list[str] = []

    async def main() -> None:
        client = fal_client.AsyncClient(**client_options)
        with anyio.move_on_after(0.1) as scope:
            await client.submit("test/hold", {"gate": name})
            outcome.append("returned")
        outcome.append("cancelled" if scope.cancelled_caught else "not cancelled")
        await client.aclose()

    anyio.run(main, backend=anyio_backend)
    assert outcome == ["cancelled"]  # the caller still sees its cancellation
    (job,) = emu.jobs()
    assert emu.wait_job_status(job.request_id, status="CANCELLED", timeout=5).cancelled
    gate.open()
