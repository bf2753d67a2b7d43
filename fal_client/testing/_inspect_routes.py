"""The control API under ``/__emulator/`` (no auth): inspect what the emulator saw, steer it,
and read its own documentation, so that tests in any language, curl users and the dashboard
find their way.

Every endpoint is one :class:`~._openapi.Endpoint` in :data:`ENDPOINTS` with its handler: the
dispatcher, the OpenAPI document (``/__emulator/openapi.json``), the reference page
(``/__emulator/docs``) and the index (``/__emulator/``) are all made from that one table.
Requests under ``/__emulator/`` are neither recorded nor subject to faults, so inspecting the
emulator (or keeping its dashboard open) never changes what a test sees.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Iterable, List, Optional, Tuple

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from .._version import __version__
from . import _control_lists as lists
from . import _control_schemas as schemas
from . import _dashboard as dashboard
from ._apps import app_info
from ._control import EmulatorControl
from ._faults import KIND_DESCRIPTIONS, KINDS, OPERATIONS, FaultRule, make_rule
from ._jobs import Job
from ._listing import Key, Listing, ListQuery, QueryError, paginate, parse_query
from ._openapi import Endpoint, Schema, array_of, build_document, ref, render_reference
from ._responses import dumps
from ._storage_routes import stored_file_response

if TYPE_CHECKING:
    from ._state import EmulatorState

PREFIX = "/__emulator/"

JSON = "application/json"

_FAULT_FIELDS = ("kind", "app", "operation", "count", "probability", "seed")


def _json(status_code: int, body: Any, headers: Optional[Dict[str, str]] = None) -> Response:
    return Response(dumps(body), status_code, headers, media_type=JSON)


def _error(status_code: int, detail: str, **extra: Any) -> Response:
    return _json(status_code, {"detail": detail, **extra})


@dataclass
class Call:
    """One control API request being answered."""

    state: EmulatorState
    control: EmulatorControl
    request: Request
    params: Dict[str, str]
    query: ListQuery
    scope: Scope
    receive: Receive
    send: Send

    @property
    def base_url(self) -> str:
        """The emulator's root URL as this client addressed it."""
        return str(self.request.base_url).rstrip("/")


Handler = Callable[[Call], Awaitable[Optional[Response]]]


