"""The sync run service (``/run`` = fal.run): a plain run, and its SSE ``/stream`` variant.

Runs go through the same per-app queue and workers as queued jobs (a runner serves one request
at a time either way), and show up in ``Emulator.jobs()``. If the client disconnects before the
answer, the app's task is cancelled.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Optional

import anyio
from starlette.responses import Response

from ._exchange import Exchange, replay
from ._job_factory import make_job
from ._jobs import COMPLETED, VIA_RUN, VIA_STREAM, Job
from ._routing import Route
from ._sse import serve_sse, sse_event

# Items a streaming app may run ahead of a slow /stream client before its sends block.
_STREAM_BUFFER = 64


async def _arguments(ex: Exchange) -> Any:
    if ex.method == "GET":
        # fal's JS client sends a GET run's input as query parameters.
        return {key: value for key, value in ex.query.items() if key != "fal_jwt_token"}
    return await ex.json_body(default={})


async def _wait_completed(job: Job) -> None:
    while job.status != COMPLETED:
        await job.changed().wait()


async def run(ex: Exchange, route: Route) -> Optional[Response]:
    """``POST /run/{app id}[/{path}]``: run the app and answer with its response."""
    job = make_job(ex, route, VIA_RUN, await _arguments(ex))
    ex.runner.start(job)
    client_gone = False

    async def cancel_if_client_leaves() -> None:
        nonlocal client_gone
        await ex.wait_disconnect()
        client_gone = True
        ex.runner.cancel(job)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(cancel_if_client_leaves)
        await _wait_completed(job)
        task_group.cancel_scope.cancel()
    if client_gone or job.response is None:
        return None
    return replay(job.response, job.request_id)


async def stream(ex: Exchange, route: Route) -> Optional[Response]:
    """``POST /run/{app id}/stream``: SSE, one ``data:`` event per yielded item.

    If the app fails before its first item, the answer is its plain JSON error response (not
    SSE); if it fails later, the connection is dropped mid-stream, as a crashing server would.
    """
    job = make_job(ex, route, VIA_STREAM, await _arguments(ex))
    send_items, receive_items = anyio.create_memory_object_stream[Any](_STREAM_BUFFER)
    job.sink = send_items
    ex.runner.start(job)
    first: Any = None
    got_first = False
    client_gone = False

    async def cancel_if_client_leaves() -> None:
        nonlocal client_gone
        await ex.wait_disconnect()
        client_gone = True
        ex.runner.cancel(job)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(cancel_if_client_leaves)
        try:
            first = await receive_items.receive()
            got_first = True
        except anyio.EndOfStream:
            pass
        task_group.cancel_scope.cancel()
    if client_gone:
        receive_items.close()
        return None
    if not got_first:
        receive_items.close()
        await _wait_completed(job)
        assert job.response is not None
        if job.response.failed:
            return replay(job.response, job.request_id)

    async def events() -> AsyncIterator[bytes]:
        with receive_items:
            if got_first:
                yield sse_event(first)
            async for item in receive_items:
                yield sse_event(item)
        await _wait_completed(job)

    def crashed_mid_stream() -> bool:
        return job.response is not None and job.response.failed

    def cancel_job() -> None:
        ex.runner.cancel(job)

    entry = ex.state.open_stream(job.app, job.request_id, "stream")
    try:
        await serve_sse(
            ex,
            entry,
            events(),
            request_id=job.request_id,
            on_client_gone=cancel_job,
            drop_at_end=crashed_mid_stream,
        )
    finally:
        receive_items.close()
        # Normally the job closes its end on completion; this covers a handler torn down first.
        send_items.close()
    return None
