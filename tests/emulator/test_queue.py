"""The queue service: submit, status, status stream, result, cancel, priorities, timeouts."""

from __future__ import annotations

import threading
from typing import Any, Dict, List

import anyio
import httpx
import pytest

from fal_client.testing import AppContext, Emulator, Gate

from .sse import iter_sse_json

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


def held_app(emulator: Emulator, name: str, gates: Dict[int, Gate], ran: List[int]) -> None:
    """Register an app that waits on ``gates[arguments["n"]]`` and records what ran."""

    @emulator.app(name)
    async def held(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        n = arguments["n"]
        ran.append(n)
        ctx.log(f"job {n} started")
        await gates[n].wait()
        ctx.log(f"job {n} done")
        return {"n": n}


async def submit(
    client: httpx.AsyncClient, app: str, body: Any = None, **kwargs: Any
) -> Dict[str, Any]:
    response = await client.post(f"/queue/{app}", json=body or {}, **kwargs)
    assert response.status_code == 200, response.text
    result: Dict[str, Any] = response.json()
    assert response.headers["x-fal-request-id"] == result["request_id"]
    return result


async def test_submit_answers_the_full_in_queue_object(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    response = await client.post("/queue/fal-ai/echo", json={"a": 1})

    body = response.json()
    request_id = body["request_id"]
    base = f"{emulator.url}/queue/fal-ai/echo/requests/{request_id}"
    assert response.status_code == 200
    assert response.headers["x-fal-request-id"] == request_id
    assert body == {
        "status": "IN_QUEUE",
        "request_id": request_id,
        "response_url": base,
        "status_url": f"{base}/status",
        "cancel_url": f"{base}/cancel",
        "queue_position": 0,
        "gateway_request_id": request_id,
    }


async def test_jobs_move_through_the_state_machine(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    gates = {1: Gate(), 2: Gate()}
    ran: List[int] = []
    held_app(emulator, "me/held", gates, ran)
    first = await submit(client, "me/held", {"n": 1})
    second = await submit(client, "me/held", {"n": 2})
    await emulator.wait_job_status_async(first["request_id"], status="IN_PROGRESS")

    queued = await client.get(second["status_url"])
    running = await client.get(first["status_url"], params={"logs": 1})
    assert (queued.status_code, queued.json()["status"]) == (202, "IN_QUEUE")
    assert queued.json()["queue_position"] == 0 and queued.json()["logs"] is None
    assert (running.status_code, running.json()["status"]) == (202, "IN_PROGRESS")
    assert [line["message"] for line in running.json()["logs"]] == ["job 1 started"]
    assert "queue_position" not in running.json()

    gates[1].open()
    await emulator.wait_job_status_async(first["request_id"], status="COMPLETED")
    done = await client.get(first["status_url"])
    assert done.status_code == 200
    assert done.json()["status"] == "COMPLETED" and done.json()["logs"] is None
    assert done.json()["metrics"]["inference_time"] >= 0
    assert "error" not in done.json()
    await emulator.wait_job_status_async(second["request_id"], status="IN_PROGRESS")
    gates[2].open()
    await emulator.wait_job_status_async(second["request_id"], status="COMPLETED")
    assert ran == [1, 2]


@pytest.mark.parametrize(
    ("flag", "has_logs"),
    [("1", True), ("true", True), ("0", False), ("false", False), (None, False)],
)
async def test_logs_flag_accepts_every_client_spelling(
    client: httpx.AsyncClient, emulator: Emulator, flag: Any, has_logs: bool
) -> None:
    job = await submit(client, "fal-ai/slow", {"seconds": 0})
    await emulator.wait_job_status_async(job["request_id"], status="COMPLETED")

    params = {} if flag is None else {"logs": flag}
    body = (await client.get(job["status_url"], params=params)).json()

    assert "logs" in body
    if has_logs:
        assert [line["level"] for line in body["logs"]] == ["INFO"] * 10
        assert body["logs"][0]["source"] == "USER" and "T" in body["logs"][0]["timestamp"]
    else:
        assert body["logs"] is None


async def test_queue_positions_are_true_and_fall(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    gates = {n: Gate() for n in range(4)}
    ran: List[int] = []
    held_app(emulator, "me/line", gates, ran)
    jobs = [await submit(client, "me/line", {"n": n}) for n in range(4)]
    # The first starts at once; the others line up behind it.
    assert [job["queue_position"] for job in jobs] == [0, 0, 1, 2]
    await emulator.wait_job_status_async(jobs[0]["request_id"], status="IN_PROGRESS")

    async def positions() -> List[Any]:
        result = []
        for job in jobs[1:]:
            body = (await client.get(job["status_url"])).json()
            result.append(body.get("queue_position"))
        return result

    assert await positions() == [0, 1, 2]
    gates[0].open()
    await emulator.wait_job_status_async(jobs[1]["request_id"], status="IN_PROGRESS")
    assert await positions() == [None, 0, 1]
    for n in (1, 2, 3):
        gates[n].open()
    await emulator.wait_job_status_async(jobs[3]["request_id"], status="COMPLETED")
    assert ran == [0, 1, 2, 3]


async def test_low_priority_jobs_queue_behind_normal_ones(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    gates = {n: Gate() for n in range(3)}
    ran: List[int] = []
    held_app(emulator, "me/prio", gates, ran)
    await submit(client, "me/prio", {"n": 0})
    await emulator.wait_job_status_async(app="me/prio", status="IN_PROGRESS")
    low = await submit(client, "me/prio", {"n": 1}, headers={"X-Fal-Queue-Priority": "low"})
    normal = await submit(client, "me/prio", {"n": 2}, headers={"X-Fal-Queue-Priority": "normal"})

    assert low["queue_position"] == 0
    assert normal["queue_position"] == 0
    assert (await client.get(low["status_url"])).json()["queue_position"] == 1
    for gate in gates.values():
        gate.open()
    await emulator.wait_job_status_async(low["request_id"], status="COMPLETED")
    assert ran == [0, 2, 1]
    assert emulator.job(low["request_id"]).priority == "low"  # type: ignore[union-attr]


async def test_invalid_priority_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/queue/fal-ai/echo", json={}, headers={"X-Fal-Queue-Priority": "urgent"}
    )

    assert response.status_code == 422


async def test_runner_hint_and_webhook_are_recorded(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    job = await submit(
        client,
        "fal-ai/echo",
        headers={"X-Fal-Runner-Hint": "gpu-7"},
        params={"fal_webhook": "https://example.com/hook"},
    )

    info = emulator.job(job["request_id"])
    assert info is not None and info.hint == "gpu-7"
    assert info.webhook_url == "https://example.com/hook"


async def test_result_is_400_until_completed_then_replays_the_response(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    gates = {1: Gate()}
    held_app(emulator, "me/later", gates, [])
    job = await submit(client, "me/later", {"n": 1})

    early = await client.get(job["response_url"])
    assert early.status_code == 400 and "detail" in early.json()
    gates[1].open()
    await emulator.wait_job_status_async(job["request_id"], status="COMPLETED")
    late = await client.get(job["response_url"])
    assert late.status_code == 200 and late.json() == {"n": 1}
    assert late.headers["x-fal-request-id"] == job["request_id"]
    again = await client.get(job["response_url"])
    assert again.json() == {"n": 1}


async def test_failed_jobs_complete_with_error_and_replay_it(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    job = await submit(client, "fal-ai/fail", {"prompt": "x"})
    await emulator.wait_job_status_async(job["request_id"], status="COMPLETED")

    status = await client.get(job["status_url"])
    result = await client.get(job["response_url"])

    assert status.status_code == 200
    assert status.json()["status"] == "COMPLETED"
    assert status.json()["error"] == "Invalid status code: 422"
    assert "error_type" in status.json()
    assert result.status_code == 422
    assert result.json()["detail"][0]["loc"] == ["body", "prompt"]


async def test_error_type_is_in_status_result_and_header(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    from fal_client.testing import AppError

    @emulator.app("me/flaky")
    async def flaky(arguments: Dict[str, Any], ctx: AppContext) -> None:
        raise AppError(503, "Runner disconnected", error_type="runner_disconnected")

    job = await submit(client, "me/flaky")
    await emulator.wait_job_status_async(job["request_id"], status="COMPLETED")

    status = (await client.get(job["status_url"])).json()
    result = await client.get(job["response_url"])
    assert (status["error"], status["error_type"]) == ("Runner disconnected", "runner_disconnected")
    assert result.status_code == 503
    assert result.headers["x-fal-error-type"] == "runner_disconnected"
    assert result.json() == {"detail": "Runner disconnected", "error_type": "runner_disconnected"}


async def test_cancelling_a_queued_job_means_it_never_runs(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    gates = {1: Gate(), 2: Gate()}
    ran: List[int] = []
    held_app(emulator, "me/cq", gates, ran)
    first = await submit(client, "me/cq", {"n": 1})
    second = await submit(client, "me/cq", {"n": 2})

    response = await client.put(second["cancel_url"])

    assert response.status_code == 202
    assert response.json() == {"status": "CANCELLATION_REQUESTED"}
    gates[1].open()
    gates[2].open()
    await emulator.wait_job_status_async(first["request_id"], status="COMPLETED")
    status = (await client.get(second["status_url"])).json()
    assert status["status"] == "COMPLETED" and status["error_type"] == "request_cancelled"
    assert (await client.get(second["response_url"])).status_code == 499
    assert ran == [1]
    info = emulator.job(second["request_id"])
    assert info is not None and info.cancelled and info.started_at is None


async def test_cancelling_a_running_job_cancels_its_task(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    gate = emulator.gate()
    cleaned_up = threading.Event()

    @emulator.app("me/long")
    async def long(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        try:
            await gate.wait()
            return {"finished": True}
        finally:
            cleaned_up.set()

    job = await submit(client, "me/long")
    await emulator.wait_job_status_async(job["request_id"], status="IN_PROGRESS")

    response = await client.put(job["cancel_url"])

    assert response.status_code == 202
    await emulator.wait_job_status_async(job["request_id"], status="CANCELLED")
    done = await emulator.wait_job_status_async(job["request_id"], status="COMPLETED")
    assert cleaned_up.is_set() and not gate.is_open
    assert done.cancelled and done.status_code == 499
    result = await client.get(job["response_url"])
    assert result.status_code == 499 and "detail" in result.json()


async def test_cancel_after_completion_and_of_unknown_requests(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    job = await submit(client, "fal-ai/echo")
    await emulator.wait_job_status_async(job["request_id"], status="COMPLETED")

    done = await client.put(job["cancel_url"])
    unknown = await client.put("/queue/fal-ai/echo/requests/nope/cancel")

    assert (done.status_code, done.json()) == (400, {"status": "ALREADY_COMPLETED"})
    assert (unknown.status_code, unknown.json()) == (404, {"status": "NOT_FOUND"})


async def test_start_timeout_expires_queued_jobs_with_a_user_504(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    gates = {1: Gate(), 2: Gate()}
    ran: List[int] = []
    held_app(emulator, "me/busy", gates, ran)
    first = await submit(client, "me/busy", {"n": 1}, headers={"X-Fal-Request-Timeout": "5"})
    await emulator.wait_job_status_async(first["request_id"], status="IN_PROGRESS")
    late = await submit(client, "me/busy", {"n": 2}, headers={"X-Fal-Request-Timeout": "0.05"})

    await emulator.wait_job_status_async(late["request_id"], status="COMPLETED")
    result = await client.get(late["response_url"])
    assert result.status_code == 504
    assert result.headers["x-fal-request-timeout-type"] == "user"
    assert result.headers["x-fal-error-type"] == "request_timeout"
    assert result.json() == {"detail": "Request timed out", "error_type": "request_timeout"}
    status = (await client.get(late["status_url"])).json()
    assert status["error_type"] == "request_timeout"
    # The job that started in time is unaffected by its own deadline.
    gates[1].open()
    done = await emulator.wait_job_status_async(first["request_id"], status="COMPLETED")
    assert done.status_code == 200 and ran == [1]


async def test_start_timeout_applies_to_sync_runs(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    gates = {1: Gate()}
    held_app(emulator, "me/full", gates, [])
    await submit(client, "me/full", {"n": 1})
    await emulator.wait_job_status_async(app="me/full", status="IN_PROGRESS")

    response = await client.post(
        "/run/me/full", json={"n": 2}, headers={"X-Fal-Request-Timeout": "0.05"}
    )

    assert response.status_code == 504
    assert response.headers["x-fal-request-timeout-type"] == "user"
    gates[1].open()


async def test_sub_paths_are_for_submit_only(emulator: Emulator, client: httpx.AsyncClient) -> None:
    @emulator.app("me/flux")
    async def flux(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        return {"path": ctx.path}

    job = await submit(client, "me/flux/dev")
    assert job["status_url"].endswith(f"/queue/me/flux/requests/{job['request_id']}/status")
    await emulator.wait_job_status_async(job["request_id"], status="COMPLETED")

    with_subpath = await client.get(f"/queue/me/flux/dev/requests/{job['request_id']}/status")
    result = await client.get(job["response_url"])

    assert with_subpath.status_code == 405
    assert result.json() == {"path": "dev"}


async def test_namespaced_and_legacy_ids_in_queue_urls(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    @emulator.app("workflows/me/flow")
    async def flow(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        return {"ok": True}

    @emulator.app("123/legacy")
    async def legacy(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        return {"ok": True}

    flow_job = await submit(client, "workflows/me/flow")
    legacy_job = await submit(client, "123-legacy")
    assert f"/queue/workflows/me/flow/requests/{flow_job['request_id']}" in flow_job["response_url"]
    await emulator.wait_job_status_async(legacy_job["request_id"], status="COMPLETED")
    await emulator.wait_job_status_async(flow_job["request_id"], status="COMPLETED")

    by_legacy_form = await client.get(f"/queue/123-legacy/requests/{legacy_job['request_id']}")
    by_flow_url = await client.get(flow_job["response_url"])
    assert by_legacy_form.json() == {"ok": True} and by_flow_url.json() == {"ok": True}


async def test_request_ids_are_scoped_to_their_app(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    job = await submit(client, "fal-ai/echo")

    wrong_app = await client.get(f"/queue/fal-ai/slow/requests/{job['request_id']}/status")
    run_id = (await client.post("/run/fal-ai/echo", json={})).headers["x-fal-request-id"]
    run_status = await client.get(f"/queue/fal-ai/echo/requests/{run_id}/status")

    assert wrong_app.status_code == 404
    assert run_status.status_code == 404


async def test_status_stream_sends_each_change_and_ends_with_completed(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    gates = {1: Gate(), 2: Gate()}
    held_app(emulator, "me/watched", gates, [])
    first = await submit(client, "me/watched", {"n": 1})
    second = await submit(client, "me/watched", {"n": 2})
    await emulator.wait_job_status_async(first["request_id"], status="IN_PROGRESS")
    events: List[Dict[str, Any]] = []

    async def watch() -> None:
        url = second["status_url"] + "/stream"
        async with client.stream("GET", url, params={"logs": "1"}) as response:
            assert response.status_code == 200
            async for event in iter_sse_json(response):
                events.append(event)
                if event["status"] == "IN_QUEUE":
                    gates[1].open()
                if event["status"] == "IN_PROGRESS" and event["logs"]:
                    gates[2].open()

    await watch()

    statuses = [event["status"] for event in events]
    assert statuses[0] == "IN_QUEUE" and events[0]["queue_position"] == 0
    assert statuses[-1] == "COMPLETED" and "IN_PROGRESS" in statuses
    assert statuses.count("COMPLETED") == 1
    messages = [line["message"] for event in events for line in event["logs"]]
    assert messages == ["job 2 started", "job 2 done"]  # deltas: each line sent once
    info = emulator.wait_stream_finished(second["request_id"])
    assert info.kind == "status_stream" and not info.client_disconnected


async def test_status_stream_of_a_completed_job_is_one_event(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    job = await submit(client, "fal-ai/echo")
    await emulator.wait_job_status_async(job["request_id"], status="COMPLETED")

    async with client.stream("GET", job["status_url"] + "/stream") as response:
        events = [event async for event in iter_sse_json(response)]

    assert [event["status"] for event in events] == ["COMPLETED"]
    assert events[0]["logs"] is None


async def test_status_stream_positions_fall(emulator: Emulator, client: httpx.AsyncClient) -> None:
    gates = {n: Gate() for n in range(3)}
    held_app(emulator, "me/fall", gates, [])
    jobs = [await submit(client, "me/fall", {"n": n}) for n in range(3)]
    await emulator.wait_job_status_async(jobs[0]["request_id"], status="IN_PROGRESS")
    positions: List[Any] = []

    async with client.stream("GET", jobs[2]["status_url"] + "/stream") as response:
        async for event in iter_sse_json(response):
            positions.append(event.get("queue_position"))
            if event["status"] == "IN_QUEUE":
                # Let the running job finish: with n jobs ahead in the queue, it is job 1 - n.
                gates[1 - event["queue_position"]].open()
            else:
                gates[2].open()

    assert positions[:2] == [1, 0]
    assert positions[-1] is None


async def test_many_concurrent_jobs_all_complete(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    results: Dict[int, Any] = {}

    async def one(n: int) -> None:
        job = await submit(client, "fal-ai/echo", {"n": n})
        await emulator.wait_job_status_async(job["request_id"], status="COMPLETED")
        results[n] = (await client.get(job["response_url"])).json()

    async with anyio.create_task_group() as task_group:
        for n in range(50):
            task_group.start_soon(one, n)

    assert results == {n: {"n": n} for n in range(50)}
