"""Realtime sessions: fal's msgpack websocket protocol over ``_websocket.py``, async and sync.

``AsyncRealtimeConnection`` is the engine; ``RealtimeConnection`` drives the same object through
the client's portal, one portal call per ``send``/``recv`` (never a pump that reads ahead: the
realtime exchange is request/response at interactive rates, and reading ahead would defeat the
back-pressure described below).

Buffering and back-pressure: nothing is read from the socket unless a ``recv()`` is waiting, so a
slow consumer holds at most one read chunk (64 KiB) plus the message being assembled in memory;
the rest waits in the kernel's socket buffers and then stalls the server. ``send()`` returns once
the frame is handed to the kernel and blocks when the server stops reading. On the server side,
``max_buffering=N`` tells fal's runner to keep only the newest N unprocessed inputs.

Cancellation: a cancelled ``send``/``recv`` leaves the connection consistent (usable again);
leaving the ``async with``/``with`` block, by any exception or cancellation, closes the socket
at once (a close frame, at most ``CLOSE_GRACE_SECONDS`` for the server's reply, then the TCP
connection is dropped). In sync code Ctrl-C during ``recv()`` cancels the loop-side receive and
the ``with`` block closes the connection on the way out.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union

from ._endpoints import AppId, parse_app_id
from ._errors import UnexpectedResponseError
from ._realtime_protocol import (
    Decoder,
    Encoder,
    FrameKind,
    RealtimeError,
    WebSocketClosed,
    check_codec,
    check_max_buffering,
    check_path,
    check_token_expiration,
    close_is_clean,
    decode_frame,
    encode_frame,
    parse_token_response,
    token_request_body,
    websocket_url,
)

if TYPE_CHECKING:
    from ._portal import Portal
    from ._transport import Transport
    from ._websocket import WebSocket

# The official client's open timeout: a realtime runner may need a while to accept.
OPEN_TIMEOUT_SECONDS = 90.0

S = TypeVar("S", bound="_AsyncSession")


class _AsyncSession:
    """What both session kinds share: validation, the token, connecting and closing."""

    def __init__(
        self,
        transport: Transport,
        application: str,
        *,
        use_jwt: bool,
        path: str,
        max_buffering: Optional[int],
        token_expiration: int,
    ):
        # Everything is checked here, when the session object is made: bad input never connects.
        self._transport = transport
        self.app_id: AppId = parse_app_id(application)
        self._use_jwt = bool(use_jwt)
        self._path = check_path(path)
        self._max_buffering = check_max_buffering(max_buffering)
        self._token_expiration = check_token_expiration(token_expiration)
        self._ws: Optional[WebSocket] = None
        self._entered = False
        self._ended = False

    @property
    def app(self) -> str:
        """The app id this session talks to."""
        return self.app_id.full

    def __repr__(self) -> str:
        state = "open" if self._ws is not None and self._ws.closed is None else "not open"
        if self._ws is not None and self._ws.closed is not None:
            state = "closed"
        return f"{type(self).__name__}(app={self.app!r}, {state})"

    async def __aenter__(self: S) -> S:
        await self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _open(self) -> None:
        if self._entered:
            raise RuntimeError(f"{type(self).__name__} can be opened only once")
        self._entered = True
        from ._transport import USER_AGENT
        from ._websocket import connect_websocket  # wsproto is in the realtime extra

        transport = self._transport
        headers: Optional[dict[str, str]] = None
        token: Optional[str] = None
        if self._use_jwt:
            token = await self._fetch_token()
        else:
            authorization = await transport._credentials.header(transport._refresh_post)
            headers = {"Authorization": authorization, "User-Agent": USER_AGENT}
        url = websocket_url(
            transport.endpoints,
            self.app_id,
            self._path,
            token=token,
            max_buffering=self._max_buffering,
        )
        self._ws = await connect_websocket(
            url, headers, open_timeout=OPEN_TIMEOUT_SECONDS, app=self.app
        )

    async def _fetch_token(self) -> str:
        transport = self._transport
        response = await transport.request(
            "POST",
            transport.endpoints.realtime_token(),
            repeatable=True,  # a second token is harmless
            content=token_request_body(self.app_id, self._token_expiration),
            app=self.app,
        )
        try:
            data = response.json()
        except ValueError as exc:
            raise UnexpectedResponseError(
                "the realtime token endpoint did not answer JSON",
                body=response.content[:200],
                app=self.app,
            ) from exc
        return parse_token_response(data, app=self.app)

    def _socket(self) -> WebSocket:
        if self._ws is None:
            raise RuntimeError(
                f"the session is not open: use 'async with client.{self._opener}(...) as conn'"
            )
        return self._ws

    _opener = "realtime"

    async def close(self) -> None:
        """Close the connection (idempotent; returns promptly even when cancelled)."""
        self._ended = True
        if self._ws is not None:
            await self._ws.aclose()

    async def aclose(self) -> None:
        """The same as ``close()``."""
        await self.close()

    async def _send_frame(self, frame: Union[bytes, str]) -> None:
        ws = self._socket()
        try:
            await ws.send(frame)
        except WebSocketClosed as exc:
            raise self._closed_error(exc, "cannot send: the connection is closed") from exc

    async def _receive_frame(self) -> Optional[Union[bytes, str]]:
        """The next frame, or ``None`` after a clean close."""
        ws = self._socket()
        if self._ended:
            return None
        try:
            return await ws.receive()
        except WebSocketClosed as exc:
            self._ended = True
            if close_is_clean(exc.code):
                return None
            raise self._closed_error(exc, "the connection closed abnormally") from exc

    def _closed_error(self, exc: WebSocketClosed, what: str) -> RealtimeError:
        detail = f"{what} (code {exc.code}" + (f": {exc.reason})" if exc.reason else ")")
        return RealtimeError("CONNECTION_CLOSED", detail, app=self.app)


class AsyncRealtimeConnection(_AsyncSession):
    """A realtime session with a fal app: ``send`` inputs, ``recv`` results.

    Made by ``AsyncClient.realtime(...)``; connects on ``async with`` and closes when the block
    is left::

        async with client.realtime("fal-ai/fast-lcm-diffusion") as conn:
            await conn.send({"prompt": "a cat"})
            result = await conn.recv()

    Inputs are msgpack-encoded binary frames (or what ``encode_message`` returns: ``bytes`` for
    a binary frame, ``str`` for a text frame). Results are decoded from msgpack (or by
    ``decode_message``); JSON text frames are returned as dicts; fal's meta frames are skipped.
    """

    def __init__(
        self,
        transport: Transport,
        application: str,
        *,
        use_jwt: bool = True,
        path: str = "/realtime",
        max_buffering: Optional[int] = None,
        token_expiration: int = 120,
        encode_message: Optional[Encoder] = None,
        decode_message: Optional[Decoder] = None,
    ):
        check_codec("encode_message", encode_message)
        check_codec("decode_message", decode_message)
        super().__init__(
            transport,
            application,
            use_jwt=use_jwt,
            path=path,
            max_buffering=max_buffering,
            token_expiration=token_expiration,
        )
        self._encode = encode_message
        self._decode = decode_message

    async def send(self, arguments: Any) -> None:
        """Send one input (usually a dict).

        Raises:
            TypeError: the input cannot be encoded.
            RealtimeError: the connection is closed (``error == "CONNECTION_CLOSED"``).
        """
        await self._send_frame(encode_frame(arguments, self._encode))

    async def recv(self) -> Optional[dict[str, Any]]:
        """The next result, or ``None`` once the session has ended cleanly.

        A clean end is a normal close by the server, or fal's idle ``TIMEOUT`` frame (which fal's
        JS client also treats as benign: reconnect when you have input again). Later calls keep
        returning ``None``.

        Raises:
            RealtimeError: the server sent an error frame (``error`` is fal's code, e.g.
                ``"INTERNAL_ERROR"``), or the connection closed abnormally
                (``"CONNECTION_CLOSED"``).
        """
        while True:
            frame = await self._receive_frame()
            if frame is None:
                return None
            kind, value = decode_frame(frame, self._decode, app=self.app)
            if kind is FrameKind.RESULT:
                return value  # type: ignore[no-any-return]
            if kind is FrameKind.END:
                await self.close()
                return None

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        message = await self.recv()
        if message is None:
            raise StopAsyncIteration
        return message


class AsyncWebSocketConnection(_AsyncSession):
    """A raw websocket to a fal app (``AsyncClient.ws_connect``): no framing of messages.

    ``send`` takes ``bytes`` (binary frame), ``str`` (text frame) or a dict/list (sent as a
    JSON text frame); ``recv`` returns ``bytes`` or ``str``, or ``None`` after a clean close.
    """

    _opener = "ws_connect"

    async def send(self, data: Union[bytes, str, dict[str, Any], list[Any]]) -> None:
        """Send one message.

        Raises:
            RealtimeError: the connection is closed (``error == "CONNECTION_CLOSED"``).
        """
        if isinstance(data, (dict, list)):
            data = json.dumps(data)
        elif isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        elif not isinstance(data, (bytes, str)):
            raise TypeError(f"send() takes bytes, str or a dict, got {type(data).__name__}")
        await self._send_frame(data)

    async def recv(self) -> Optional[Union[bytes, str]]:
        """The next message, or ``None`` after a clean close.

        Raises:
            RealtimeError: the connection closed abnormally (``"CONNECTION_CLOSED"``).
        """
        return await self._receive_frame()

    def __aiter__(self) -> AsyncIterator[Union[bytes, str]]:
        return self

    async def __anext__(self) -> Union[bytes, str]:
        message = await self.recv()
        if message is None:
            raise StopAsyncIteration
        return message


# --- sync faces ------------------------------------------------------------------------------
T = TypeVar("T", bound="_SyncSession")


class _SyncSession:
    def __init__(self, session: _AsyncSession, portal: Portal):
        self._session = session
        self._portal = portal

    @property
    def app(self) -> str:
        """The app id this session talks to."""
        return self._session.app

    def __repr__(self) -> str:
        return repr(self._session).replace("Async", "", 1)

    def __enter__(self: T) -> T:
        # Entered and left in separate loop tasks: the async session keeps no cancel scope or
        # task group open between the two, so this is safe, and each half gets the portal's
        # cancellation on Ctrl-C.
        self._portal.call(self._session.__aenter__)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._portal.thread is not None:
            self._portal.call(self._session.close)


class RealtimeConnection(_SyncSession):
    """A realtime session for sync code (``SyncClient.realtime``); see
    ``AsyncRealtimeConnection`` for the protocol::

        with client.realtime("fal-ai/fast-lcm-diffusion") as conn:
            conn.send({"prompt": "a cat"})
            result = conn.recv()
    """

    _session: AsyncRealtimeConnection

    def __init__(self, session: AsyncRealtimeConnection, portal: Portal):
        super().__init__(session, portal)

    def send(self, arguments: Any) -> None:
        """Send one input (usually a dict). See ``AsyncRealtimeConnection.send``."""
        self._portal.call(self._session.send, arguments)

    def recv(self) -> Optional[dict[str, Any]]:
        """The next result, or ``None`` once the session ended. See
        ``AsyncRealtimeConnection.recv``."""
        return self._portal.call(self._session.recv)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return _iterate(self.recv)


class WebSocketConnection(_SyncSession):
    """A raw websocket to a fal app, for sync code (``SyncClient.ws_connect``)."""

    _session: AsyncWebSocketConnection

    def __init__(self, session: AsyncWebSocketConnection, portal: Portal):
        super().__init__(session, portal)

    def send(self, data: Union[bytes, str, dict[str, Any], list[Any]]) -> None:
        """Send one message. See ``AsyncWebSocketConnection.send``."""
        self._portal.call(self._session.send, data)

    def recv(self) -> Optional[Union[bytes, str]]:
        """The next message, or ``None`` after a clean close."""
        return self._portal.call(self._session.recv)

    def __iter__(self) -> Iterator[Union[bytes, str]]:
        return _iterate(self.recv)


U = TypeVar("U")


def _iterate(recv: Callable[[], Optional[U]]) -> Iterator[U]:
    while True:
        message = recv()
        if message is None:
            return
        yield message


__all__ = [
    "AsyncRealtimeConnection",
    "AsyncWebSocketConnection",
    "RealtimeConnection",
    "RealtimeError",
    "WebSocketConnection",
]
