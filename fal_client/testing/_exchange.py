"""One HTTP request/response exchange: reading the request, answering it, or dropping it."""

from __future__ import annotations

import hmac
import json
import socket
import struct
import uuid
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ._faults import NO_FAULT, FaultChoice
from ._responses import StoredResponse, dumps
from ._state import EmulatorState, RequestEntry

if TYPE_CHECKING:
    from ._runner import JobRunner

#: Where the HTTP protocol puts the connection's transport in the ASGI scope (see _server).
TRANSPORT_SCOPE_KEY = "fal_emulator.transport"

JSON = "application/json"


def new_request_id() -> str:
    """A fresh fal request id."""
    return str(uuid.uuid4())


class BadRequest(Exception):
    """Raised while reading a request that cannot be served; carries the answer to send."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def json_response(
    status_code: int,
    body: Any,
    *,
    request_id: Optional[str] = None,
    headers: Optional[Mapping[str, str]] = None,
) -> Response:
    """A JSON response, with ``x-fal-request-id`` when a request id is given."""
    all_headers: Dict[str, str] = dict(headers or {})
    if request_id is not None:
        all_headers["x-fal-request-id"] = request_id
    return Response(dumps(body), status_code, all_headers, JSON)


def detail_response(status_code: int, detail: Any, *, request_id: Optional[str] = None) -> Response:
    """fal's usual error shape: ``{"detail": ...}``."""
    return json_response(status_code, {"detail": detail}, request_id=request_id)


def replay(stored: StoredResponse, request_id: str) -> Response:
    """Serve a stored app response again, with the request id header."""
    headers = dict(stored.headers)
    headers["x-fal-request-id"] = request_id
    return Response(stored.body, stored.status_code, headers, JSON)


class Exchange:
    """The request being handled, its record in the request log, and how to answer it."""

    def __init__(
        self, state: EmulatorState, runner: JobRunner, scope: Scope, receive: Receive, send: Send
    ) -> None:
        self.state = state
        self.runner = runner
        self.scope = scope
        self.receive = receive
        self._send = send
        self.request = Request(scope, receive)
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.entry = RequestEntry(
            self.method, self.path, scope.get("query_string", b""), scope["headers"]
        )
        self.fault: FaultChoice = NO_FAULT
        self.responded = False

    # --- reading --------------------------------------------------------------------------------

    def header(self, name: str) -> Optional[str]:
        """A request header (case-insensitive), or None."""
        return self.request.headers.get(name)

    @property
    def query(self) -> Mapping[str, str]:
        """The query parameters (last value wins)."""
        return self.request.query_params

    @property
    def base_url(self) -> str:
        """``scheme://host[:port]`` as the client addressed the emulator (for absolute URLs)."""
        host = self.header("host")
        if host is None:
            server = self.scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{self.scope.get('scheme', 'http')}://{host}"

    def headers_dict(self) -> Dict[str, str]:
        """All request headers as a dict with lower-case names."""
        return {name: value for name, value in self.request.headers.items()}

    async def json_body(self, *, default: Any = None) -> Any:
        """The body parsed as JSON (``default`` when empty).

        Raises:
            BadRequest: 422 if it is not valid JSON.
        """
        body = await self.request.body()
        if not body.strip():
            return default
        try:
            return json.loads(body)
        except ValueError:
            raise BadRequest(
                detail_response(422, "Request body is not valid JSON", request_id=new_request_id())
            ) from None

    # --- auth -----------------------------------------------------------------------------------

    def key_auth_error(self, alias: Optional[str] = None) -> Optional[Response]:
        """Check ``Authorization: Key <key>`` (or, for an app, a realtime JWT in
        ``fal_jwt_token``); None when authorized, else the 401/403 answer."""
        value = self.header("authorization")
        if value is None:
            token = self.query.get("fal_jwt_token")
            if token is not None and alias is not None:
                if self.state.tokens.realtime_token_allows(token, alias):
                    return self._authorized()
                return detail_response(403, "Invalid token", request_id=new_request_id())
            return detail_response(401, "Missing authorization header", request_id=new_request_id())
        scheme, _, credentials = value.partition(" ")
        if scheme.lower() == "key" and hmac.compare_digest(
            credentials.strip().encode(), self.state.config.key.encode()
        ):
            return self._authorized()
        return detail_response(
            403, "Invalid authorization credentials", request_id=new_request_id()
        )

    def cdn_auth_error(self) -> Optional[Response]:
        """Check a CDN bearer token from the storage token endpoint."""
        value = self.header("authorization")
        if value is None:
            return detail_response(401, "Missing authorization header")
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and self.state.tokens.cdn_token_valid(token.strip()):
            return self._authorized()
        return detail_response(403, "Invalid CDN token")

    def _authorized(self) -> Optional[Response]:
        self.entry.authorized = True
        return None

    def authorize_public(self) -> None:
        """Mark a request to a public endpoint (file GET, signed URL) as authorized."""
        self.entry.authorized = True

    # --- answering ------------------------------------------------------------------------------

    async def _recording_send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            # Recorded before the client can see the response, so a test that inspects the
            # emulator right after its call returned always finds the status.
            self.entry.status_code = message["status"]
            self.responded = True
        await self._send(message)

    async def respond(self, response: Response) -> None:
        """Send ``response`` (any Starlette response, streaming ones included)."""
        await response(self.scope, self.receive, self._recording_send)

    async def drop_connection(self) -> None:
        """Reset the TCP connection instead of answering (the client sees a transport error).

        Sets SO_LINGER 0 so the close is an RST, like a crashed proxy, then waits for the
        server to notice the disconnect so it does not try to answer.
        """
        transport = self.scope.get(TRANSPORT_SCOPE_KEY)
        if transport is not None and not transport.is_closing():
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            transport.abort()
        with anyio.move_on_after(5, shield=True):
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    return

    async def wait_disconnect(self) -> None:
        """Return once the client has gone away (the request body must have been read)."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return
