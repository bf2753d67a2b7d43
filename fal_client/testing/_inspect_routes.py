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
from . import _dashboard as dashboard
from ._apps import app_info
from ._faults import KIND_DESCRIPTIONS, KINDS, OPERATIONS, FaultRule, make_rule
from ._jobs import COMPLETED, IN_PROGRESS, IN_QUEUE, Job
from ._listing import (
    Filter,
    Key,
    Listing,
    ListQuery,
    QueryError,
    app_filter,
    choice_filter,
    equals_filter,
    paginate,
    parse_query,
    parse_status_code,
    since_filter,
    status_code_matches,
)
from ._openapi import (
    Endpoint,
    Schema,
    array_of,
    build_document,
    record_schema,
    ref,
    render_reference,
)
from ._records import AppInfo, FileInfo, JobInfo, RequestRecord, StreamInfo, WebhookDelivery
from ._responses import dumps
from ._storage_routes import stored_file_response

if TYPE_CHECKING:
    from ._emulator import Emulator
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

    emulator: Emulator
    request: Request
    params: Dict[str, str]
    query: ListQuery
    scope: Scope
    receive: Receive
    send: Send

    @property
    def state(self) -> EmulatorState:
        """The emulator's state."""
        return self.emulator._state

    @property
    def base_url(self) -> str:
        """The emulator's root URL as this client addressed it."""
        return str(self.request.base_url).rstrip("/")


Handler = Callable[[Call], Awaitable[Optional[Response]]]


