"""A small client websocket: wsproto (sans-IO) over an AnyIO byte stream.

Why this stack and not httpx2's ``websockets`` module or httpx-ws (from which it derives):

* Those run a background reader task inside a task group held open across the caller's
  ``async with``. Errors then leave the block wrapped in an ``ExceptionGroup``, the reader must
  be cancelled and joined on close, and the session cannot be entered in one task and left in
  another (which the sync API through the portal needs). The reader also answers for memory:
  it keeps reading while the caller is busy, into a queue.
* Here nothing reads unless the caller is in ``receive()``. Back-pressure is TCP's own: a slow
  consumer leaves bytes in the kernel's socket buffer and the server's send blocks. Memory per
  connection is bounded by one read chunk plus the message being assembled (``max_message_size``).
* Cancellation is plain: ``anyio``'s ``receive()``/``send()`` either complete or consume
  nothing, so a cancelled call leaves the connection consistent, and ``aclose()`` ends the TCP
  connection at once. The same code runs on asyncio and trio (the approach of trio-websocket).

Pings from the server are answered while reading. The connection does not use the HTTP
connection pool; environment proxies are not applied (as with the official client's
``websockets``).
"""

from __future__ import annotations

import ssl
from collections import deque
from typing import Optional, Union
from urllib.parse import urlsplit

import anyio
import anyio.abc
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ._errors import FalClientConnectionError, describe_exception, error_from_response
from ._realtime_protocol import WebSocketClosed

READ_CHUNK = 65536
# The largest message assembled in memory (fal's official client sets no limit at all).
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024
# How long a polite close waits for the server's closing handshake before dropping the socket.
CLOSE_GRACE_SECONDS = 1.0
# Close codes (RFC 6455 section 7.4.1).
NORMAL_CLOSURE = 1000
ABNORMAL_CLOSURE = 1006
MESSAGE_TOO_BIG = 1009


class WebSocket:
    """One open client websocket. Use ``connect_websocket`` to make one.

    ``send`` and ``receive`` may run in different tasks at the same time (each direction has its
    own lock); a second concurrent ``receive`` waits for the first.
    """

    def __init__(
        self, stream: anyio.abc.ByteStream, connection: WSConnection, max_message_size: int
    ):
        self._stream = stream
        self._connection = connection
        self._max_message_size = max_message_size
        self._send_lock = anyio.Lock()
        self._receive_lock = anyio.Lock()
        self._events: deque[Event] = deque()
        # Fragments of the message being assembled; kept on the object so that a receive
        # cancelled mid-message loses nothing.
        self._parts: list[Union[bytes, str]] = []
        self._parts_size = 0
        self._closed: Optional[WebSocketClosed] = None
        self._stream_closed = False

    @property
    def closed(self) -> Optional[WebSocketClosed]:
        """How the connection ended, or ``None`` while it is open."""
        return self._closed

    async def send(self, data: Union[bytes, str]) -> None:
        """Send one message: ``bytes`` as a binary frame, ``str`` as a text frame.

        Raises:
            WebSocketClosed: the connection is closed.
        """
        if self._closed is not None:
            raise self._closed
        event = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
        try:
            payload = self._connection.send(event)
        except LocalProtocolError as exc:  # closing or closed by the peer
            raise self._closed or WebSocketClosed(ABNORMAL_CLOSURE, str(exc)) from exc
        await self._write(payload)

    async def receive(self) -> Union[bytes, str]:
        """The next whole message: ``bytes`` (binary frame) or ``str`` (text frame).

        Raises:
            WebSocketClosed: the peer closed (its code), or the connection broke (1006). Raised
                again on every later call.
        """
        async with self._receive_lock:
            while True:
                if self._closed is not None:
                    raise self._closed
                while self._events:
                    message = await self._handle(self._events.popleft())
                    if message is not None:
                        return message
                try:
                    data: Optional[bytes] = await self._stream.receive(READ_CHUNK)
                except anyio.EndOfStream:
                    data = None
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                    await self._abort(WebSocketClosed(ABNORMAL_CLOSURE, str(exc) or None))
                    continue
                self._connection.receive_data(data)
                try:
                    self._events.extend(self._connection.events())
                except RemoteProtocolError as exc:
                    await self._abort(WebSocketClosed(ABNORMAL_CLOSURE, f"protocol error: {exc}"))
                    continue
                if data is None and not self._events:
                    await self._abort(WebSocketClosed(ABNORMAL_CLOSURE, "connection lost"))

    async def _handle(self, event: Event) -> Optional[Union[bytes, str]]:
        if isinstance(event, Message):
            chunk = event.data
            self._parts_size += len(chunk)
            if self._parts_size > self._max_message_size:
                await self.aclose(MESSAGE_TOO_BIG, "message too big")
                self._closed = WebSocketClosed(
                    MESSAGE_TOO_BIG, f"a message exceeded {self._max_message_size} bytes"
                )
                return None
            if not event.message_finished:
                self._parts.append(chunk)
                return None
            if self._parts:
                self._parts.append(chunk)
                whole: Union[bytes, str] = (
                    "".join(self._parts)  # type: ignore[arg-type]
                    if isinstance(chunk, str)
                    else b"".join(self._parts)  # type: ignore[arg-type]
                )
            else:
                whole = bytes(chunk) if isinstance(chunk, (bytearray, memoryview)) else chunk
            self._parts = []
            self._parts_size = 0
            return whole
        if isinstance(event, Ping):
            await self._write_quietly(self._connection.send(event.response()))
        elif isinstance(event, CloseConnection):
            self._closed = WebSocketClosed(event.code, event.reason or None)
            if self._connection.state is ConnectionState.REMOTE_CLOSING:
                await self._write_quietly(self._connection.send(event.response()))
            await self._close_stream()
        return None

    async def aclose(self, code: int = NORMAL_CLOSURE, reason: Optional[str] = None) -> None:
        """Close: send a close frame, wait briefly for the server's, then drop the TCP connection.

        Safe to call more than once and from a cancelled task (the work is shielded and bounded
        by ``CLOSE_GRACE_SECONDS``, so it returns promptly even when the peer is silent).
        """
        with anyio.CancelScope(shield=True):
            if self._closed is None:
                self._closed = WebSocketClosed(code, reason)
            if self._connection.state is ConnectionState.OPEN:
                with anyio.move_on_after(CLOSE_GRACE_SECONDS):
                    await self._write_quietly(
                        self._connection.send(CloseConnection(code=code, reason=reason))
                    )
                    await self._drain_until_closed()
            await self._close_stream()

    async def _drain_until_closed(self) -> None:
        # Read (and drop) until the server acknowledges the close, as RFC 6455 asks. Skipped when
        # another task is in receive(): that task will see the close itself.
        if self._receive_lock.locked():
            return
        while self._connection.state is not ConnectionState.CLOSED:
            try:
                data = await self._stream.receive(READ_CHUNK)
            except Exception:
                return
            self._connection.receive_data(data)
            try:
                for event in self._connection.events():
                    if isinstance(event, CloseConnection):
                        return
            except RemoteProtocolError:
                return

    async def _abort(self, closed: WebSocketClosed) -> None:
        # A close we started ourselves (aclose from another task) keeps its own code.
        if self._closed is None:
            self._closed = closed
        await self._close_stream()

    async def _close_stream(self) -> None:
        if not self._stream_closed:
            self._stream_closed = True
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()

    async def _write(self, payload: bytes) -> None:
        try:
            async with self._send_lock:
                await self._stream.send(payload)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            closed = self._closed or WebSocketClosed(ABNORMAL_CLOSURE, str(exc) or None)
            await self._abort(closed)
            raise closed from exc

    async def _write_quietly(self, payload: bytes) -> None:
        try:
            await self._write(payload)
        except WebSocketClosed:
            pass


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi  # the same trust store httpx uses, when available
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


