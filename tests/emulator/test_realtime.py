"""Realtime: the token endpoint and the msgpack WebSocket with fal's control frames."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Union
from urllib.parse import urlsplit

import httpx
import msgpack  # type: ignore[import-untyped]
import pytest

from fal_client.testing import AppContext, Emulator, Gate

from .ws_client import Closed, Rejected, WebSocket, open_websocket

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


async def token_for(client: httpx.AsyncClient, alias: str) -> str:
    response = await client.post(
        "/rest/tokens/", json={"allowed_apps": [alias], "token_expiration": 120}
    )
    assert response.status_code == 200
    token = response.json()
    assert isinstance(token, str) and token.count(".") == 2
    return token


def address(emulator: Emulator) -> tuple[str, int]:
    parts = urlsplit(emulator.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


async def next_result(ws: WebSocket) -> Union[Dict[str, Any], Closed, str]:
    """The next msgpack result, skipping timing meta frames."""
    while True:
        message = await ws.receive()
        if isinstance(message, bytes):
            decoded: Dict[str, Any] = msgpack.unpackb(message, raw=False)
            return decoded
        if isinstance(message, str):
            frame = json.loads(message)
            if frame.get("type") == "x-fal-message":
                assert frame["action"] == "timings" and frame["timing"] >= 0
                continue
            return message
        return message


async def test_realtime_echo_round_trips_msgpack_with_a_counter(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    token = await token_for(client, "realtime-echo")
    host, port = address(emulator)

    async with open_websocket(
        host, port, f"/run/fal-ai/realtime-echo/realtime?fal_jwt_token={token}&max_buffering=2"
    ) as ws:
        replies = []
        for n in range(3):
            await ws.send_bytes(msgpack.packb({"prompt": f"p{n}", "request_id": n}))
            replies.append(await next_result(ws))

    assert replies == [
        {"prompt": "p0", "request_id": 0, "counter": 1},
        {"prompt": "p1", "request_id": 1, "counter": 2},
        {"prompt": "p2", "request_id": 2, "counter": 3},
    ]


@pytest.mark.parametrize(
    "target",
    [
        "/run/fal-ai/realtime-echo/realtime",
        "/run/fal-ai/realtime-echo/realtime/realtime",  # the Python client doubles the suffix
        "/run/fal-ai/realtime-echo",
    ],
)
async def test_key_header_authenticates_too(emulator: Emulator, target: str) -> None:
    host, port = address(emulator)

    async with open_websocket(
        host, port, target, headers={"Authorization": f"Key {emulator.key}"}
    ) as ws:
        await ws.send_bytes(msgpack.packb({"x": 1}))
        assert await next_result(ws) == {"x": 1, "counter": 1}


@pytest.mark.parametrize(
    "target",
    [
        "/run/fal-ai/realtime-echo/realtime",
        "/run/fal-ai/realtime-echo/realtime?fal_jwt_token=forged.token.value",
    ],
)
async def test_missing_or_bad_credentials_are_refused(emulator: Emulator, target: str) -> None:
    host, port = address(emulator)

    with pytest.raises(Rejected) as refused:
        async with open_websocket(host, port, target):
            pass

    assert refused.value.status_code == 401


async def test_a_token_for_another_app_is_refused(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    token = await token_for(client, "some-other-app")
    host, port = address(emulator)

    with pytest.raises(Rejected):
        async with open_websocket(
            host, port, f"/run/fal-ai/realtime-echo/realtime?fal_jwt_token={token}"
        ):
            pass


async def test_unknown_or_non_realtime_apps_are_404(emulator: Emulator) -> None:
    host, port = address(emulator)
    headers = {"Authorization": f"Key {emulator.key}"}

    for target in ("/run/fal-ai/echo/realtime", "/run/me/nothing/realtime"):
        with pytest.raises(Rejected) as refused:
            async with open_websocket(host, port, target, headers=headers):
                pass
        assert refused.value.status_code == 404


async def test_app_errors_send_internal_error_then_close_1000(emulator: Emulator) -> None:
    @emulator.app("me/rt-crash", realtime=True)
    async def crash(message: Dict[str, Any], ctx: AppContext) -> None:
        raise ValueError("bad frame content")

    host, port = address(emulator)
    async with open_websocket(
        host, port, "/run/me/rt-crash/realtime", headers={"Authorization": f"Key {emulator.key}"}
    ) as ws:
        await ws.send_bytes(msgpack.packb({"x": 1}))
        error = json.loads(str(await next_result(ws)))
        closed = await ws.receive()

    assert error == {
        "type": "x-fal-error",
        "error": "INTERNAL_ERROR",
        "reason": "ValueError: bad frame content",
    }
    assert closed == Closed(1000, closed.reason if isinstance(closed, Closed) else None)


async def test_idle_sessions_time_out_with_a_timeout_frame() -> None:
    async with Emulator(realtime_idle_timeout=0.1) as emulator:
        host, port = address(emulator)
        async with open_websocket(
            host,
            port,
            "/run/fal-ai/realtime-echo/realtime",
            headers={"Authorization": f"Key {emulator.key}"},
        ) as ws:
            frame = json.loads(str(await ws.receive()))
            closed = await ws.receive()

    assert frame == {
        "type": "x-fal-error",
        "error": "TIMEOUT",
        "reason": "no inputs, reconnect when needed!",
    }
    assert isinstance(closed, Closed) and closed.code == 1000


async def test_text_frames_are_not_valid_input(emulator: Emulator) -> None:
    host, port = address(emulator)
    async with open_websocket(
        host,
        port,
        "/run/fal-ai/realtime-echo/realtime",
        headers={"Authorization": f"Key {emulator.key}"},
    ) as ws:
        await ws.send_text('{"prompt": "text"}')
        frame = json.loads(str(await ws.receive()))

    assert frame["type"] == "x-fal-error" and frame["error"] == "INTERNAL_ERROR"


async def test_max_buffering_keeps_only_the_newest_inputs(emulator: Emulator) -> None:
    busy, gate = Gate(), Gate()
    seen: List[int] = []

    @emulator.app("me/slow-rt", realtime=True)
    async def slow_rt(message: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        if message["n"] == 0:
            busy.open()
            await gate.wait()  # hold the first input while the others pile up
        seen.append(message["n"])
        return {"n": message["n"]}

    host, port = address(emulator)
    async with open_websocket(
        host,
        port,
        "/run/me/slow-rt/realtime?max_buffering=2",
        headers={"Authorization": f"Key {emulator.key}"},
    ) as ws:
        await ws.send_bytes(msgpack.packb({"n": 0}))
        await busy.wait()
        for n in range(1, 6):
            await ws.send_bytes(msgpack.packb({"n": n}))
        # Nothing acknowledges an input, so wait until the server has read them all.
        await emulator.wait_until_async(
            lambda: bool(emulator.streams()) and emulator.streams()[0].events_received == 6
        )
        replies = []
        gate.open()
        while len(replies) < 3:
            reply = await next_result(ws)
            assert isinstance(reply, dict)
            replies.append(reply["n"])

    assert replies == [0, 4, 5]
    assert seen == [0, 4, 5]
    info = emulator.wait_stream_finished()
    assert info.kind == "realtime" and info.events_dropped == 3 and info.events_sent == 3


async def test_generator_realtime_apps_send_every_item(emulator: Emulator) -> None:
    @emulator.app("me/rt-stream", realtime=True)
    async def rt_stream(message: Dict[str, Any], ctx: AppContext) -> Any:
        for n in range(message["count"]):
            yield {"part": n}

    host, port = address(emulator)
    async with open_websocket(
        host, port, "/run/me/rt-stream/realtime", headers={"Authorization": f"Key {emulator.key}"}
    ) as ws:
        await ws.send_bytes(msgpack.packb({"count": 3}))
        replies = [await next_result(ws) for _ in range(3)]

    assert replies == [{"part": 0}, {"part": 1}, {"part": 2}]


async def test_invalid_max_buffering_is_refused(emulator: Emulator) -> None:
    host, port = address(emulator)

    with pytest.raises(Rejected) as refused:
        async with open_websocket(
            host,
            port,
            "/run/fal-ai/realtime-echo/realtime?max_buffering=99",
            headers={"Authorization": f"Key {emulator.key}"},
        ):
            pass

    assert refused.value.status_code == 422
