"""A connection that breaks while a response body is read becomes this client's error.

The HTTP library's own exception types never reach the caller: the transport translates them
around the send and around every body read (``Transport.reading``). A broken answer to a POST
that is not re-sent (``run``, ``submit``) means the job may exist: ``SubmitNotConfirmedError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

import fal_client

QUEUE = "http://127.0.0.1:9/queue"
RUN = "http://127.0.0.1:9/run"


class BreaksMidBody(httpx.AsyncByteStream):
    """Sends the start of a JSON body, then the connection drops."""

    def __init__(self, error: Exception):
        self.error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"request_id": "r'
        raise self.error


def client_whose_bodies_break(error: Exception) -> fal_client.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=BreaksMidBody(error))

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return fal_client.AsyncClient(
        key="k", run_url=RUN, queue_url=QUEUE, http_client=http, max_retries=0
    )


@pytest.mark.anyio
@pytest.mark.parametrize("operation", ["run", "submit"])
async def test_a_lost_answer_to_a_paid_post_is_not_confirmed(operation: str) -> None:
    client = client_whose_bodies_break(httpx.ReadError("connection reset by peer"))
    with pytest.raises(fal_client.SubmitNotConfirmedError) as info:
        await getattr(client, operation)("me/app", {"x": 1})
    assert "connection reset by peer" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ReadError)


@pytest.mark.anyio
async def test_a_broken_body_of_a_read_is_a_connection_error() -> None:
    client = client_whose_bodies_break(httpx.ReadError("connection reset by peer"))
    with pytest.raises(fal_client.FalClientConnectionError) as info:
        await client.status("me/app", "r1")
    assert not isinstance(info.value, fal_client.SubmitNotConfirmedError)
    assert not info.value.timed_out and "interrupted" in str(info.value)


@pytest.mark.anyio
async def test_a_body_that_stops_arriving_is_a_timed_out_connection_error() -> None:
    client = client_whose_bodies_break(httpx.ReadTimeout("no data"))
    with pytest.raises(fal_client.FalClientConnectionError) as info:
        await client.status("me/app", "r1")
    assert info.value.timed_out and "timed out" in str(info.value)
