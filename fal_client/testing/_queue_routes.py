"""The queue service (``/queue`` = queue.fal.run): submit, status, status stream, result, cancel."""

from __future__ import annotations

from typing import Any, AsyncIterator, Dict, Optional

from starlette.responses import Response

from ._exchange import Exchange, detail_response, json_response, new_request_id, replay
from ._job_factory import make_job
from ._jobs import COMPLETED, IN_QUEUE, VIA_QUEUE, Job
from ._routing import Route
from ._runner import ALREADY_COMPLETED
from ._sse import serve_sse, sse_event

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _logs_flag(ex: Exchange) -> Optional[bool]:
    raw = ex.query.get("logs")
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def status_body(
    job: Job, base_url: str, position: Optional[int], *, logs: Optional[list[Any]]
) -> Dict[str, Any]:
    """A status object shaped like fal's (the ``logs`` key is always present)."""
    request_url = f"{base_url}/queue/{job.root}/requests/{job.request_id}"
    body: Dict[str, Any] = {
        "status": job.status,
        "request_id": job.request_id,
        "response_url": request_url,
        "status_url": request_url + "/status",
        "cancel_url": request_url + "/cancel",
        "logs": logs,
    }
    if job.status == IN_QUEUE:
        body["queue_position"] = position if position is not None else 0
    elif job.status == COMPLETED:
        started, finished = job.started_monotonic, job.finished_monotonic
        body["metrics"] = (
            {"inference_time": finished - started}
            if started is not None and finished is not None
            else {}
        )
        response = job.response
        if response is not None and response.failed:
            body["error"] = response.error
            body["error_type"] = response.error_type
    return body


def _find_job(ex: Exchange, route: Route) -> Optional[Job]:
    request = route.queue_request
    assert request is not None
    job = ex.state.jobs.get(request.request_id)
    if job is None or job.via != VIA_QUEUE or job.root != request.root:
        return None
    return job


async def submit(ex: Exchange, route: Route) -> Optional[Response]:
    """``POST /queue/{app id}[/{path}][?fal_webhook=...]``: enqueue a job, answer IN_QUEUE."""
    arguments = await ex.json_body(default={})
    job = make_job(ex, route, VIA_QUEUE, arguments)
    position = ex.runner.start(job)
    if ex.fault.kind == "reset_after_submit":
        # The job exists and runs, but the client never learns its id.
        await ex.drop_connection()
        return None
    body = status_body(job, ex.base_url, position, logs=None)
    body["status"] = IN_QUEUE
    body["queue_position"] = position
    body["gateway_request_id"] = job.request_id
    del body["logs"]
    return json_response(200, body, request_id=job.request_id)


async def status(ex: Exchange, route: Route) -> Optional[Response]:
    """``GET .../requests/{id}/status?logs=...``: 202 while waiting, 200 once COMPLETED."""
    job = _find_job(ex, route)
    if job is None:
        return detail_response(404, "Request not found", request_id=new_request_id())
    ex.entry.request_id = job.request_id
    with_logs = _logs_flag(ex)
    if with_logs is None:
        return detail_response(422, "Invalid value for 'logs'", request_id=job.request_id)
    with ex.state.lock:
        logs = list(job.logs) if with_logs else None
        body = status_body(job, ex.base_url, ex.runner.position(job), logs=logs)
    return json_response(200 if job.status == COMPLETED else 202, body, request_id=job.request_id)


async def status_stream(ex: Exchange, route: Route) -> Optional[Response]:
    """``GET .../requests/{id}/status/stream``: SSE, one status per change, COMPLETED last.

    Each event carries the log lines that are new since the previous event, or every line so
    far when the emulator's ``stream_logs`` is ``"all"``.
    """
    job = _find_job(ex, route)
    if job is None:
        return detail_response(404, "Request not found", request_id=new_request_id())
    ex.entry.request_id = job.request_id
    with_logs = _logs_flag(ex)
    if with_logs is None:
        return detail_response(422, "Invalid value for 'logs'", request_id=job.request_id)
    state = ex.state
    runner = ex.runner
    base_url = ex.base_url
    entry = state.open_stream(job.app, job.request_id, "status_stream")

    async def events() -> AsyncIterator[bytes]:
        logs_sent = 0
        last_key: Any = None
        state.position_watchers += 1
        try:
            while True:
                changed = job.changed()
                position = runner.position(job)
                with state.lock:
                    upto = len(job.logs)
                    start = 0 if state.config.stream_logs == "all" else logs_sent
                    logs = job.logs[start:upto] if with_logs else None
                    key = (job.status, position, upto if with_logs else 0)
                    body = status_body(job, base_url, position, logs=logs)
                if key != last_key:
                    last_key = key
                    logs_sent = upto
                    yield sse_event(body)
                if job.status == COMPLETED:
                    return
                await changed.wait()
        finally:
            state.position_watchers -= 1

    await serve_sse(ex, entry, events(), request_id=job.request_id)
    return None


async def result(ex: Exchange, route: Route) -> Optional[Response]:
    """``GET .../requests/{id}``: 400 before completion, then the app's own response."""
    job = _find_job(ex, route)
    if job is None:
        return detail_response(404, "Request not found", request_id=new_request_id())
    ex.entry.request_id = job.request_id
    if job.status != COMPLETED or job.response is None:
        return detail_response(400, "Request is still in progress", request_id=job.request_id)
    return replay(job.response, job.request_id)


async def cancel(ex: Exchange, route: Route) -> Optional[Response]:
    """``PUT .../requests/{id}/cancel``: 202, 400 ALREADY_COMPLETED or 404 NOT_FOUND."""
    job = _find_job(ex, route)
    if job is None:
        return json_response(404, {"status": "NOT_FOUND"}, request_id=new_request_id())
    ex.entry.request_id = job.request_id
    outcome = ex.runner.cancel(job)
    code = 400 if outcome == ALREADY_COMPLETED else 202
    return json_response(code, {"status": outcome}, request_id=job.request_id)


async def subpath_not_allowed(ex: Exchange, route: Route) -> Optional[Response]:
    """fal answers 405 when a per-request URL keeps the endpoint sub-path."""
    return detail_response(
        405,
        "Method Not Allowed: status, result and cancel URLs use only the app owner and alias",
        request_id=new_request_id(),
    )
