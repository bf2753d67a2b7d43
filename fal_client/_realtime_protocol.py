"""fal's realtime protocol without I/O: URLs, the token exchange, and what each frame means.

The websocket itself is driven by ``_websocket.py``; the sessions in ``_realtime.py`` only move
frames between it and the functions here, so everything fal-specific is tested without a loop.

Frames (``fal-protocol.md`` section 6.3):

* client -> server: one msgpack-encoded input per binary frame (a custom encoder may return a
  ``str``, sent as a text frame);
* server -> client: a binary frame is a result (msgpack); a text frame is JSON: either fal's
  ``x-fal-message`` meta frames (skipped), ``x-fal-error`` frames (raised as ``RealtimeError``,
  except ``TIMEOUT``, see ``decode_frame``), the gateway's ``{"status": "error", "error":
  "Unauthorized"}``, or an app's own JSON (returned as a dict).
"""

from __future__ import annotations

import enum
import json
from typing import Any, Callable, Optional, Union
from urllib.parse import urlencode

from ._endpoints import AppId, Endpoints, join_path
from ._errors import FalClientError, UnexpectedResponseError

DEFAULT_REALTIME_PATH = "/realtime"
DEFAULT_TOKEN_EXPIRATION = 120
MAX_BUFFERING_RANGE = (1, 60)

Encoder = Callable[[Any], Union[bytes, str]]
Decoder = Callable[[bytes], Any]

_MSGPACK_MISSING = (
    "fal_client realtime sessions need the msgpack package: "
    "pip install 'fal-client-anyio[realtime]' (or pass encode_message= and decode_message=)"
)


class RealtimeError(FalClientError, RuntimeError):
    """The realtime endpoint reported an error, or the connection ended abnormally.

    Attributes:
        error: fal's error code, e.g. ``"INTERNAL_ERROR"``, ``"Unauthorized"``, or
            ``"CONNECTION_CLOSED"`` when the socket closed with a code other than 1000/1001.
        reason: the server's explanation ("" when it gave none).
        payload: the whole error frame as sent (``{}`` for connection errors).

    Also a ``RuntimeError``, as in the official client.
    """

    def __init__(
        self,
        error: str,
        reason: Optional[str] = None,
        payload: Optional[dict[str, Any]] = None,
        *,
        app: Optional[str] = None,
        request_id: Optional[str] = None,
    ):
        self.error = error
        self.reason = reason or ""
        self.payload = payload or {}
        super().__init__(
            f"{error}: {self.reason}" if self.reason else error, app=app, request_id=request_id
        )


