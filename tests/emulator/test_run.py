"""Sync run (``POST /run/{app}``) and its SSE ``/stream`` variant."""

from __future__ import annotations

import threading
from typing import Any, AsyncIterator, Dict, Iterator, List

import anyio
import httpx
import pytest

from fal_client.testing import AppContext, AppError, Emulator

from .raw_http import raw_request, read_until
from .sse import iter_sse_json, open_sse_json

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


async def test_run_returns_the_app_result_with_a_request_id(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    @emulator.app("me/upscale")
    async def upscale(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        ctx.log("starting")
        return {"ok": True, "scale": arguments["scale"], "request_id": ctx.request_id}

    response = await client.post("/run/me/upscale", json={"scale": 2})

    assert response.status_code == 200
    request_id = response.headers["x-fal-request-id"]
    assert response.json() == {"ok": True, "scale": 2, "request_id": request_id}
    job = emulator.job(request_id)
    assert job is not None and job.via == "run" and job.status == "COMPLETED"
    assert emulator.job_logs(request_id)[0]["message"] == "starting"


@pytest.mark.parametrize(
    ("url", "registered", "expected_path"),
    [
        ("/run/me/flux/dev", "me/flux", "dev"),
        ("/run/me/flux/a/b", "me/flux", "a/b"),
        ("/run/me/flux/dev", "me/flux/dev", None),
        ("/run/workflows/me/flow", "workflows/me/flow", None),
        ("/run/workflows/me/flow/step", "workflows/me/flow", "step"),
        ("/run/123-legacy", "123/legacy", None),
        ("/run/123/legacy", "123-legacy", None),
    ],
)
async def test_every_app_id_form_reaches_its_app(
    emulator: Emulator,
    client: httpx.AsyncClient,
    url: str,
    registered: str,
    expected_path: Any,
) -> None:
    @emulator.app(registered)
    async def app(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        return {"app": ctx.app, "path": ctx.path}

    response = await client.post(url, json={})

    assert response.status_code == 200, response.text
    assert response.json()["path"] == expected_path


@pytest.mark.parametrize("url", ["/run/nobody/nothing", "/run/fast-sdxl", "/run/workflows/x"])
async def test_unknown_or_invalid_app_is_a_json_404(client: httpx.AsyncClient, url: str) -> None:
    response = await client.post(url, json={})

    assert response.status_code == 404
    assert "detail" in response.json()
    assert "x-fal-request-id" in response.headers


async def test_app_error_is_reported_like_fal(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    @emulator.app("me/strict")
    async def strict(arguments: Dict[str, Any], ctx: AppContext) -> None:
        raise AppError(503, detail="Runner went away", error_type="runner_disconnected")

    response = await client.post("/run/me/strict", json={})

    assert response.status_code == 503
    assert response.json() == {"detail": "Runner went away", "error_type": "runner_disconnected"}
    assert response.headers["x-fal-error-type"] == "runner_disconnected"


async def test_validation_error_keeps_the_detail_list(client: httpx.AsyncClient) -> None:
    response = await client.post("/run/fal-ai/fail", json={"prompt": "x"})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail[0]["loc"] == ["body", "prompt"]


async def test_a_crashing_app_is_a_500_internal_error(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    @emulator.app("me/crash")
    async def crash(arguments: Dict[str, Any], ctx: AppContext) -> None:
        raise RuntimeError("boom")

    response = await client.post("/run/me/crash", json={})

    assert response.status_code == 500
    assert response.json()["error_type"] == "internal_error"
    assert "boom" in response.json()["detail"]
    assert response.headers["x-fal-error-type"] == "internal_error"


async def test_sync_apps_run_in_a_worker_thread(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    def blocking(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        ctx.log("from a thread")
        return {"thread": threading.current_thread().name}

    emulator.add_app("me/sync", blocking)

    response = await client.post("/run/me/sync", json={})

    assert response.status_code == 200
    assert not response.json()["thread"].startswith("fal-emulator")
    assert emulator.job_logs(response.headers["x-fal-request-id"])[0]["message"] == "from a thread"


async def test_get_run_takes_arguments_from_the_query(client: httpx.AsyncClient) -> None:
    response = await client.get("/run/fal-ai/echo", params={"prompt": "hi"})

    assert response.json() == {"prompt": "hi"}


async def test_a_client_that_leaves_cancels_the_running_app(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    gate = emulator.gate()
    cleaned_up = threading.Event()

    @emulator.app("me/held")
    async def held(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        try:
            await gate.wait()
            return {}
        finally:
            cleaned_up.set()

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(client.post, "/run/me/held")
        job = await emulator.wait_job_status_async(app="me/held", status="IN_PROGRESS")
        task_group.cancel_scope.cancel()

    done = await emulator.wait_job_status_async(job.request_id, status="COMPLETED")
    assert done.cancelled and done.status_code == 499
    assert cleaned_up.is_set() and not gate.is_open


async def test_stream_sends_each_item_as_an_sse_event(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    @emulator.app("me/tokens")
    async def tokens(arguments: Dict[str, Any], ctx: AppContext) -> AsyncIterator[Dict[str, Any]]:
        for token in ("a", "b", "c"):
            yield {"token": token}

    async with client.stream("POST", "/run/me/tokens/stream", json={}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [event async for event in iter_sse_json(response)]

    assert events == [{"token": "a"}, {"token": "b"}, {"token": "c"}]
    info = emulator.wait_stream_finished(response.headers["x-fal-request-id"])
    assert info.events_sent == 3 and info.finished and not info.client_disconnected


async def test_a_plain_app_streams_its_result_as_one_event(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", "/run/fal-ai/echo/stream", json={"x": 1}) as response:
        events = [event async for event in iter_sse_json(response)]

    assert events == [{"x": 1}]


async def test_a_doubled_stream_suffix_is_tolerated(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", "/run/fal-ai/echo/stream/stream", json={"x": 1}) as response:
        events = [event async for event in iter_sse_json(response)]

    assert events == [{"x": 1}]


async def test_sync_generator_apps_stream_too(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    def count(arguments: Dict[str, Any], ctx: AppContext) -> Iterator[Dict[str, int]]:
        yield from ({"n": n} for n in range(3))

    emulator.add_app("me/count", count)

    async with client.stream("POST", "/run/me/count/stream", json={}) as response:
        events = [event async for event in iter_sse_json(response)]
    run = await client.post("/run/me/count", json={})

    assert events == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert run.json() == {"n": 2}


async def test_stream_error_before_the_first_event_is_a_json_response(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    async with client.stream("POST", "/run/fal-ai/fail/stream", json={}) as response:
        await response.aread()

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["detail"], list)


async def test_stream_error_after_an_event_drops_the_connection(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    @emulator.app("me/breaks")
    async def breaks(arguments: Dict[str, Any], ctx: AppContext) -> AsyncIterator[Dict[str, int]]:
        yield {"n": 1}
        raise RuntimeError("mid-stream")

    received: List[Any] = []
    with pytest.raises(httpx.TransportError):
        async with client.stream("POST", "/run/me/breaks/stream", json={}) as response:
            async with open_sse_json(response) as events:
                async for event in events:
                    received.append(event)

    assert received == [{"n": 1}]


async def test_leaving_a_stream_early_closes_it_and_cancels_the_app(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    cleaned_up = threading.Event()

    @emulator.app("me/endless")
    async def endless(arguments: Dict[str, Any], ctx: AppContext) -> AsyncIterator[Dict[str, int]]:
        try:
            n = 0
            while True:
                n += 1
                yield {"n": n}
                await anyio.sleep(0.001)
        finally:
            cleaned_up.set()

    headers = {"Authorization": f"Key {emulator.key}"}
    async with raw_request(
        emulator.url, "POST", "/run/me/endless/stream", headers=headers, json_body={}
    ) as (status, response_headers, stream, received):
        assert status == 200
        request_id = response_headers["x-fal-request-id"]
        await read_until(stream, received, b'"n":3')
    # Leaving the block closed the connection in the middle of the stream.

    info = await emulator.wait_stream_finished_async(request_id)
    assert info.client_disconnected and info.events_sent >= 3
    job = await emulator.wait_job_status_async(request_id, status="COMPLETED")
    assert job.cancelled and cleaned_up.is_set()


async def test_latency_delays_every_app_call() -> None:
    async with Emulator(latency=0.2) as emulator:
        async with httpx.AsyncClient(
            base_url=emulator.url, headers={"Authorization": f"Key {emulator.key}"}
        ) as http:
            started = anyio.current_time()
            response = await http.post("/run/fal-ai/echo", json={})
            elapsed = anyio.current_time() - started

    assert response.status_code == 200 and elapsed >= 0.2


async def test_apps_see_the_request_headers(emulator: Emulator, client: httpx.AsyncClient) -> None:
    @emulator.app("me/headers")
    async def headers(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        return {"hint": ctx.headers.get("x-fal-runner-hint"), "app": ctx.app}

    response = await client.post("/run/me/headers", json={}, headers={"X-Fal-Runner-Hint": "h1"})

    assert response.json() == {"hint": "h1", "app": "me/headers"}
