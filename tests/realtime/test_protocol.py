"""fal's realtime protocol without I/O: URLs, tokens, frame meanings."""

from __future__ import annotations

import json
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest

from fal_client import RealtimeError, UnexpectedResponseError
from fal_client._endpoints import Endpoints, parse_app_id
from fal_client._realtime_protocol import (
    FrameKind,
    check_max_buffering,
    close_is_clean,
    decode_frame,
    encode_frame,
    parse_token_response,
    token_request_body,
    websocket_url,
)

PROD = Endpoints()
LOCAL = Endpoints(run_url="http://127.0.0.1:8000/run")


@pytest.mark.parametrize(
    ("endpoints", "app", "path", "token", "buffering", "expected"),
    [
        (PROD, "fal-ai/lcm", "/realtime", "t", None, "wss://fal.run/fal-ai/lcm/realtime?fal_jwt_token=t"),
        (PROD, "123-myapp", "/realtime", "tok", None, "wss://fal.run/123/myapp/realtime?fal_jwt_token=tok"),
        (PROD, "123/myapp", "/custom/path", "m", None, "wss://fal.run/123/myapp/custom/path?fal_jwt_token=m"),
        (PROD, "fal-ai/lcm/realtime", "/realtime", None, 2, "wss://fal.run/fal-ai/lcm/realtime?max_buffering=2"),
        (PROD, "fal-ai/lcm", "", None, None, "wss://fal.run/fal-ai/lcm"),
        (LOCAL, "fal-ai/lcm", "realtime", "a.b.c", 60, "ws://127.0.0.1:8000/run/fal-ai/lcm/realtime?fal_jwt_token=a.b.c&max_buffering=60"),
    ],
)  # fmt: skip
def test_websocket_url(
    endpoints: Endpoints, app: str, path: str, token: Any, buffering: Any, expected: str
) -> None:
    url = websocket_url(endpoints, parse_app_id(app), path, token=token, max_buffering=buffering)
    assert url == expected


@pytest.mark.parametrize("value", [1, 2, 60, None])
def test_max_buffering_accepted(value: Any) -> None:
    assert check_max_buffering(value) == value


@pytest.mark.parametrize("value", [0, 61, -5, 2.0, "2", True, False])
def test_max_buffering_rejected(value: Any) -> None:
    with pytest.raises(ValueError, match="max_buffering must be an int from 1 to 60"):
        check_max_buffering(value)


def test_the_token_is_scoped_to_the_alias() -> None:
    body = json.loads(token_request_body(parse_app_id("fal-ai/fast-lcm/sub"), 120))
    assert body == {"allowed_apps": ["fast-lcm"], "token_expiration": 120}


@pytest.mark.parametrize("data", ["jwt", {"token": "jwt"}, {"detail": "jwt"}])
def test_token_response_shapes(data: Any) -> None:
    assert parse_token_response(data) == "jwt"


@pytest.mark.parametrize("data", [None, "", {}, {"token": 3}, ["jwt"]])
def test_token_response_without_a_token(data: Any) -> None:
    with pytest.raises(UnexpectedResponseError):
        parse_token_response(data)


def test_binary_frames_are_msgpack_results() -> None:
    kind, value = decode_frame(msgpack.packb({"a": b"\x00", "n": 1}), None)
    assert kind is FrameKind.RESULT and value == {"a": b"\x00", "n": 1}


def test_meta_frames_are_skipped() -> None:
    frame = json.dumps({"type": "x-fal-message", "action": "timings", "timing": 0.1})
    assert decode_frame(frame, None) == (FrameKind.SKIP, None)


def test_timeout_frames_end_the_session_quietly() -> None:
    frame = json.dumps({"type": "x-fal-error", "error": "TIMEOUT", "reason": "no inputs"})
    assert decode_frame(frame, None) == (FrameKind.END, None)


def test_error_frames_raise() -> None:
    frame = {"type": "x-fal-error", "error": "INTERNAL_ERROR", "reason": "boom"}
    with pytest.raises(RealtimeError) as raised:
        decode_frame(json.dumps(frame), None, app="a/b")
    assert (raised.value.error, raised.value.reason, raised.value.payload) == (
        "INTERNAL_ERROR",
        "boom",
        frame,
    )
    assert str(raised.value) == "INTERNAL_ERROR: boom [app=a/b]"


def test_the_gateways_unauthorized_frame_raises() -> None:
    with pytest.raises(RealtimeError) as raised:
        decode_frame(json.dumps({"status": "error", "error": "Unauthorized"}), None)
    assert raised.value.error == "Unauthorized"


def test_other_text_frames() -> None:
    assert decode_frame('{"image": "x"}', None) == (FrameKind.RESULT, {"image": "x"})
    assert decode_frame("hello", None) == (FrameKind.RESULT, {"type": "text", "payload": "hello"})
    assert decode_frame("[1]", None) == (FrameKind.RESULT, {"type": "text", "payload": [1]})


def test_encoding() -> None:
    assert msgpack.unpackb(encode_frame({"p": "x"}, None)) == {"p": "x"}
    assert encode_frame({"p": 1}, json.dumps) == '{"p": 1}'
    assert encode_frame(1, lambda m: bytearray(b"ab")) == b"ab"
    with pytest.raises(TypeError, match="msgpack"):
        encode_frame({"x": object()}, None)
    with pytest.raises(TypeError, match="must return bytes or str"):
        encode_frame(1, lambda m: 3)


def test_clean_close_codes() -> None:
    assert close_is_clean(1000) and close_is_clean(1001)
    assert not close_is_clean(1006) and not close_is_clean(1011) and not close_is_clean(None)
