"""The emulator's ASGI application: classify each request, record it, inject faults, check
auth, then hand it to its service's handler.

One port serves five fal hosts under path prefixes: ``/run`` (fal.run), ``/queue``
(queue.fal.run), ``/rest`` (rest.fal.ai), ``/cdn`` (v3.fal.media) and ``/api/v1``
(api.fal.ai/v1, the platform API); ``/__emulator/`` is the inspection API. Routing is a few
string comparisons rather than a route table, because fal app ids have a variable number of
segments and the hot path (submit, status, result) should stay cheap.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import List, Optional, Union

import anyio
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import _platform_routes as platform_routes
from . import _queue_routes as queue_routes
from . import _rest_routes as rest_routes
from . import _run_routes as run_routes
from . import _storage_routes as storage_routes
from ._app_ids import EndpointPath, parse_queue_request_path, split_endpoint, strip_suffix_segments
from ._control import EmulatorControl
from ._exchange import BadRequest, Exchange, detail_response, json_response, new_request_id
from ._faults import FaultRule
from ._inspect_routes import PREFIX as INSPECTION_PREFIX
from ._inspect_routes import serve_inspection, serve_root
from ._jobs import COMPLETED
from ._realtime import serve_realtime
from ._routing import AUTH_CDN, AUTH_KEY, AUTH_OPTIONAL_KEY, AUTH_PUBLIC, Handler, Route
from ._runner import JobRunner
from ._state import EmulatorState


class EmulatorASGI:
    """The ASGI callable uvicorn serves."""

    def __init__(self, state: EmulatorState, runner: JobRunner, control: EmulatorControl) -> None:
        self._control = control
        self._state = state
        self._runner = runner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path.startswith(INSPECTION_PREFIX) or path == INSPECTION_PREFIX.rstrip("/"):
                await serve_inspection(self._state, self._control, scope, receive, send)
            elif path in ("/", "/favicon.ico"):
                # Where a browser lands; not fal requests, so not recorded.
                await serve_root(self._state, self._control, scope, receive, send)
            else:
                await self._serve_http(scope, receive, send)
        elif kind == "websocket":
            await serve_realtime(self._state, scope, receive, send)
        elif kind == "lifespan":  # pragma: no cover - uvicorn runs with lifespan="off"
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _serve_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = Exchange(self._state, self._runner, scope, receive, send)
        self._state.record_request(ex.entry)
        try:
            try:
                response = await self._handle(ex)
            except BadRequest as exc:
                response = exc.response
            except ClientDisconnect:
                return  # gone while its request was read (after an injected delay)
            if response is not None and not ex.responded:
                await ex.respond(response)
        finally:
            self._state.finish_request(ex.entry)

    async def _handle(self, ex: Exchange) -> Optional[Response]:
        route = classify(self._state, ex.method, ex.path)
        if isinstance(route, Response):
            return route
        entry = ex.entry
        entry.operation = route.operation
        if route.app is not None:
            entry.app = route.app.name
        elif route.endpoint is not None:
            entry.app = route.endpoint.root

        ex.fault = choice = self._state.faults.choose(route.operation, route.fault_targets())
        if choice.delay:
            entry.fault = "latency"
            resets = self._state.resets
            # Once stopping, stop() has swept the delays already: a new one must not park.
            if not self._state.stopping:
                # Tests wait on this to know a request is parked in its delay.
                self._state.feed.publish(entry)
                with anyio.CancelScope() as delay:
                    # Registered so stop() ends it at once: a delay still running at shutdown
                    # would otherwise be cancelled by uvicorn, which logs it as an app crash.
                    self._state.delays.add(delay)
                    try:
                        await anyio.sleep(choice.delay)
                    finally:
                        self._state.delays.discard(delay)
            # Only stop() and reset() cancel a delay; stop() sets ``stopping`` first. A request
            # parked across a reset is not handled: it would leak into what comes after.
            if self._state.stopping:
                return detail_response(503, "The emulator is stopping", request_id=new_request_id())
            if self._state.resets != resets:
                return detail_response(503, "The emulator was reset", request_id=new_request_id())
        if choice.rule is not None:
            entry.fault = choice.rule.kind
            if choice.rule.kind in _IMMEDIATE_FAULTS:
                return await _apply_immediate_fault(ex, choice.rule)

        problem = _auth_problem(ex, route)
        if problem is not None:
            await _discard_body(ex)
            return problem
        if route.operation in _CAPPED_OPERATIONS and self._state.config.max_in_flight is not None:
            # The body is read before the check, so the handler finds it read and nothing awaits
            # between the check and the new job being counted: submits arriving together cannot
            # all pass the check before the first of them is.
            await ex.request.body()
            refused = self._over_in_flight_cap()
            if refused is not None:
                entry.fault = "in_flight_cap"
                return refused
        return await route.handler(ex, route)

    def _over_in_flight_cap(self) -> Optional[Response]:
        """A plan's concurrency limit: past ``max_in_flight`` unfinished jobs, new work is
        refused with 429 and ``Retry-After``, from the gateway (no request id), as fal does."""
        config = self._state.config
        cap = config.max_in_flight
        if cap is None:
            return None
        with self._state.lock:
            in_flight = sum(1 for job in self._state.jobs if job.status != COMPLETED)
        if in_flight < cap:
            return None
        return json_response(
            429,
            {
                "detail": f"Too many concurrent requests: at most {cap} in flight",
                "error_type": "rate_limited",
            },
            headers={"Retry-After": f"{config.in_flight_retry_after:g}"},
        )


# Operations that start work, and so count against ``max_in_flight``.
_CAPPED_OPERATIONS = frozenset({"submit", "run", "stream"})

# --- faults ----------------------------------------------------------------------------------

_IMMEDIATE_FAULTS = frozenset(
    {
        "ingress_502",
        "ingress_503",
        "ingress_504",
        "rate_limit",
        "status_500",
        "http_status",
        "reset_before",
    }
)


def ingress_error(status_code: int) -> Response:
    """What fal's nginx ingress answers when it cannot reach the service: HTML, no request id."""
    title = f"{status_code} {HTTPStatus(status_code).phrase}"
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return Response(body, status_code, media_type="text/html")


