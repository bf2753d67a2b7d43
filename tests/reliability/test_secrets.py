"""The key against a hostile or broken server: foreign URLs in replies, redirects, tracebacks.

A server (or a proxy in front of it) may put any URL into a reply. The client builds every
queue URL itself from the app id and request id, so a ``status_url`` pointing elsewhere is never
followed; a redirect is never followed either; and no error, however deep its cause chain,
prints the key.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

import anyio
import httpx
import pytest

import fal_client

KEY = "hostile-test-key-id:hostile-test-key-secret"
QUEUE = "https://queue.fal.run"
EVIL = "https://evil.example"


def rendered(exc: BaseException) -> str:
    """The full traceback, causes included, as Python prints it."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def client_for(
    handler: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]
) -> fal_client.AsyncClient:
    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(recording))
    return fal_client.AsyncClient(
        key=KEY, http_client=http, retry=fal_client.RetryPolicy(max_attempts=1)
    )


def hostile_queue(request: httpx.Request) -> httpx.Response:
    """A queue that answers correctly but points every URL it returns at another host."""
    urls = {
        "status_url": f"{EVIL}/status",
        "response_url": f"{EVIL}/result",
        "cancel_url": f"{EVIL}/cancel",
    }
    path = request.url.path
    if request.url.host != "queue.fal.run":
        return httpx.Response(200, json={"stolen": True})
    if request.method == "POST":
        return httpx.Response(200, json={"request_id": "r1", "status": "IN_QUEUE", **urls})
    if path.endswith("/status/stream"):
        return httpx.Response(404)  # no stream here: the client polls
    if path.endswith("/status"):
        return httpx.Response(200, json={"status": "COMPLETED", "request_id": "r1", **urls})
    return httpx.Response(200, json={"answer": 42})


@pytest.mark.anyio
async def test_foreign_urls_in_replies_are_never_followed() -> None:
    seen: list[httpx.Request] = []
    client = client_for(hostile_queue, seen)
    assert await client.subscribe("me/app", {}) == {"answer": 42}
    handle = await client.submit("me/app", {})
    await handle.cancel()
    assert handle.status_url.startswith(f"{QUEUE}/me/app/requests/r1")
    assert {r.url.host for r in seen} == {"queue.fal.run"}
    assert all(r.headers.get("authorization") == f"Key {KEY}" for r in seen)


@pytest.mark.anyio
async def test_a_redirect_to_another_host_is_not_followed() -> None:
    seen: list[httpx.Request] = []

    def redirecting(request: httpx.Request) -> httpx.Response:
        if request.url.host == "queue.fal.run":
            return httpx.Response(307, headers={"location": f"{EVIL}/steal"})
        return httpx.Response(200, json={"stolen": True})

    client = client_for(redirecting, seen)
    with pytest.raises(fal_client.FalClientError) as caught:
        await client.status("me/app", "r1")
    assert {r.url.host for r in seen} == {"queue.fal.run"}
    assert KEY not in rendered(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(401, json={"detail": "bad key"}),
        httpx.Response(500, text="internal error"),
        httpx.Response(200, text="<html>not json</html>"),
    ],
    ids=["401", "500", "not-json"],
)
async def test_no_traceback_shows_the_key(reply: httpx.Response) -> None:
    seen: list[httpx.Request] = []
    client = client_for(lambda request: reply, seen)
    with pytest.raises(fal_client.FalClientError) as caught:
        await client.run("me/app", {"prompt": "x"})
    assert seen and seen[0].headers["authorization"] == f"Key {KEY}"  # the key was in play
    error = caught.value
    for text in (rendered(error), str(error), repr(error), repr(vars(error))):
        assert KEY not in text
        assert "hostile-test-key-secret" not in text


def test_a_connection_failure_traceback_does_not_show_the_key() -> None:
    def refuse(request: httpx.Request) -> Any:
        raise httpx.ConnectError("connection refused", request=request)

    seen: list[httpx.Request] = []
    client = client_for(refuse, seen)
    with pytest.raises(fal_client.FalClientConnectionError) as caught:
        anyio.run(client.status, "me/app", "r1")
    text = rendered(caught.value)
    assert "ConnectError: connection refused" in text
    assert KEY not in text