class WebSocketClosed(Exception):
    """The websocket is over: the peer's close ``code``/``reason``, or 1006 if it just vanished.

    Internal: sessions turn it into ``None`` (a clean close) or ``RealtimeError``.
    """

    def __init__(self, code: int, reason: Optional[str] = None):
        super().__init__(f"websocket closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


def check_max_buffering(value: Optional[int]) -> Optional[int]:
    """``max_buffering`` as sent: ``None`` or an int in 1..60 (fal's limits), else ValueError."""
    if value is None:
        return None
    low, high = MAX_BUFFERING_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(
            f"max_buffering must be an int from {low} to {high} (2 is recommended), got {value!r}"
        )
    return value


def check_token_expiration(value: int) -> int:
    """The token lifetime in seconds: a positive int."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"token_expiration must be a positive int (seconds), got {value!r}")
    return value


def check_path(path: str) -> str:
    """A sub-path like ``/realtime`` (may be empty): no query, fragment or scheme."""
    if not isinstance(path, str):
        raise TypeError(f"path must be a str like '/realtime', got {type(path).__name__}")
    if "?" in path or "#" in path or "://" in path:
        raise ValueError(f"path must be a plain path like '/realtime', got {path!r}")
    return path


def check_codec(name: str, fn: Optional[Callable[..., Any]]) -> None:
    """``encode_message``/``decode_message`` must be callables or ``None``."""
    if fn is not None and not callable(fn):
        raise TypeError(f"{name} must be a callable or None, got {type(fn).__name__}")


def websocket_url(
    endpoints: Endpoints,
    app: AppId,
    path: str,
    *,
    token: Optional[str] = None,
    max_buffering: Optional[int] = None,
) -> str:
    """``ws[s]://<run host>/<app>[/<path>]?fal_jwt_token=...&max_buffering=N``.

    The base is ``endpoints.realtime_url`` when set, else the run URL with its scheme mapped
    http -> ws and https -> wss. ``path`` is appended once: an app id whose sub-path already
    ends with it (``fal-ai/x/realtime``) is not given a second ``/realtime``.
    """
    url = f"{endpoints.realtime_base}/{join_path(app, path)}"
    query: dict[str, str] = {}
    if token:
        query["fal_jwt_token"] = token
    if max_buffering is not None:
        query["max_buffering"] = str(max_buffering)
    return f"{url}?{urlencode(query)}" if query else url


def token_request_body(app: AppId, token_expiration: int) -> bytes:
    """The JSON body of ``POST {rest}/tokens/``: the token is scoped to the app's alias."""
    return json.dumps(
        {"allowed_apps": [app.alias], "token_expiration": token_expiration},
        separators=(",", ":"),
    ).encode()


def parse_token_response(data: Any, *, app: Optional[str] = None) -> str:
    """The JWT from the token endpoint's answer: a JSON string, or ``{"token"|"detail": str}``."""
    if isinstance(data, str) and data:
        return data
    if isinstance(data, dict):
        for key in ("token", "detail"):
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
    raise UnexpectedResponseError(
        "the realtime token endpoint answered without a token", body=data, app=app
    )


def msgpack_encode(message: Any) -> bytes:
    """The default encoder: msgpack with the binary type (as fal's clients send)."""
    packb = _msgpack().packb
    try:
        data: bytes = packb(message, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"message cannot be encoded as msgpack: {exc}") from exc
    return data


def msgpack_decode(data: bytes) -> Any:
    """The default decoder of binary frames."""
    return _msgpack().unpackb(data, raw=False)


def _msgpack() -> Any:
    try:
        import msgpack  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - msgpack is in the realtime extra
        raise ImportError(_MSGPACK_MISSING) from exc
    return msgpack


def encode_frame(message: Any, encode: Optional[Encoder]) -> Union[bytes, str]:
    """The frame for one input: bytes (a binary frame) or str (a text frame)."""
    data = (encode or msgpack_encode)(message)
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, (bytes, str)):
        raise TypeError(f"encode_message must return bytes or str, got {type(data).__name__}")
    return data


class FrameKind(enum.Enum):
    """What a received frame means to the session."""

    RESULT = "result"  # deliver the value
    SKIP = "skip"  # a meta frame: read on
    END = "end"  # a benign end of the session (fal's TIMEOUT): recv() returns None


def decode_frame(
    data: Union[bytes, str], decode: Optional[Decoder], *, app: Optional[str] = None
) -> tuple[FrameKind, Any]:
    """Classify and decode one server frame.

    Returns ``(RESULT, value)``, ``(SKIP, None)`` or ``(END, None)``.

    ``x-fal-error`` with ``error == "TIMEOUT"`` ("no inputs, reconnect when needed!") is what fal
    sends when a session has been idle; the server then closes normally. fal's JS client ignores
    it and so does this one: the session ends as after a clean close (``recv()`` returns
    ``None``), and the caller reconnects when it has input again. The official Python client
    raises instead. Every other ``x-fal-error`` raises ``RealtimeError``.

    Raises:
        RealtimeError: an error frame.
    """
    if not isinstance(data, str):
        return FrameKind.RESULT, (decode or msgpack_decode)(data)
    try:
        payload = json.loads(data)
    except ValueError:
        return FrameKind.RESULT, {"type": "text", "payload": data}
    if not isinstance(payload, dict):
        return FrameKind.RESULT, {"type": "text", "payload": payload}
    kind = payload.get("type")
    if kind == "x-fal-message":
        return FrameKind.SKIP, None
    if kind == "x-fal-error":
        error = str(payload.get("error") or "UNKNOWN_ERROR")
        if error == "TIMEOUT":
            return FrameKind.END, None
        raise RealtimeError(error, _text(payload.get("reason")), payload, app=app)
    if payload.get("status") == "error" and payload.get("error") == "Unauthorized":
        raise RealtimeError(
            "Unauthorized", "the gateway refused the realtime token", payload, app=app
        )
    return FrameKind.RESULT, payload


def _text(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def close_is_clean(code: Optional[int]) -> bool:
    """Whether a close code means a normal end (1000 normal, 1001 going away)."""
    return code in (1000, 1001)