async def _apply_immediate_fault(ex: Exchange, rule: FaultRule) -> Optional[Response]:
    # Read (and drop) the body first: answering or resetting while the client still uploads
    # would fail the client's write (a broken pipe) rather than show it the injected fault.
    await _discard_body(ex)
    if rule.kind == "reset_before":
        await ex.drop_connection()
        return None
    if rule.kind.startswith("ingress_"):
        return ingress_error(int(rule.kind.rsplit("_", 1)[1]))
    if rule.kind == "rate_limit":
        retry_after = rule.params.get("retry_after")
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return json_response(
            429, {"detail": "Rate limit exceeded"}, request_id=new_request_id(), headers=headers
        )
    if rule.kind == "status_500":
        return detail_response(500, "Internal Server Error", request_id=new_request_id())
    status_code = int(rule.params.get("status_code", 500))
    headers = {str(k): str(v) for k, v in dict(rule.params.get("headers") or {}).items()}
    return json_response(
        status_code,
        {"detail": rule.params.get("detail", "Injected error")},
        request_id=new_request_id(),
        headers=headers,
    )


async def _discard_body(ex: Exchange) -> None:
    async for _ in ex.request.stream():
        pass


def _auth_problem(ex: Exchange, route: Route) -> Optional[Response]:
    if route.auth == AUTH_KEY:
        alias = route.endpoint.alias if route.endpoint is not None else None
        return ex.key_auth_error(alias)
    if route.auth == AUTH_CDN:
        return ex.cdn_auth_error()
    if route.auth == AUTH_OPTIONAL_KEY and ex.header("authorization") is not None:
        return ex.key_auth_error()  # no key is fine; a wrong one is not
    ex.authorize_public()
    return None


