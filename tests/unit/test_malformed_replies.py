"""Malformed server replies become clear errors (httpx.MockTransport: no server needed)."""

from __future__ import annotations

import json
from typing import Any, Callable

import httpx
import pytest

import fal_client

QUEUE = "https://queue.fal.run"


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> fal_client.AsyncClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return fal_client.AsyncClient(
        key="k", http_client=http, retry=fal_client.RetryPolicy(max_attempts=1)
    )


def status_body(status: str, **extra: Any) -> dict[str, Any]:
    return {"status": status, "request_id": "r1", "logs": None, **extra}


@pytest.mark.anyio
async def test_non_json_success_body_is_an_unexpected_response() -> None:
    client = client_for(lambda request: httpx.Response(200, text="<html>hello</html>"))
    with pytest.raises(fal_client.UnexpectedResponseError, match="expected a JSON body") as info:
        await client.run("me/app", {})
    assert info.value.app == "me/app"


@pytest.mark.anyio
async def test_submit_without_request_id_is_an_unexpected_response() -> None:
    client = client_for(lambda request: httpx.Response(200, json={"status": "IN_QUEUE"}))
    with pytest.raises(fal_client.UnexpectedResponseError, match="request_id"):
        await client.submit("me/app", {})


@pytest.mark.anyio
async def test_unknown_status_is_an_unexpected_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json=status_body("SLEEPING"))

    client = client_for(handler)
    with pytest.raises(fal_client.UnexpectedResponseError, match="SLEEPING") as info:
        await client.status("me/app", "r1")
    assert info.value.request_id == "r1"


@pytest.mark.anyio
async def test_completed_with_error_but_a_2xx_result_raises_job_failed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/status/stream"):
            return httpx.Response(404, json={"detail": "no stream"})
        if path.endswith("/status"):
            body = status_body("COMPLETED", error="runner died", error_type="runner_disconnected")
            return httpx.Response(200, json=body)
        return httpx.Response(200, json={"partial": True}, headers={"x-fal-request-id": "r1"})

    client = client_for(handler)
    with pytest.raises(fal_client.JobFailedError) as info:
        await client.result("me/app", "r1")
    assert info.value.error_type == "runner_disconnected"
    assert info.value.message == "runner died" and info.value.body == {"partial": True}
    assert isinstance(info.value, fal_client.FalClientHTTPError)


@pytest.mark.anyio
async def test_a_malformed_status_stream_event_is_skipped_not_fatal() -> None:
    events = [
        "data: not json\n\n",
        f"data: {json.dumps(status_body('IN_PROGRESS'))}\n\n",
        f"data: {json.dumps(status_body('COMPLETED', metrics={}))}\n\n",
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/status/stream"):
            return httpx.Response(
                200, content="".join(events).encode(), headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json={"ok": 1})

    client = client_for(handler)
    statuses = [s async for s in (await client.get_handle("me/app", "r1")).iter_events()]
    assert [type(s).__name__ for s in statuses] == ["InProgress", "Completed"]
    assert await client.result("me/app", "r1") == {"ok": 1}


@pytest.mark.anyio
async def test_the_key_is_not_sent_to_a_foreign_origin_even_on_an_injected_client() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[str(request.url.host)] = request.headers.get("authorization")
        return httpx.Response(200, content=b"x")

    client = client_for(handler)
    await client._transport.request("GET", "https://evil.example/steal", repeatable=True)
    await client._transport.request("GET", f"{QUEUE}/me/app/requests/r1", repeatable=True)
    assert seen == {"evil.example": None, "queue.fal.run": "Key k"}