async def connect_websocket(
    url: str,
    headers: Optional[dict[str, str]] = None,
    *,
    open_timeout: float,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    app: Optional[str] = None,
) -> WebSocket:
    """Open a TCP (TLS for ``wss://``) connection and complete the websocket handshake.

    Raises:
        FalClientHTTPError: the server refused the upgrade (a subclass by status: 401 is
            ``AuthenticationError``, 404 ``NotFoundError``...).
        FalClientConnectionError: the connection failed or ``open_timeout`` passed.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a websocket URL: {_safe(url)}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    default_port = port == (443 if secure else 80)
    host_header = parts.hostname if default_port else f"{parts.hostname}:{port}"
    stream: Optional[anyio.abc.ByteStream] = None
    try:
        with anyio.fail_after(open_timeout):
            if secure:
                stream = await anyio.connect_tcp(
                    parts.hostname,
                    port,
                    tls=True,
                    ssl_context=_ssl_context(),
                    tls_standard_compatible=False,
                )
            else:
                stream = await anyio.connect_tcp(parts.hostname, port)
            connection = WSConnection(ConnectionType.CLIENT)
            extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
            await stream.send(
                connection.send(Request(host=host_header, target=target, extra_headers=extra))
            )
            await _handshake(stream, connection, app)
        return WebSocket(stream, connection, max_message_size)
    except BaseException as exc:
        if stream is not None:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
        if isinstance(exc, TimeoutError):
            raise FalClientConnectionError(
                f"websocket {_safe(url)} did not open within {open_timeout:g}s", app=app
            ) from exc
        if isinstance(exc, (OSError, anyio.BrokenResourceError, RemoteProtocolError)):
            raise FalClientConnectionError(
                f"websocket {_safe(url)} failed to open: {describe_exception(exc)}", app=app
            ) from exc
        raise


async def _handshake(
    stream: anyio.abc.ByteStream, connection: WSConnection, app: Optional[str]
) -> None:
    status: Optional[int] = None
    headers: dict[str, str] = {}
    body = b""
    while True:
        try:
            data: Optional[bytes] = await stream.receive(READ_CHUNK)
        except anyio.EndOfStream:
            data = None
        connection.receive_data(data)
        for event in connection.events():
            if isinstance(event, AcceptConnection):
                return
            if isinstance(event, RejectConnection):
                status = event.status_code
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers}
                if not event.has_body:
                    raise error_from_response(status, headers, body, app=app)
            elif isinstance(event, RejectData):
                body += bytes(event.data)
                if event.body_finished:
                    raise error_from_response(status or 0, headers, body, app=app)
        if data is None:
            if status is not None:
                raise error_from_response(status, headers, body, app=app)
            raise anyio.BrokenResourceError("the server closed the connection during the handshake")


def _safe(url: str) -> str:
    # The realtime token travels in the query: never print it.
    return url.split("?", 1)[0]