# --- classification --------------------------------------------------------------------------


def _not_allowed(method: str, path: str) -> Response:
    return detail_response(
        405, f"Method {method} not allowed for {path}", request_id=new_request_id()
    )


def _not_found(path: str) -> Response:
    return detail_response(404, f"Not found: {path}", request_id=new_request_id())


async def _app_not_found(ex: Exchange, route: Route) -> Optional[Response]:
    assert route.endpoint is not None
    return detail_response(
        404, f"Application '{route.endpoint.root}' not found", request_id=new_request_id()
    )


def classify(state: EmulatorState, method: str, path: str) -> Union[Route, Response]:
    """Decide what a request is, or answer it directly (404/405) if it is nothing."""
    service, _, rest = path[1:].partition("/")
    segments = [segment for segment in rest.split("/") if segment]
    if service == "run":
        return _classify_run(state, method, path, segments)
    if service == "queue":
        return _classify_queue(state, method, path, segments)
    if service == "rest":
        return _classify_rest(method, path, segments)
    if service == "cdn":
        return _classify_cdn(method, path, segments)
    if service == "api":
        return _classify_platform(method, path, segments)
    return detail_response(
        404,
        f"Not found: {path}. This fal emulator serves /run, /queue, /rest, /cdn and /api/v1; "
        "GET /__emulator/ lists its control API, and /__emulator/ui is its dashboard.",
        request_id=new_request_id(),
    )


def _app_route(
    state: EmulatorState, operation: str, handler: Handler, endpoint: EndpointPath
) -> Route:
    found = state.find_app(endpoint)
    if found is None:
        return Route(operation, _app_not_found, AUTH_KEY, endpoint=endpoint)
    spec, app_path = found
    return Route(operation, handler, AUTH_KEY, endpoint=endpoint, app=spec, app_path=app_path)


def _classify_run(
    state: EmulatorState, method: str, path: str, segments: List[str]
) -> Union[Route, Response]:
    endpoint = split_endpoint(segments)
    if endpoint is None:
        return detail_response(
            404,
            "Invalid app id: must be in the format <appOwner>/<appId>",
            request_id=new_request_id(),
        )
    if method not in ("POST", "GET"):
        return _not_allowed(method, path)
    # Clients sometimes append /stream to an id that already ends with it.
    rest, is_stream = strip_suffix_segments(endpoint.rest, "stream")
    endpoint = EndpointPath(endpoint.root, endpoint.alias, rest)
    if is_stream:
        return _app_route(state, "stream", run_routes.stream, endpoint)
    return _app_route(state, "run", run_routes.run, endpoint)


def _classify_queue(
    state: EmulatorState, method: str, path: str, segments: List[str]
) -> Union[Route, Response]:
    endpoint = split_endpoint(segments)
    if endpoint is None:
        return detail_response(
            404,
            "Invalid app id: must be in the format <appOwner>/<appId>",
            request_id=new_request_id(),
        )
    if method == "POST":
        return _app_route(state, "submit", queue_routes.submit, endpoint)
    request = parse_queue_request_path(endpoint)
    if request is None:
        return _not_allowed(method, path)
    root_only = EndpointPath(endpoint.root, endpoint.alias, ())
    found = state.find_app(root_only)
    spec = found[0] if found is not None else None

    def route(operation: str, handler: Handler) -> Route:
        return Route(
            operation, handler, AUTH_KEY, endpoint=root_only, app=spec, queue_request=request
        )

    action = request.action
    if action == "with_subpath":
        return route("status" if method == "GET" else "cancel", queue_routes.subpath_not_allowed)
    if method == "GET" and action == "result":
        return route("result", queue_routes.result)
    if method == "GET" and action == "status":
        return route("status", queue_routes.status)
    if method == "GET" and action == "status_stream":
        return route("status_stream", queue_routes.status_stream)
    if method == "PUT" and action == "cancel":
        return route("cancel", queue_routes.cancel)
    if action == "unknown":
        return _not_found(path)
    return _not_allowed(method, path)


