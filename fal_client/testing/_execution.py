"""Calling an app's function for one request and turning the outcome into a response."""

from __future__ import annotations

import functools
from typing import Any, Optional

import anyio
import anyio.to_thread
from anyio.abc import ObjectSendStream

from ._apps import STREAMING, AppContext, AppSpec
from ._errors import AppError
from ._responses import StoredResponse, cancelled, from_app_error, from_crash, success

_DONE = object()


async def call_app(
    spec: AppSpec, arguments: Any, ctx: AppContext, sink: Optional[ObjectSendStream[Any]]
) -> Any:
    """Run the app and return its result: the return value, or a streaming app's last item.

    Every item a streaming app yields (or a plain app's single result) is also sent to ``sink``
    when a ``/stream`` request is listening. Synchronous functions run in a worker thread; if the
    request is cancelled they are abandoned there (a thread cannot be interrupted).
    """
    fn = spec.fn
    if spec.kind == STREAMING:
        last: Any = None
        if spec.is_async:
            generator = fn(arguments, ctx)
            try:
                async for item in generator:
                    last = item
                    if sink is not None:
                        await sink.send(item)
            finally:
                await generator.aclose()
        else:
            iterator = iter(fn(arguments, ctx))
            while True:
                item = await anyio.to_thread.run_sync(next, iterator, _DONE, abandon_on_cancel=True)
                if item is _DONE:
                    break
                last = item
                if sink is not None:
                    await sink.send(item)
        return last
    if spec.is_async:
        result = await fn(arguments, ctx)
    else:
        result = await anyio.to_thread.run_sync(
            functools.partial(fn, arguments, ctx), abandon_on_cancel=True
        )
    if sink is not None:
        await sink.send(result)
    return result


async def execute(
    spec: AppSpec,
    arguments: Any,
    ctx: AppContext,
    sink: Optional[ObjectSendStream[Any]],
    latency: float,
) -> StoredResponse:
    """Run the app and map its outcome to the response fal would give.

    Cancellation is not caught: it propagates to the caller's cancel scope.
    """
    try:
        if latency > 0:
            await anyio.sleep(latency)
        result = await call_app(spec, arguments, ctx, sink)
    except AppError as exc:
        return from_app_error(exc)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        # The /stream client went away while the app was sending: the request is cancelled.
        return cancelled()
    except Exception as exc:  # an app crash is a 500, like an unhandled error in a fal app
        return from_crash(exc)
    try:
        return success(result)
    except (TypeError, ValueError) as exc:
        return from_crash(exc)