async def serve_inspection(emulator: Emulator, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one ``/__emulator/...`` request."""
    request = Request(scope, receive)
    path = scope["path"]
    if path == PREFIX.rstrip("/"):
        await RedirectResponse(PREFIX, 308)(scope, receive, send)
        return
    segments = [segment for segment in path[len(PREFIX) :].split("/") if segment]
    response = await _dispatch(emulator, request, segments, scope, receive, send)
    if response is not None:
        await response(scope, receive, send)


async def _dispatch(
    emulator: Emulator,
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
        call = Call(emulator, request, params, query, scope, receive, send)
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


def _job_status(job: Job, status: str) -> bool:
    if status == "CANCELLED":
        return job.cancelled
    if status == "FAILED":
        return job.status == COMPLETED and (job.status_code or 0) >= 400
    return job.status == status


def _request_id_filter(what: str) -> Filter:
    return equals_filter("request_id", "request_id", f"Only {what} of this fal request id.")


JOBS = Listing(
    "jobs",
    (
        app_filter(),
        choice_filter(
            "status",
            "Only jobs in this state: fal's `IN_QUEUE`, `IN_PROGRESS`, `COMPLETED`, or "
            "`CANCELLED` (a cancel was requested) and `FAILED` (completed with a status >= 400).",
            (IN_QUEUE, IN_PROGRESS, COMPLETED, "CANCELLED", "FAILED"),
            _job_status,
        ),
        since_filter("submitted_at", "submitted"),
        _request_id_filter("the job"),
        choice_filter(
            "via",
            "Only jobs made this way: `queue`, `run` or `stream`.",
            ("queue", "run", "stream"),
            lambda job, via: job.via == via,
        ),
    ),
)

REQUESTS = Listing(
    "requests",
    (
        app_filter(),
        Filter(
            "status",
            "Only requests answered with this HTTP status (`404`) or class (`4xx`).",
            {"type": "string", "examples": ["404", "5xx"]},
            parse_status_code,
            lambda entry, pattern: status_code_matches(entry.status_code, pattern),
        ),
        since_filter("timestamp", "received"),
        _request_id_filter("requests"),
        choice_filter(
            "operation",
            "Only requests of this fal operation.",
            sorted(OPERATIONS),
            lambda entry, operation: entry.operation == operation,
        ),
    ),
)

FILES = Listing(
    "files",
    (
        app_filter(),
        since_filter("created_at", "stored"),
        _request_id_filter("files written by the app"),
        choice_filter(
            "source",
            "Only files that got there this way.",
            ("cdn", "cdn-multipart", "signed", "signed-multipart", "app"),
            lambda stored, source: stored.source == source,
        ),
    ),
)


def _webhook_state(delivery: Any) -> str:
    if delivery.delivered:
        return "delivered"
    return "failed" if delivery.finished else "pending"


WEBHOOKS = Listing(
    "webhooks",
    (
        app_filter(),
        choice_filter(
            "status",
            "`delivered` (a 2xx arrived), `failed` (refused or out of attempts) or `pending`.",
            ("delivered", "failed", "pending"),
            lambda delivery, status: _webhook_state(delivery) == status,
        ),
        since_filter("created_at", "begun"),
        _request_id_filter("the webhook"),
    ),
)

STREAMS = Listing(
    "streams",
    (
        app_filter(),
        choice_filter(
            "status",
            "`open` or `finished`.",
            ("open", "finished"),
            lambda entry, status: ("finished" if entry.finished else "open") == status,
        ),
        since_filter("opened_at", "opened"),
        _request_id_filter("streams"),
        choice_filter(
            "kind",
            "`stream` (`/stream`), `status_stream` (queue status SSE) or `realtime` (WebSocket).",
            ("stream", "status_stream", "realtime"),
            lambda entry, kind: entry.kind == kind,
        ),
    ),
)


def _fault_state(rule: FaultRule) -> str:
    return "exhausted" if rule.remaining == 0 else "active"


FAULTS = Listing(
    "faults",
    (
        app_filter(),
        choice_filter(
            "status",
            "`active` (may still fire) or `exhausted` (its `count` is used up).",
            ("active", "exhausted"),
            lambda rule, status: _fault_state(rule) == status,
        ),
        since_filter("created_at", "added"),
        choice_filter(
            "kind",
            "Only faults of this kind.",
            sorted(KINDS),
            lambda rule, kind: rule.kind == kind,
        ),
    ),
)

APPS = Listing(
    "apps",
    (
        app_filter("name"),
        choice_filter(
            "kind",
            "`plain`, `streaming` (a generator) or `realtime`.",
            ("plain", "streaming", "realtime"),
            lambda spec, kind: spec.kind == kind,
        ),
    ),
)


async def _list_apps(call: Call) -> Response:
    with call.state.lock:
        specs = sorted(call.state.apps.values(), key=lambda spec: spec.name)
    return _list_response(
        call, APPS, [(spec.name, spec) for spec in specs], lambda s: app_info(s).as_dict()
    )


async def _list_jobs(call: Call) -> Response:
    # Filters read the jobs themselves: only the page's jobs are turned into snapshots, which
    # keeps a dashboard watching 10,000 completed jobs cheap for the emulator.
    state = call.state
    entries = [(job.seq, job) for job in state.jobs]
    return _list_response(call, JOBS, entries, lambda job: state.job_info(job).as_dict())


async def _list_requests(call: Call) -> Response:
    with call.state.lock:
        entries = [(entry.seq, entry) for entry in call.state.requests]
    return _list_response(call, REQUESTS, entries, lambda entry: entry.record().as_dict())


async def _list_files(call: Call) -> Response:
    base_url = call.state.base_url
    entries = [(stored.seq, stored) for stored in call.state.files.files()]
    return _list_response(call, FILES, entries, lambda stored: stored.info(base_url).as_dict())


async def _list_webhooks(call: Call) -> Response:
    with call.state.lock:
        entries = [(delivery.seq, delivery) for delivery in call.state.webhooks.values()]
    entries.sort(key=lambda pair: pair[0])
    return _list_response(call, WEBHOOKS, entries, lambda d: d.info().as_dict())


async def _list_streams(call: Call) -> Response:
    with call.state.lock:
        entries = [(entry.seq, entry) for entry in call.state.streams]
    return _list_response(call, STREAMS, entries, lambda entry: entry.info().as_dict())


async def _list_faults(call: Call) -> Response:
    entries = [(rule.id, rule) for rule in call.state.faults.rules()]
    return _list_response(call, FAULTS, entries, FaultRule.as_dict)


# --- single items ----------------------------------------------------------------------------


def _job_detail(state: EmulatorState, job: Job) -> Dict[str, Any]:
    detail = state.job_info(job).as_dict()
    response = job.response
    detail["endpoint"] = job.endpoint
    detail["arguments"] = job.arguments
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
    await call.emulator._reset_on_loop()
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
    call.emulator.clear_faults()
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


def index(emulator: Emulator, base_url: str) -> Dict[str, Any]:
    """The ``GET /__emulator/`` document: where everything is."""
    with emulator._state.lock:
        apps = sorted(emulator._state.apps)
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
        },
        "env": emulator.env if emulator.running else {},
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
        SCHEMAS,
        title="fal emulator control API",
        version=__version__,
        description=_API_DESCRIPTION,
        server_url=base_url,
        tags=_TAGS,
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
    return _json(200, index(call.emulator, call.base_url))


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

_API_DESCRIPTION = (
    "Inspect and steer a running fal emulator over HTTP, without credentials: what it "
    "received (`requests`), ran (`jobs`), stored (`files`), streamed (`streams`) and "
    "delivered (`webhooks`); inject and remove `faults`; `reset` it. The fal services "
    "themselves are at `/run`, `/queue`, `/rest` and `/cdn` (with `Authorization: Key ...`).\n\n"
    "Every list is a JSON array, oldest first, and takes `limit`, `cursor` and `order`, plus "
    "the filters it lists (`app`, `status`, `since`, ...). A page that is not the last says so "
    'in `Link: <...>; rel="next"` and `X-Next-Cursor`; `X-Total-Count` counts every match. '
    "A query parameter an endpoint does not take is a 400 naming it. The live dashboard is at "
    "[/__emulator/ui](/__emulator/ui)."
)

_TAGS = [
    ("Start here", "The index, this document, the dashboard and its live change events."),
    ("Inspect", "What the emulator holds and saw; every list is filtered and paged alike."),
    ("Control", "Faults and reset."),
]

_BOOL_CLEARED: Schema = {
    "type": "object",
    "properties": {"cleared": {"type": "boolean"}},
    "required": ["cleared"],
}

_FAULT_SCHEMA: Schema = {
    "type": "object",
    "description": "An injected fault rule and how often it fired.",
    "properties": {
        "id": {"type": "integer", "description": "Its id (for `DELETE /__emulator/faults/{id}`)."},
        "kind": {"type": "string", "enum": sorted(KINDS), "description": "What goes wrong."},
        "app": {"type": ["string", "null"], "description": "Only requests to this app id."},
        "operation": {
            "type": ["string", "null"],
            "description": "Only requests of this fal operation.",
        },
        "count": {"type": ["integer", "null"], "description": "Fires this many times at most."},
        "probability": {
            "type": ["number", "null"],
            "description": "Fires on each matching request with this probability.",
        },
        "seed": {"type": ["integer", "null"], "description": "Seeds the probability's RNG."},
        "params": {"type": "object", "description": "The kind's parameters."},
        "applied": {"type": "integer", "description": "How many requests it hit."},
        "remaining": {
            "type": ["integer", "null"],
            "description": "How many more it may hit (null: unlimited).",
        },
        "created_at": {"type": "number", "description": "Wall-clock time it was added."},
    },
    "required": [
        "id",
        "kind",
        "app",
        "operation",
        "count",
        "probability",
        "seed",
        "params",
        "applied",
        "remaining",
        "created_at",
    ],
}

_FAULT_REQUEST: Schema = {
    "type": "object",
    "description": (
        "A fault to add. Kinds: "
        + "; ".join(f"`{kind}`: {KIND_DESCRIPTIONS[kind]}" for kind in sorted(KINDS))
        + " The kind's parameters go in `params` or at the top level."
    ),
    "properties": {
        "kind": {"type": "string", "enum": sorted(KINDS)},
        "app": {"type": ["string", "null"]},
        "operation": {"type": ["string", "null"], "enum": [*sorted(OPERATIONS), None]},
        "count": {"type": ["integer", "null"], "minimum": 0},
        "probability": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "seed": {"type": ["integer", "null"]},
        "params": {"type": "object"},
    },
    "required": ["kind"],
    "additionalProperties": True,
}

_JOB_DETAIL: Schema = {
    "allOf": [
        ref("JobInfo"),
        {
            "type": "object",
            "properties": {
                "endpoint": {"type": "string", "description": "The endpoint id addressed."},
                "arguments": {"description": "Its input, kept until it completes (then null)."},
                "logs": {
                    "type": "array",
                    "items": {"type": "object", "additionalProperties": {"type": "string"}},
                    "description": "The log lines its app wrote so far.",
                },
                "result": {"description": "Its JSON result body (errors too), once completed."},
                "result_text": {
                    "type": ["string", "null"],
                    "description": "The result body as text when it is not JSON (first 64 KiB).",
                },
                "error": {
                    "type": ["string", "null"],
                    "description": "The error message of a failed job.",
                },
            },
            "required": ["endpoint", "arguments", "logs", "result", "result_text", "error"],
        },
    ]
}

_INDEX: Schema = {
    "type": "object",
    "description": "Where everything is.",
    "properties": {
        "emulator": {"type": "string"},
        "version": {"type": "string"},
        "url": {"type": "string", "description": "The emulator's root URL."},
        "dashboard": {"type": "string"},
        "control_api": {"type": "string"},
        "reference": {"type": "string"},
        "openapi": {"type": "string"},
        "services": {"type": "object", "additionalProperties": {"type": "string"}},
        "env": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Environment variables pointing a fal client here.",
        },
        "apps": {"type": "array", "items": {"type": "string"}},
        "fault_kinds": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"kind": {"type": "string"}, "description": {"type": "string"}},
            },
        },
        "fault_operations": {"type": "array", "items": {"type": "string"}},
        "endpoints": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "method": {"type": "string"},
                    "path": {"type": "string"},
                    "summary": {"type": "string"},
                },
            },
        },
    },
    "required": ["url", "dashboard", "reference", "openapi", "env", "apps", "endpoints"],
}

SCHEMAS: Dict[str, Schema] = {
    "Index": _INDEX,
    "AppInfo": record_schema(AppInfo),
    "JobInfo": record_schema(JobInfo),
    "JobDetail": _JOB_DETAIL,
    "RequestRecord": record_schema(RequestRecord),
    "FileInfo": record_schema(FileInfo),
    "WebhookDelivery": record_schema(WebhookDelivery),
    "StreamInfo": record_schema(StreamInfo),
    "Fault": _FAULT_SCHEMA,
    "FaultRequest": _FAULT_REQUEST,
}

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
            listing=APPS,
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
            listing=JOBS,
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
            listing=REQUESTS,
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
            listing=FILES,
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
            listing=WEBHOOKS,
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
            listing=STREAMS,
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
            listing=FAULTS,
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
            response=_BOOL_CLEARED,
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
            response=_BOOL_CLEARED,
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
            "Live jobs are cancelled first; it answers once they have unwound.",
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


async def serve_root(emulator: Emulator, scope: Scope, receive: Receive, send: Send) -> None:
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
        response = Response(_root_page(emulator, base_url), media_type="text/html")
    else:
        response = _json(200, _root_document(emulator, base_url))
    await response(scope, receive, send)


def _root_document(emulator: Emulator, base_url: str) -> Dict[str, Any]:
    return {
        "detail": (
            "This is a fal emulator. The fal services are under /run, /queue, /rest and /cdn; "
            "the control API is under /__emulator/ (GET it for an index), its reference at "
            "/__emulator/docs, and a live dashboard at /__emulator/ui."
        ),
        **links(base_url),
        "env": emulator.env if emulator.running else {},
    }


def _root_page(emulator: Emulator, base_url: str) -> str:
    env = emulator.env if emulator.running else {}
    exports = "\n".join(f"export {name}={value}" for name, value in env.items())
    with emulator._state.lock:
        apps = sorted(emulator._state.apps)
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
<code>/run</code>, queue.fal.run under <code>/queue</code>, rest.fal.ai under <code>/rest</code>
and the CDN under <code>/cdn</code>.</p>
<p><a class="button" href="/__emulator/ui">Open the dashboard</a>
<a class="button" href="/__emulator/docs">Control API reference</a>
<a class="button" href="/__emulator/openapi.json">OpenAPI document</a></p>
<h2>Point a fal client here</h2>
<pre>{html.escape(exports)}</pre>
<h2>Apps</h2><ul>{app_items}</ul>
</body></html>
"""
