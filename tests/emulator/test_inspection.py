"""Inspection and control, from Python and over HTTP under /__emulator/."""

from __future__ import annotations

from typing import Any, Dict

import httpx
import pytest

from fal_client.testing import AppContext, Emulator

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


async def test_apps_lists_names_and_kinds(emulator: Emulator, anonymous: httpx.AsyncClient) -> None:
    @emulator.app("me/rt", realtime=True)
    async def rt(message: Dict[str, Any], ctx: AppContext) -> None:
        return None

    listed = (await anonymous.get("/__emulator/apps")).json()

    kinds = {app["name"]: app["kind"] for app in listed}
    assert kinds["fal-ai/echo"] == "plain"
    assert kinds["fal-ai/text-streamer"] == "streaming"
    assert kinds["fal-ai/realtime-echo"] == "realtime"
    assert kinds["me/rt"] == "realtime"
    assert {"fal-ai/fast-sdxl", "fal-ai/slow", "fal-ai/fail"} <= set(kinds)
    assert [app.as_dict() for app in emulator.apps()] == listed


async def test_requests_and_jobs_over_http(
    emulator: Emulator, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    submitted = (await client.post("/queue/fal-ai/echo", json={"a": 1})).json()
    await emulator.wait_job_status_async(submitted["request_id"], status="COMPLETED")

    requests = (await anonymous.get("/__emulator/requests")).json()
    jobs = (await anonymous.get("/__emulator/jobs")).json()

    assert requests[0]["method"] == "POST" and requests[0]["path"] == "/queue/fal-ai/echo"
    assert requests[0]["authorized"] is True and requests[0]["operation"] == "submit"
    assert requests[0]["request_id"] == submitted["request_id"]
    assert all(not r["path"].startswith("/__emulator") for r in requests)
    assert jobs[0]["request_id"] == submitted["request_id"]
    assert jobs[0]["status"] == "COMPLETED" and jobs[0]["cancelled"] is False
    assert jobs[0]["app"] == "fal-ai/echo" and jobs[0]["submitted_at"] > 0


async def test_files_webhooks_and_streams_endpoints(
    emulator: Emulator, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    image = (await client.post("/run/fal-ai/fast-sdxl", json={"prompt": "x"})).json()
    async with client.stream("POST", "/run/fal-ai/echo/stream", json={}) as response:
        await response.aread()
    emulator.wait_stream_finished(response.headers["x-fal-request-id"])

    files = (await anonymous.get("/__emulator/files")).json()
    streams = (await anonymous.get("/__emulator/streams")).json()
    webhooks = (await anonymous.get("/__emulator/webhooks")).json()

    assert files[0]["url"] == image["images"][0]["url"]
    assert len(files[0]["sha256"]) == 64 and files[0]["size"] > 0
    assert streams[0]["events_sent"] == 1 and streams[0]["finished"] is True
    assert webhooks == []


async def test_reset_forgets_everything_but_apps(
    emulator: Emulator, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await client.post("/run/fal-ai/fast-sdxl", json={"prompt": "x"})
    emulator.faults("status_500", operation="status")

    assert (await anonymous.post("/__emulator/reset")).status_code == 200

    assert emulator.jobs() == [] and emulator.requests() == [] and emulator.files() == []
    assert (await anonymous.get("/__emulator/faults")).json() == []
    assert (await client.post("/run/fal-ai/echo", json={"x": 1})).json() == {"x": 1}


async def test_python_reset_cancels_live_jobs(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    gate = emulator.gate()
    finished = []

    @emulator.app("me/stuck")
    async def stuck(arguments: Dict[str, Any], ctx: AppContext) -> None:
        try:
            await gate.wait()
        finally:
            finished.append(True)

    await client.post("/queue/me/stuck", json={})
    await client.post("/queue/me/stuck", json={})
    await emulator.wait_job_status_async(app="me/stuck", status="IN_PROGRESS")

    emulator.reset()

    assert emulator.jobs() == []
    assert finished == [True]  # the running one was cancelled; the queued one never ran


async def test_faults_over_http(
    emulator: Emulator, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    created = await anonymous.post(
        "/__emulator/faults",
        json={"kind": "rate_limit", "operation": "run", "count": 1, "retry_after": 3},
    )
    assert created.status_code == 200
    assert created.json()["params"] == {"retry_after": 3}

    limited = await client.post("/run/fal-ai/echo", json={})
    passed = await client.post("/run/fal-ai/echo", json={})

    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert passed.status_code == 200
    listed = (await anonymous.get("/__emulator/faults")).json()
    assert listed[0]["applied"] == 1 and listed[0]["remaining"] == 0
    assert (await anonymous.delete("/__emulator/faults")).status_code == 200
    assert (await anonymous.get("/__emulator/faults")).json() == []


async def test_bad_fault_requests_are_422(anonymous: httpx.AsyncClient) -> None:
    unknown = await anonymous.post("/__emulator/faults", json={"kind": "meteor"})
    wrong_operation = await anonymous.post(
        "/__emulator/faults", json={"kind": "sse_cut", "operation": "submit"}
    )

    assert unknown.status_code == 422 and "meteor" in unknown.json()["detail"]
    assert wrong_operation.status_code == 422


async def test_one_fault_can_be_deleted_by_id(
    emulator: Emulator, anonymous: httpx.AsyncClient
) -> None:
    keep = emulator.faults("status_500", operation="status")
    drop = emulator.faults("status_500", operation="result")

    response = await anonymous.delete(f"/__emulator/faults/{drop.id}")

    assert response.status_code == 200
    assert [rule["id"] for rule in (await anonymous.get("/__emulator/faults")).json()] == [keep.id]


async def test_unknown_inspection_endpoint(anonymous: httpx.AsyncClient) -> None:
    assert (await anonymous.get("/__emulator/nothing")).status_code == 404
    assert (await anonymous.get("/elsewhere")).status_code == 404


async def test_job_detail_names_the_endpoint_of_an_app_registered_under_a_sub_path(
    emulator: Emulator, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    @emulator.app("me/flux/dev")
    async def dev(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        return {}

    @emulator.app("me/flux")
    async def flux(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        return {}

    ids = []
    for path in ("/run/me/flux/dev", "/run/me/flux/schnell", "/run/me/flux"):
        ids.append((await client.post(path, json={})).headers["x-fal-request-id"])

    endpoints = [(await anonymous.get(f"/__emulator/jobs/{i}")).json()["endpoint"] for i in ids]
    assert endpoints == ["me/flux/dev", "me/flux/schnell", "me/flux"]
