"""Injected faults: every kind, and how they are targeted and counted."""

from __future__ import annotations

from typing import Any, Dict, List

import anyio
import httpx
import pytest

from fal_client.testing import AppContext, Emulator

from .sse import open_sse_json

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


@pytest.mark.parametrize("code", [502, 503, 504])
async def test_ingress_errors_look_like_nginx_without_a_request_id(
    emulator: Emulator, client: httpx.AsyncClient, code: int
) -> None:
    emulator.faults(f"ingress_{code}", count=1)

    failed = await client.post("/queue/fal-ai/echo", json={})
    passed = await client.post("/queue/fal-ai/echo", json={})

    assert failed.status_code == code
    assert failed.headers["content-type"].startswith("text/html")
    assert "nginx" in failed.text and str(code) in failed.text
    assert "x-fal-request-id" not in failed.headers
    assert passed.status_code == 200
    assert [job.request_id for job in emulator.jobs()] == [passed.json()["request_id"]]
    assert emulator.requests()[0].fault == f"ingress_{code}"
    assert emulator.requests()[0].status_code == code


async def test_rate_limit_with_and_without_retry_after(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    with emulator.faults("rate_limit", operation="run", count=1, retry_after=7):
        with_header = await client.post("/run/fal-ai/echo", json={})
    with emulator.faults("rate_limit", operation="run", count=1):
        without_header = await client.post("/run/fal-ai/echo", json={})

    assert with_header.status_code == 429 and with_header.headers["retry-after"] == "7"
    assert without_header.status_code == 429 and "retry-after" not in without_header.headers
    assert "detail" in with_header.json()


async def test_status_500_hits_only_the_chosen_operation(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    emulator.faults("status_500", operation="status")

    job = (await client.post("/queue/fal-ai/echo", json={})).json()
    await emulator.wait_job_status_async(job["request_id"], status="COMPLETED")
    status = await client.get(job["status_url"])
    result = await client.get(job["response_url"])

    assert status.status_code == 500 and "x-fal-request-id" in status.headers
    assert result.status_code == 200


async def test_any_status_with_http_status(emulator: Emulator, client: httpx.AsyncClient) -> None:
    emulator.faults("http_status", operation="submit", count=2, status_code=409, detail="conflict")

    codes = [(await client.post("/queue/fal-ai/echo", json={})).status_code for _ in range(3)]

    assert codes == [409, 409, 200]


async def test_faults_target_one_app(emulator: Emulator, client: httpx.AsyncClient) -> None:
    handle = emulator.faults("ingress_503", app="fal-ai/slow")

    other = await client.post("/run/fal-ai/echo", json={})
    hit = await client.post("/run/fal-ai/slow", json={"seconds": 0})
    sub_path_hit = await client.post("/queue/fal-ai/slow/sub", json={"seconds": 0})
    handle.clear()
    after = await client.post("/run/fal-ai/slow", json={"seconds": 0})

    assert (other.status_code, hit.status_code, sub_path_hit.status_code) == (200, 503, 503)
    assert after.status_code == 200
    assert handle.applied == 2


async def test_probability_is_reproducible_with_a_seed(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    async def pattern() -> List[int]:
        with emulator.faults("status_500", operation="run", probability=0.5, seed=42):
            return [(await client.post("/run/fal-ai/echo", json={})).status_code for _ in range(20)]

    first, second = await pattern(), await pattern()

    assert first == second
    assert 0 < first.count(500) < 20


async def test_latency_adds_time_and_combines_with_other_faults(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    emulator.faults("latency", operation="run", seconds=0.2)
    emulator.faults("rate_limit", operation="run", count=1)

    started = anyio.current_time()
    limited = await client.post("/run/fal-ai/echo", json={})
    delayed = await client.post("/run/fal-ai/echo", json={})
    elapsed = anyio.current_time() - started

    assert (limited.status_code, delayed.status_code) == (429, 200)
    assert elapsed >= 0.4
    assert [record.fault for record in emulator.requests()] == ["rate_limit", "latency"]


async def test_reset_before_is_a_transport_error_and_nothing_happens(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    emulator.faults("reset_before", operation="submit", count=1)

    with pytest.raises(httpx.TransportError):
        await client.post("/queue/fal-ai/echo", json={})
    retried = await client.post("/queue/fal-ai/echo", json={})

    assert retried.status_code == 200
    assert len(emulator.jobs()) == 1
    record = emulator.requests()[0]
    assert record.fault == "reset_before" and record.status_code is None


async def test_reset_after_submit_creates_the_job_the_client_never_hears_of(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    emulator.faults("reset_after_submit", count=1)

    with pytest.raises(httpx.TransportError):
        await client.post("/queue/fal-ai/echo", json={"lost": True})

    job = await emulator.wait_job_status_async(app="fal-ai/echo", status="COMPLETED")
    assert job.via == "queue" and job.status_code == 200
    record = emulator.requests()[0]
    assert record.fault == "reset_after_submit" and record.request_id == job.request_id
    result = await client.get(f"/queue/fal-ai/echo/requests/{job.request_id}")
    assert result.json() == {"lost": True}


async def test_sse_cut_drops_a_run_stream_after_n_events(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    emulator.faults("sse_cut", operation="stream", after_events=2)
    received: List[Any] = []

    with pytest.raises(httpx.TransportError):
        async with client.stream(
            "POST", "/run/fal-ai/text-streamer/stream", json={"text": "a b c d e"}
        ) as response:
            async with open_sse_json(response) as events:
                async for event in events:
                    received.append(event)

    assert [event["token"] for event in received] == ["a", "b"]
    info = emulator.streams()[0]
    assert info.events_sent == 2 and not info.client_disconnected


async def test_sse_cut_drops_a_status_stream(emulator: Emulator, client: httpx.AsyncClient) -> None:
    gate = emulator.gate()

    @emulator.app("me/held")
    async def held(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        await gate.wait()
        return {}

    emulator.faults("sse_cut", operation="status_stream", after_events=1, count=1)
    job = (await client.post("/queue/me/held", json={})).json()
    await emulator.wait_job_status_async(job["request_id"], status="IN_PROGRESS")
    received: List[Any] = []

    with pytest.raises(httpx.TransportError):
        async with client.stream("GET", job["status_url"] + "/stream") as response:
            async with open_sse_json(response) as events:
                async for event in events:
                    received.append(event)
                    gate.open()  # a change, so the server has a second event to (not) send

    assert [event["status"] for event in received] == ["IN_PROGRESS"]


async def test_fault_arguments_are_validated(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        emulator.faults("meteor")
    with pytest.raises(ValueError, match="operation"):
        emulator.faults("ingress_502", operation="teleport")
    with pytest.raises(ValueError, match="only applies"):
        emulator.faults("part_fail", operation="run")
    with pytest.raises(ValueError, match="probability"):
        emulator.faults("status_500", probability=2)


async def test_clear_faults_removes_them_all(emulator: Emulator, client: httpx.AsyncClient) -> None:
    emulator.faults("ingress_502")
    emulator.faults("rate_limit")

    emulator.clear_faults()

    assert (await client.post("/run/fal-ai/echo", json={})).status_code == 200


def test_a_request_parked_in_a_delay_across_a_reset_is_not_handled(emulator: Emulator) -> None:
    # Otherwise a submit delayed in one test would create its job in the next one.
    import threading

    emulator.reset()
    emulator.faults("latency", operation="submit", seconds=30, count=1)
    answers: List[httpx.Response] = []

    def submit() -> None:
        answers.append(
            httpx.post(
                f"{emulator.url}/queue/fal-ai/echo",
                json={"x": 1},
                headers={"Authorization": f"Key {emulator.key}"},
                timeout=60,
            )
        )

    sender = threading.Thread(target=submit)
    sender.start()
    emulator.wait_until(lambda: any(r.fault == "latency" for r in emulator.requests()))
    emulator.reset()
    sender.join(timeout=20)
    assert not sender.is_alive()
    assert answers[0].status_code == 503 and "reset" in answers[0].json()["detail"]
    assert emulator.jobs() == []


HOLD_GATES: Dict[str, Any] = {}


def _register_hold_app(emulator: Emulator) -> None:
    if any(app.name == "cap/hold" for app in emulator.apps()):
        return

    @emulator.app("cap/hold", workers=8)
    async def hold(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        await HOLD_GATES[arguments["gate"]].wait()
        return {"ok": True}


def test_a_plan_limit_refuses_work_past_max_in_flight(emulator: Emulator) -> None:
    # fal refuses new work past a plan's concurrency with a gateway 429 and Retry-After.
    emulator.reset()
    _register_hold_app(emulator)
    gate = HOLD_GATES["cap"] = emulator.gate()
    headers = {"Authorization": f"Key {emulator.key}"}
    emulator.max_in_flight = 2
    try:
        with httpx.Client(base_url=emulator.url, headers=headers, timeout=10) as http:
            accepted = [http.post("/queue/cap/hold", json={"gate": "cap"}) for _ in range(2)]
            assert [r.status_code for r in accepted] == [200, 200]
            refused = http.post("/queue/cap/hold", json={"gate": "cap"})
            assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
            assert "x-fal-request-id" not in refused.headers  # the gateway's, not an app's
            assert len(emulator.jobs()) == 2
            gate.open()
            for response in accepted:
                emulator.wait_job_status(response.json()["request_id"], status="COMPLETED")
            assert http.post("/queue/cap/hold", json={"gate": "cap"}).status_code == 200
    finally:
        gate.open()
        emulator.max_in_flight = None
    with pytest.raises(ValueError, match="max_in_flight"):
        emulator.max_in_flight = 0


async def test_a_plan_limit_holds_when_submits_arrive_together(emulator: Emulator) -> None:
    # Sixteen submits at once against a limit of three: exactly three are accepted. (The check
    # used to come before the body was read, an await that let every submit pass it before the
    # first job was counted: a semaphore loop of 32 ran 32 jobs on a plan of 8.)
    emulator.reset()
    _register_hold_app(emulator)
    gate = HOLD_GATES["together"] = emulator.gate()
    emulator.max_in_flight = 3
    try:
        limits = httpx.Limits(max_connections=16)
        headers = {"Authorization": f"Key {emulator.key}"}
        async with httpx.AsyncClient(
            base_url=emulator.url, headers=headers, timeout=10, limits=limits
        ) as http:
            codes: List[int] = []

            async def submit() -> None:
                response = await http.post("/queue/cap/hold", json={"gate": "together"})
                codes.append(response.status_code)

            async with anyio.create_task_group() as tg:
                for _ in range(16):
                    tg.start_soon(submit)
        assert sorted(codes) == [200] * 3 + [429] * 13
        assert len(emulator.jobs()) == 3
    finally:
        gate.open()
        emulator.max_in_flight = None
