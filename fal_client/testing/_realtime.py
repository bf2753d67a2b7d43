"""The realtime WebSocket (``/run/{app}/realtime``): msgpack frames in, msgpack frames out.

Per fal's runner: each binary frame is one msgpack-encoded input; each reply is a binary msgpack
frame followed by a JSON text meta frame ``{"type": "x-fal-message", "action": "timings"}``.
Errors are JSON text frames ``{"type": "x-fal-error", "error": ..., "reason": ...}`` followed by a
normal close (1000): ``INTERNAL_ERROR`` when the app raised, ``TIMEOUT`` when no input arrived
for ``realtime_idle_timeout`` seconds. With ``max_buffering=N`` only the newest N unprocessed
inputs are kept, older ones are dropped.
"""

from __future__ import annotations

import functools
import json
import time
from collections import deque
from typing import Any, Deque, Optional, Tuple

import anyio
import anyio.to_thread
import msgpack  # type: ignore[import-untyped]
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from ._app_ids import split_endpoint
from ._apps import REALTIME, AppContext, AppSpec
from ._exchange import detail_response, new_request_id
from ._state import EmulatorState, RequestEntry, StreamEntry

_PREFIX = "/run/"


def _error_frame(error: str, reason: str) -> str:
    return json.dumps({"type": "x-fal-error", "error": error, "reason": reason})


def _timings_frame(seconds: float) -> str:
    return json.dumps({"type": "x-fal-message", "action": "timings", "timing": seconds})


def _max_buffering(raw: Optional[str]) -> Tuple[Optional[int], Optional[str]]:
    if raw is None:
        return None, None
    try:
        value = int(raw)
    except ValueError:
        return None, f"Invalid max_buffering: {raw!r}"
    if not 1 <= value <= 60:
        return None, "max_buffering must be between 1 and 60"
    return value, None


def _authorized(state: EmulatorState, ws: WebSocket, alias: str) -> bool:
    token = ws.query_params.get("fal_jwt_token")
    if token is not None:
        return state.tokens.realtime_token_allows(token, alias)
    value = ws.headers.get("authorization")
    if value is None:
        return False
    scheme, _, key = value.partition(" ")
    return scheme.lower() == "key" and key.strip() == state.config.key


async def serve_realtime(state: EmulatorState, scope: Scope, receive: Receive, send: Send) -> None:
    """Handle one WebSocket connection from accept to close."""
    ws = WebSocket(scope, receive, send)
    entry = RequestEntry(
        "WEBSOCKET", scope["path"], scope.get("query_string", b""), scope["headers"]
    )
    entry.operation = "realtime"
    state.record_request(entry)
    try:
        await _serve_session(state, ws, entry)
    finally:
        state.finish_request(entry)


async def _serve_session(state: EmulatorState, ws: WebSocket, entry: RequestEntry) -> None:
    scope = ws.scope

    async def deny(response: Response) -> None:
        entry.status_code = response.status_code
        await ws.send_denial_response(response)

    path = scope["path"]
    endpoint = split_endpoint(path[len(_PREFIX) :].split("/")) if path.startswith(_PREFIX) else None
    found = state.find_app(endpoint) if endpoint is not None else None
    if endpoint is None or found is None or found[0].kind != REALTIME:
        await deny(detail_response(404, f"No realtime app at {path!r}"))
        return
    spec, sub_path = found
    entry.app = spec.name
    if not _authorized(state, ws, endpoint.alias):
        await deny(detail_response(401, "Unauthorized"))
        return
    entry.authorized = True
    buffering, problem = _max_buffering(ws.query_params.get("max_buffering"))
    if problem is not None:
        await deny(detail_response(422, problem))
        return
    await ws.accept()
    entry.status_code = 101
    request_id = new_request_id()
    entry.request_id = request_id
    stream = state.open_stream(spec.name, request_id, "realtime")
    session = _Session(state, ws, spec, sub_path, buffering, stream)
    # The stream's scope lets stop() and reset() end the session.
    with anyio.CancelScope() as stop_scope:
        stream.scope = stop_scope
        try:
            await session.run()
        finally:
            stream.scope = None
    if stop_scope.cancel_called and not session.client_gone:
        with anyio.CancelScope(shield=True), anyio.move_on_after(1):
            await ws.close(code=1001)
    state.close_stream(stream, client_disconnected=session.client_gone)