async def serve_inspection(
    state: EmulatorState, control: EmulatorControl, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one ``/__emulator/...`` request."""
    request = Request(scope, receive)
    path = scope["path"]
    if path == PREFIX.rstrip("/"):
        await RedirectResponse(PREFIX, 308)(scope, receive, send)
        return
    segments = [segment for segment in path[len(PREFIX) :].split("/") if segment]
    response = await _dispatch(state, control, request, segments, scope, receive, send)
    if response is not None:
        await response(scope, receive, send)


async def _dispatch(
    state: EmulatorState,
    control: EmulatorControl,
    request: Request,
    segments: List[str],
    scope: Scope,
    receive: Receive,
    send: Send,
) -> Optional[Response]:
    method = request.method
    allowed = []
    for endpoint, handler in _ROUTES:
        params = endpoint.match(segments)
        if params is None:
            continue
        if endpoint.method != method:
            allowed.append(endpoint.method)
            continue
        items = request.query_params.multi_items()
        try:
            if endpoint.listing is not None:
                query = parse_query(endpoint.listing, items)
            else:
                _refuse_parameters(endpoint, items)
                query = ListQuery()
        except QueryError as exc:
            return _error(400, str(exc), parameter=exc.parameter)
        call = Call(state, control, request, params, query, scope, receive, send)
        return await handler(call)
    where = "/__emulator/" + "/".join(segments)
    if allowed:
        return _json(
            405,
            {"detail": f"Method {method} not allowed for {where}; it allows {', '.join(allowed)}"},
            {"Allow": ", ".join(allowed)},
        )
    return _error(
        404,
        f"No inspection endpoint {method} {where}; GET /__emulator/ lists them "
        "(the reference is at /__emulator/docs)",
    )


def _refuse_parameters(endpoint: Endpoint, items: Iterable[Tuple[str, str]]) -> None:
    for name, _ in items:
        raise QueryError(
            name,
            f"Unknown query parameter {name!r}: {endpoint.method} {endpoint.path} takes none",
        )


# --- lists -----------------------------------------------------------------------------------


def _list_response(
    call: Call,
    listing: Listing,
    entries: Iterable[Tuple[Key, Any]],
    to_json: Callable[[Any], Any],
) -> Response:
    page = paginate(call.query, entries, listing=listing.name)
    headers = {"X-Total-Count": str(page.total)}
    if page.next_cursor is not None:
        headers["X-Next-Cursor"] = page.next_cursor
        next_url = call.request.url.include_query_params(cursor=page.next_cursor)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return _json(200, [to_json(item) for item in page.items], headers)


async def _list_apps(call: Call) -> Response:
    with call.state.lock:
        specs = sorted(call.state.apps.values(), key=lambda spec: spec.name)
    return _list_response(
        call, lists.APPS, [(spec.name, spec) for spec in specs], lambda s: app_info(s).as_dict()
    )


async def _list_jobs(call: Call) -> Response:
    # Filters read the jobs themselves: only the page's jobs are turned into snapshots, which
    # keeps a dashboard watching 10,000 completed jobs cheap for the emulator.
    state = call.state
    entries = [(job.seq, job) for job in state.jobs]
    return _list_response(call, lists.JOBS, entries, lambda job: state.job_info(job).as_dict())


async def _list_requests(call: Call) -> Response:
    with call.state.lock:
        entries = [(entry.seq, entry) for entry in call.state.requests]
    return _list_response(call, lists.REQUESTS, entries, lambda entry: entry.record().as_dict())


async def _list_files(call: Call) -> Response:
    base_url = call.state.base_url
    entries = [(stored.seq, stored) for stored in call.state.files.files()]
    return _list_response(
        call, lists.FILES, entries, lambda stored: stored.info(base_url).as_dict()
    )


async def _list_webhooks(call: Call) -> Response:
    with call.state.lock:
        entries = [(delivery.seq, delivery) for delivery in call.state.webhooks.values()]
    entries.sort(key=lambda pair: pair[0])
    return _list_response(call, lists.WEBHOOKS, entries, lambda d: d.info().as_dict())


async def _list_streams(call: Call) -> Response:
    with call.state.lock:
        entries = [(entry.seq, entry) for entry in call.state.streams]
    return _list_response(call, lists.STREAMS, entries, lambda entry: entry.info().as_dict())


async def _list_faults(call: Call) -> Response:
    entries = [(rule.id, rule) for rule in call.state.faults.rules()]
    return _list_response(call, lists.FAULTS, entries, FaultRule.as_dict)


# --- single items ----------------------------------------------------------------------------


def _job_detail(state: EmulatorState, job: Job) -> Dict[str, Any]:
    detail = state.job_info(job).as_dict()
    response = job.response
    detail["endpoint"] = job.endpoint
    # A completed job keeps its input only as JSON bytes.
    kept = job.input_bytes
    detail["arguments"] = json.loads(kept) if job.arguments is None and kept else job.arguments
    detail["logs"] = [dict(entry) for entry in job.logs]
    detail["result"] = None
    detail["result_text"] = None
    detail["error"] = None
    if response is not None:
        parsed = response.json()
        if parsed is None and response.body:
            detail["result_text"] = response.body[:65536].decode("utf-8", "replace")
        detail["result"] = parsed
        detail["error"] = response.error
    return detail


async def _get_job(call: Call) -> Response:
    request_id = call.params["request_id"]
    with call.state.lock:
        job = call.state.jobs.get(request_id)
        detail = _job_detail(call.state, job) if job is not None else None
    if detail is None:
        return _error(404, f"No job {request_id} (unknown, or expired)")
    return _json(200, detail)


async def _get_file_content(call: Call) -> Response:
    stored = call.state.files.get(call.params["file_id"])
    if stored is None:
        return _error(404, "File not found (unknown, or expired)")
    # Served from the dashboard's origin: a stored HTML or SVG file must not run as its page.
    headers = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
    return stored_file_response(stored, headers=headers)


async def _get_jwks(call: Call) -> Response:
    return _json(200, call.state.signer.jwks())


# --- control ---------------------------------------------------------------------------------


async def _reset(call: Call) -> Response:
    await call.control.reset()
    return _json(200, {"reset": True})


async def _add_fault(call: Call) -> Response:
    try:
        body = json.loads(await call.request.body() or b"{}")
    except ValueError:
        return _error(422, "Body must be a JSON object")
    if not isinstance(body, dict) or "kind" not in body:
        return _error(422, "Body must be a JSON object with at least 'kind'")
    fields: Dict[str, Any] = {key: body.get(key) for key in _FAULT_FIELDS}
    params = dict(body.get("params") or {})
    params.update({k: v for k, v in body.items() if k not in _FAULT_FIELDS and k != "params"})
    try:
        rule = make_rule(fields.pop("kind"), params=params, **fields)
    except (TypeError, ValueError) as exc:
        return _error(422, str(exc))
    call.state.faults.add(rule)
    return _json(200, rule.as_dict())


async def _clear_faults(call: Call) -> Response:
    call.control.clear_faults()
    return _json(200, {"cleared": True})


async def _remove_fault(call: Call) -> Response:
    try:
        rule_id = int(call.params["fault_id"])
    except ValueError:
        return _error(404, "No such fault")
    removed = call.state.faults.remove(rule_id)
    return _json(200 if removed else 404, {"cleared": removed})


# --- documentation ---------------------------------------------------------------------------


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept


def links(base_url: str) -> Dict[str, str]:
    """Where a newcomer goes next."""
    return {
        "dashboard": f"{base_url}/__emulator/ui",
        "control_api": f"{base_url}/__emulator/",
        "reference": f"{base_url}/__emulator/docs",
        "openapi": f"{base_url}/__emulator/openapi.json",
    }


def index(state: EmulatorState, control: EmulatorControl, base_url: str) -> Dict[str, Any]:
    """The ``GET /__emulator/`` document: where everything is."""
    with state.lock:
        apps = sorted(state.apps)
    return {
        "emulator": "fal emulator (fal_client.testing)",
        "version": __version__,
        "url": base_url,
        **links(base_url),
        "services": {
            "run": f"{base_url}/run",
            "queue": f"{base_url}/queue",
            "rest": f"{base_url}/rest",
            "cdn": f"{base_url}/cdn",
            "api": f"{base_url}/api/v1",
        },
        "env": control.env(),
        "apps": apps,
        "fault_kinds": [
            {"kind": kind, "description": KIND_DESCRIPTIONS.get(kind, "")} for kind in sorted(KINDS)
        ],
        "fault_operations": sorted(OPERATIONS),
        "endpoints": [
            {"method": e.method, "path": e.path, "summary": e.summary} for e, _ in _ROUTES
        ],
    }


def openapi_document(base_url: str) -> Schema:
    """The OpenAPI document of the control API, for an emulator at ``base_url``."""
    return build_document(
        [endpoint for endpoint, _ in _ROUTES],
        schemas.SCHEMAS,
        title="fal emulator control API",
        version=__version__,
        description=schemas.API_DESCRIPTION,
        server_url=base_url,
        tags=schemas.TAGS,
    )


def reference_page(base_url: str) -> str:
    """The HTML reference of the control API."""
    return render_reference(
        openapi_document(base_url),
        links=[
            ("Dashboard", "/__emulator/ui"),
            ("OpenAPI document", "/__emulator/openapi.json"),
        ],
    )


async def _get_index(call: Call) -> Response:
    if _wants_html(call.request):
        return Response(reference_page(call.base_url), media_type="text/html")
    return _json(200, index(call.state, call.control, call.base_url))


async def _get_openapi(call: Call) -> Response:
    return _json(200, openapi_document(call.base_url))


async def _get_reference(call: Call) -> Response:
    return Response(reference_page(call.base_url), media_type="text/html")


async def _get_dashboard(call: Call) -> Response:
    return dashboard.page()


async def _get_asset(call: Call) -> Response:
    return dashboard.asset(call.params["asset"])


async def _get_events(call: Call) -> None:
    await dashboard.serve_events(call.state, call.scope, call.receive, call.send)


# --- the table -------------------------------------------------------------------------------

_C = "curl -s '{url}"  # the examples' common start

_ROUTES: List[Tuple[Endpoint, Handler]] = [
    (
        Endpoint(
            "GET",
            "/__emulator/",
            "getIndex",
            "Start here",
            "The index: URLs, environment variables, apps, fault kinds and every endpoint.",
            "JSON by default; a browser (asking for `text/html`) gets the reference page.",
            response=ref("Index"),
            example=_C + "/__emulator/'",
        ),
        _get_index,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/openapi.json",
            "getOpenAPI",
            "Start here",
            "This API as an OpenAPI 3.1 document.",
            response={"type": "object"},
            example=_C + "/__emulator/openapi.json'",
        ),
        _get_openapi,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/docs",
            "getReference",
            "Start here",
            "This API's reference, as a web page.",
            response={"type": "string"},
            media_type="text/html",
        ),
        _get_reference,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/ui",
            "getDashboard",
            "Start here",
            "The live dashboard.",
            "Apps, the queue with positions and live logs, results and errors, requests with "
            "status and timing, stored files with image previews, webhook deliveries, faults "
            "(add and remove them) and realtime connections. Served by the package: it needs "
            "no network.",
            response={"type": "string"},
            media_type="text/html",
        ),
        _get_dashboard,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/ui/{asset}",
            "getDashboardAsset",
            "Start here",
            "The dashboard's script and style sheet.",
            response={"type": "string"},
            media_type="text/plain",
            path_params={"asset": f"One of {', '.join(dashboard.ASSETS)}."},
            errors={404: "No such asset."},
        ),
        _get_asset,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/events",
            "getEvents",
            "Start here",
            "Live change notifications (Server-Sent Events).",
            "A `hello` event first, then a `change` event whenever something changed, carrying "
            '`{"topics": [...]}` (of `apps`, `jobs`, `requests`, `files`, `webhooks`, `streams`, '
            "`faults`, and `reset`); bursts are coalesced to a few events a second. Fetch the "
            "lists that changed. The dashboard updates itself this way.",
            response={"type": "string"},
            media_type="text/event-stream",
            errors={503: "The emulator is stopping."},
            example="curl -sN '{url}/__emulator/events'",
        ),
        _get_events,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/apps",
            "listApps",
            "Inspect",
            "The registered apps, by name, with their descriptions and inputs.",
            response=array_of("AppInfo"),
            listing=lists.APPS,
            example=_C + "/__emulator/apps?kind=plain'",
        ),
        _list_apps,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/jobs",
            "listJobs",
            "Inspect",
            "Jobs (queue, run and stream requests), oldest first, with queue positions.",
            response=array_of("JobInfo"),
            listing=lists.JOBS,
            example=_C + "/__emulator/jobs?app=fal-ai/slow&status=IN_QUEUE,IN_PROGRESS'",
        ),
        _list_jobs,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/jobs/{request_id}",
            "getJob",
            "Inspect",
            "One job with its logs, input and result.",
            response=ref("JobDetail"),
            path_params={"request_id": "The fal request id."},
            errors={404: "No such job (or it expired)."},
            example=_C + "/__emulator/jobs/$REQUEST_ID'",
        ),
        _get_job,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/requests",
            "listRequests",
            "Inspect",
            "The HTTP and WebSocket requests received (not those under /__emulator/).",
            "Up to `max_recorded_requests` (oldest drop off), with status and duration.",
            response=array_of("RequestRecord"),
            listing=lists.REQUESTS,
            example=_C + "/__emulator/requests?status=5xx&order=desc&limit=20'",
        ),
        _list_requests,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/files",
            "listFiles",
            "Inspect",
            "The files held by the emulated CDN.",
            response=array_of("FileInfo"),
            listing=lists.FILES,
            example=_C + "/__emulator/files?app=fal-ai/fast-sdxl'",
        ),
        _list_files,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/files/{file_id}/content",
            "getFileContent",
            "Inspect",
            "A stored file's bytes (neither recorded nor faulted, unlike its CDN URL).",
            response={"type": "string", "format": "binary"},
            media_type="application/octet-stream",
            path_params={"file_id": "The file's `file_id`."},
            errors={404: "No such file (or it expired)."},
        ),
        _get_file_content,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/webhooks",
            "listWebhooks",
            "Inspect",
            "Webhook deliveries, in the order their jobs completed.",
            response=array_of("WebhookDelivery"),
            listing=lists.WEBHOOKS,
            example=_C + "/__emulator/webhooks?status=failed'",
        ),
        _list_webhooks,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/streams",
            "listStreams",
            "Inspect",
            "Streams: `/stream` and status-stream SSE responses, realtime WebSocket sessions.",
            "The last 1000.",
            response=array_of("StreamInfo"),
            listing=lists.STREAMS,
            example=_C + "/__emulator/streams?kind=realtime&status=open'",
        ),
        _list_streams,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/jwks",
            "getJWKS",
            "Inspect",
            "The JWKS whose key signs webhooks (also at /rest/.well-known/jwks.json).",
            response={"type": "object"},
        ),
        _get_jwks,
    ),
    (
        Endpoint(
            "GET",
            "/__emulator/faults",
            "listFaults",
            "Control",
            "The injected faults, oldest first, with how often each fired.",
            response=array_of("Fault"),
            listing=lists.FAULTS,
            example=_C + "/__emulator/faults?status=active'",
        ),
        _list_faults,
    ),
    (
        Endpoint(
            "POST",
            "/__emulator/faults",
            "addFault",
            "Control",
            "Inject a fault into the requests it matches.",
            "Every request consults the faults once, after it was classified and before auth.",
            response=ref("Fault"),
            request_body=ref("FaultRequest"),
            errors={422: "Not a fault: unknown kind or operation, or a bad value."},
            example="curl -s -X POST '{url}/__emulator/faults' -H 'Content-Type: application/json'"
            ' -d \'{"kind": "ingress_503", "operation": "submit", "count": 1}\'',
        ),
        _add_fault,
    ),
    (
        Endpoint(
            "DELETE",
            "/__emulator/faults",
            "clearFaults",
            "Control",
            "Remove every fault.",
            response=schemas.BOOL_CLEARED,
            example="curl -s -X DELETE '{url}/__emulator/faults'",
        ),
        _clear_faults,
    ),
    (
        Endpoint(
            "DELETE",
            "/__emulator/faults/{fault_id}",
            "removeFault",
            "Control",
            "Remove one fault.",
            response=schemas.BOOL_CLEARED,
            path_params={"fault_id": "The fault's `id`."},
            errors={404: "No such fault."},
            example="curl -s -X DELETE '{url}/__emulator/faults/1'",
        ),
        _remove_fault,
    ),
    (
        Endpoint(
            "POST",
            "/__emulator/reset",
            "reset",
            "Control",
            "Forget jobs, requests, files, webhooks, streams and faults; keep the apps.",
            "Live jobs are cancelled first; it answers once they have unwound. A request parked "
            "in an injected delay is answered 503 rather than handled after the reset.",
            response={
                "type": "object",
                "properties": {"reset": {"type": "boolean"}},
                "required": ["reset"],
            },
            example="curl -s -X POST '{url}/__emulator/reset'",
        ),
        _reset,
    ),
]

#: Every endpoint of the control API.
ENDPOINTS: Tuple[Endpoint, ...] = tuple(endpoint for endpoint, _ in _ROUTES)


# --- the root: where a newcomer lands ----------------------------------------------------------


async def serve_root(
    state: EmulatorState, control: EmulatorControl, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer ``GET /``: what this server is and where to go (JSON, or HTML for a browser);
    and a browser's ``GET /favicon.ico`` (there is none)."""
    if scope["path"] == "/favicon.ico":
        await Response(status_code=204)(scope, receive, send)
        return
    request = Request(scope, receive)
    base_url = str(request.base_url).rstrip("/")
    if request.method not in ("GET", "HEAD"):
        response: Response = _error(405, "Only GET / is served here; see GET /__emulator/")
    elif _wants_html(request):
        response = Response(_root_page(state, control, base_url), media_type="text/html")
    else:
        response = _json(200, _root_document(control, base_url))
    await response(scope, receive, send)


def _root_document(control: EmulatorControl, base_url: str) -> Dict[str, Any]:
    return {
        "detail": (
            "This is a fal emulator. The fal services are under /run, /queue, /rest, /cdn and "
            "/api/v1 (the platform API); "
            "the control API is under /__emulator/ (GET it for an index), its reference at "
            "/__emulator/docs, and a live dashboard at /__emulator/ui."
        ),
        **links(base_url),
        "env": control.env(),
    }


def _root_page(state: EmulatorState, control: EmulatorControl, base_url: str) -> str:
    env = control.env()
    exports = "\n".join(f"export {name}={value}" for name, value in env.items())
    with state.lock:
        apps = sorted(state.apps)
    app_items = "".join(f"<li><code>{html.escape(name)}</code></li>" for name in apps)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fal emulator</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 760px; margin: 40px auto;
  padding: 0 20px; color: #1d2330; }}
a.button {{ display: inline-block; padding: 8px 14px; margin: 4px 8px 4px 0; border-radius: 6px;
  background: #4b3fd6; color: #fff; text-decoration: none; }}
pre {{ background: #f3f4f8; padding: 10px 12px; border-radius: 6px; overflow: auto; }}
code, pre {{ font: 14px ui-monospace, Menlo, Consolas, monospace; }}
</style></head><body>
<h1>fal emulator</h1>
<p>A local, fal-compatible server at <code>{html.escape(base_url)}</code>: fal.run under
<code>/run</code>, queue.fal.run under <code>/queue</code>, rest.fal.ai under <code>/rest</code>,
the CDN under <code>/cdn</code> and the platform API (api.fal.ai/v1) under <code>/api/v1</code>.</p>
<p><a class="button" href="/__emulator/ui">Open the dashboard</a>
<a class="button" href="/__emulator/docs">Control API reference</a>
<a class="button" href="/__emulator/openapi.json">OpenAPI document</a></p>
<h2>Point a fal client here</h2>
<pre>{html.escape(exports)}</pre>
<h2>Apps</h2><ul>{app_items}</ul>
</body></html>
"""