def _classify_rest(method: str, path: str, segments: List[str]) -> Union[Route, Response]:
    key = tuple(segments)
    if key == (".well-known", "jwks.json"):
        if method != "GET":
            return _not_allowed(method, path)
        return Route(None, rest_routes.jwks, AUTH_PUBLIC)
    routes = {
        ("storage", "auth", "token"): Route("token", storage_routes.storage_token, AUTH_KEY),
        ("storage", "upload", "initiate"): Route(
            "upload", storage_routes.initiate_upload, AUTH_KEY
        ),
        ("storage", "upload", "initiate-multipart"): Route(
            "upload", storage_routes.initiate_upload, AUTH_KEY, params=("multipart",)
        ),
        ("tokens",): Route("token", rest_routes.realtime_token, AUTH_KEY),
    }
    found = routes.get(key)
    if found is None:
        return _not_found(path)
    if method != "POST":
        return _not_allowed(method, path)
    return found


# The platform API's routes: path below /api -> (method, route).
_PLATFORM_ROUTES = {
    ("v1", "models"): (
        "GET",
        Route("models", platform_routes.models, AUTH_OPTIONAL_KEY),
    ),
    ("v1", "models", "pricing"): (
        "GET",
        Route("pricing", platform_routes.pricing, AUTH_KEY),
    ),
    ("v1", "models", "pricing", "estimate"): (
        "POST",
        Route("estimate", platform_routes.estimate, AUTH_KEY),
    ),
    ("v1", "models", "requests", "by-endpoint"): (
        "GET",
        Route("history", platform_routes.requests_by_endpoint, AUTH_KEY),
    ),
}


def _classify_platform(method: str, path: str, segments: List[str]) -> Union[Route, Response]:
    found = _PLATFORM_ROUTES.get(tuple(segments))
    if found is None:
        return _not_found(path)
    allowed, route = found
    if method != allowed:
        return _not_allowed(method, path)
    return route


def _classify_cdn(method: str, path: str, segments: List[str]) -> Union[Route, Response]:
    count = len(segments)
    if count >= 2 and segments[0] == "files":
        if segments[1] == "upload" and count == 2 and method == "POST":
            return Route("upload", storage_routes.cdn_upload, AUTH_CDN)
        if segments[1:] == ["upload", "multipart"] and method == "POST":
            return Route("upload", storage_routes.cdn_multipart_create, AUTH_CDN)
        if count == 3 and method in ("GET", "HEAD"):
            return Route("file", storage_routes.get_file, AUTH_PUBLIC, params=(segments[1],))
        if count == 6 and segments[3] == "multipart":
            file_id, upload_id, last = segments[1], segments[4], segments[5]
            if last == "complete" and method == "POST":
                return Route(
                    "upload", storage_routes.cdn_complete, AUTH_CDN, params=(file_id, upload_id)
                )
            if method == "PUT":
                return Route(
                    "part", storage_routes.cdn_part, AUTH_CDN, params=(file_id, upload_id, last)
                )
        return _not_allowed(method, path) if count == 3 else _not_found(path)
    if count >= 2 and segments[0] == "signed":
        upload_id = segments[1]
        if count == 2 and method == "PUT":
            return Route("upload", storage_routes.signed_put, AUTH_PUBLIC, params=(upload_id,))
        if count == 3 and segments[2] == "complete" and method == "POST":
            return Route("upload", storage_routes.signed_complete, AUTH_PUBLIC, params=(upload_id,))
        if count == 3 and method == "PUT":
            return Route(
                "part", storage_routes.signed_part, AUTH_PUBLIC, params=(upload_id, segments[2])
            )
        return _not_allowed(method, path)
    return _not_found(path)