class _Session:
    def __init__(
        self,
        state: EmulatorState,
        ws: WebSocket,
        spec: AppSpec,
        sub_path: Optional[str],
        buffering: Optional[int],
        stream: StreamEntry,
    ) -> None:
        self.state = state
        self.stream = stream
        self.ws = ws
        self.spec = spec
        self.buffering = buffering
        self.pending: Deque[Any] = deque()
        self.arrived = anyio.Event()
        self.client_gone = False
        self.error: Optional[Tuple[str, str]] = None
        base_url = f"{ws.url.scheme.replace('ws', 'http')}://{ws.url.netloc}"
        self.ctx = AppContext(
            request_id=stream.request_id,
            app=spec.name,
            path=sub_path,
            headers=dict(ws.headers.items()),
            log_sink=lambda entry: None,
            file_saver=state.file_saver(base_url, app=spec.name, request_id=stream.request_id),
            file_loader=state.file_loader(base_url),
        )

    async def run(self) -> None:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(self._read, task_group.cancel_scope)
            await self._process()
            task_group.cancel_scope.cancel()
        if self.client_gone:
            return
        if self.error is not None:
            await self.ws.send_text(_error_frame(*self.error))
        await self.ws.close(code=1000)

    async def _read(self, scope: anyio.CancelScope) -> None:
        while True:
            try:
                message = await self.ws.receive()
            except WebSocketDisconnect:
                message = {"type": "websocket.disconnect"}
            if message["type"] == "websocket.disconnect":
                self.client_gone = True
                scope.cancel()
                return
            data = message.get("bytes")
            if data is None:
                self.error = ("INTERNAL_ERROR", "expected a binary msgpack frame, got text")
                scope.cancel()
                return
            try:
                decoded = msgpack.unpackb(data, raw=False)
            except Exception as exc:  # msgpack raises several unrelated types
                self.error = ("INTERNAL_ERROR", f"invalid msgpack frame: {exc}")
                scope.cancel()
                return
            self.pending.append(decoded)
            self.stream.events_received += 1
            if self.buffering is not None:
                while len(self.pending) > self.buffering:
                    self.pending.popleft()  # keep only the newest inputs, like fal's runner
                    self.stream.events_dropped += 1
            self.arrived.set()
            self.state.feed.publish(self.stream)

    async def _process(self) -> None:
        idle_timeout = self.state.config.realtime_idle_timeout
        while True:
            if not self.pending:
                self.arrived = anyio.Event()
                with anyio.move_on_after(idle_timeout):
                    await self.arrived.wait()
                if not self.pending:
                    if self.error is None:
                        self.error = ("TIMEOUT", "no inputs, reconnect when needed!")
                    return
            message = self.pending.popleft()
            started = time.perf_counter()
            try:
                await self._answer(message, started)
            except Exception as exc:  # an app crash ends the session, as on fal
                self.error = ("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
                return

    async def _answer(self, message: Any, started: float) -> None:
        fn = self.spec.fn
        if self.spec.is_generator:
            if self.spec.is_async:
                generator = fn(message, self.ctx)
                try:
                    async for item in generator:
                        await self._send(item, started)
                finally:
                    await generator.aclose()
            else:
                items = await anyio.to_thread.run_sync(lambda: list(fn(message, self.ctx)))
                for item in items:
                    await self._send(item, started)
            return
        if self.spec.is_async:
            result = await fn(message, self.ctx)
        else:
            result = await anyio.to_thread.run_sync(
                functools.partial(fn, message, self.ctx), abandon_on_cancel=True
            )
        if result is not None:
            await self._send(result, started)

    async def _send(self, item: Any, started: float) -> None:
        await self.ws.send_bytes(msgpack.packb(item, use_bin_type=True))
        self.stream.events_sent += 1
        # Waiters (wait_until on streams()) re-check on published changes only.
        self.state.feed.publish(self.stream)
        await self.ws.send_text(_timings_frame(time.perf_counter() - started))
