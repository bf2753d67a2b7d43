"""The run resource: ``run`` (a direct call of an app on fal.run) and ``stream`` (its SSE)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Optional

import anyio

from . import _sse as sse
from . import _validate as check
from ._aclosing import aclosing
from ._autoupload import as_sent, check_arguments, serialise
from ._endpoints import AppId, join_path, parse_app_id
from ._engine import Engine, decode_json
from ._errors import (
    FalClientConnectionError,
    FalClientTimeoutError,
    UnexpectedResponseError,
)
from ._headers import fal_headers, handle_response_headers
from ._schema_cache import SCHEMAS
from ._types import AnyJSON

__all__ = ["DEFAULT_RUN_TIMEOUT", "Runs"]

# Deadline of ``run``/``stream`` without ``timeout=``. The official client sends those with no
# timeout at all, so a direct run of a model that takes minutes works there: this one stays
# finite, but long enough for any such run (``default_timeout`` bounds each queue request only).
DEFAULT_RUN_TIMEOUT = 3600.0


class Runs:
    """Direct runs for one client. Each method here is the one definition of its operation,
    signature and docstring: ``AsyncClient``'s method of the same name is generated from it
    (``tools/gen_sync_api.py``), and ``SyncClient``'s from that."""

    def __init__(self, engine: Engine):
        self._engine = engine

    async def run(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        method: str = "POST",
        path: str = "",
        timeout: Optional[float] = None,
        start_timeout: Optional[float] = None,
        hint: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        validate: bool = False,
    ) -> AnyJSON:
        """Run an app directly (``fal.run``) and return its JSON result.

        Args:
            application: the app id, e.g. ``"fal-ai/fast-sdxl"``.
            arguments: the JSON input.
            method: HTTP method (``POST``; ``GET`` sends the arguments as query parameters).
            path: a sub-path of the app.
            timeout: deadline for the whole call in seconds (default ``DEFAULT_RUN_TIMEOUT``,
                an hour).
            start_timeout: server-side limit on the time before the app starts (> 1 s).
            hint: a runner hint (``X-Fal-Runner-Hint``).
            headers: extra request headers.
            validate: check ``arguments`` against the endpoint's input schema (from fal's
                platform API, cached) first, and raise ``InputValidationError`` listing every
                problem instead of sending them; when no schema can be had, warn once
                (``SchemaUnavailableWarning``) and send them unchecked.

        Raises:
            FalClientTimeoutError: ``timeout`` passed.
            FalClientHTTPError: fal or the app answered with an error.
            InputValidationError: ``validate=True`` and the schema refuses the arguments.
        """
        check.flag("validate", validate)
        app = parse_app_id(application)
        method = method.upper()
        if method not in ("POST", "GET", "PUT", "PATCH", "DELETE"):
            raise ValueError(f"method must be an HTTP method like 'POST', got {method!r}")
        deadline = check.positive_number("timeout", timeout) or DEFAULT_RUN_TIMEOUT
        request_headers = fal_headers(headers, hint=hint, start_timeout=start_timeout)
        content = None
        params = None
        if method == "GET":
            if not isinstance(arguments, Mapping):
                raise TypeError("arguments must be a dict for a GET run")
            params = {str(k): str(v) for k, v in arguments.items()}
        else:
            content = check_arguments(self._engine, arguments)
            if validate:
                await SCHEMAS.check_before_sending(
                    self._engine, join_path(app, path), as_sent(arguments, content)
                )
        with anyio.move_on_after(deadline) as scope:
            if method != "GET":
                content = await serialise(self._engine, arguments, content)
            response = await self._engine.transport.request(
                method,
                self._engine.transport.endpoints.run(app, path),
                repeatable=method in ("GET", "PUT", "DELETE"),
                content=content,
                params=params,
                headers=request_headers,
                read_timeout=deadline,
                app=app.full,
            )
            handle_response_headers(response.headers)
            return decode_json(  # type: ignore[no-any-return]
                response, app=app.full, request_id=response.headers.get("x-fal-request-id")
            )
        assert scope.cancelled_caught
        raise FalClientTimeoutError(deadline, app=app.full, message="run() gave up waiting")

    def stream(
        self,
        application: str,
        arguments: AnyJSON,
        *,
        path: str = "/stream",
        timeout: Optional[float] = None,
        headers: Optional[Mapping[str, str]] = None,
        validate: bool = False,
    ) -> AsyncIterator[AnyJSON]:
        """Stream an app's server-sent events; each item is one decoded JSON event.

        The last event is usually the final result. ``timeout`` bounds the whole stream
        (default ``DEFAULT_RUN_TIMEOUT``, an hour). Leaving the loop early closes the
        connection. ``path`` is appended to the app id (``stream("owner/app")`` POSTs to
        ``owner/app/stream``), unless the id's own sub-path already ends with it.
        ``validate=True`` checks the arguments against the app's input schema first, as for
        ``run``.

        Raises:
            FalClientHTTPError: the app refused the request (checked before any event).
        """
        check.flag("validate", validate)
        app = parse_app_id(application)
        deadline = check.positive_number("timeout", timeout) or DEFAULT_RUN_TIMEOUT
        content = check_arguments(self._engine, arguments)
        request_headers = fal_headers(headers)
        request_headers["Accept"] = "text/event-stream"
        return self._stream(app, path, arguments, content, request_headers, deadline, validate)

    async def _stream(
        self,
        app: AppId,
        path: str,
        arguments: Any,
        checked: Optional[bytes],
        headers: dict[str, str],
        deadline: float,
        validate: bool,
    ) -> AsyncIterator[AnyJSON]:
        transport = self._engine.transport
        if validate:
            # The schema is the app's own: a stream's "/stream" is how it is called, not which.
            await SCHEMAS.check_before_sending(self._engine, app.full, as_sent(arguments, checked))
        content = await serialise(self._engine, arguments, checked)
        # No cancel scope may stay open across a ``yield`` of an async generator, so the
        # deadline is enforced as per-read timeouts plus a check between events.
        ends_at = anyio.current_time() + deadline
        async with transport.stream(
            "POST",
            transport.endpoints.run(app, path),
            repeatable=False,
            content=content,
            headers=headers,
            read_timeout=deadline,
            app=app.full,
        ) as response:
            request_id = response.headers.get("x-fal-request-id")
            content_type = response.headers.get("content-type", "")

            def timed_out() -> FalClientTimeoutError:
                return FalClientTimeoutError(
                    deadline, request_id, app=app.full, message="stream() gave up waiting"
                )

            def check_deadline() -> None:
                if anyio.current_time() > ends_at:
                    raise timed_out()

            try:
                with transport.reading("stream", app=app.full, request_id=request_id):
                    if "text/event-stream" not in content_type:
                        await response.aread()
                        # Some apps answer a stream request with one JSON body: one event.
                        yield decode_json(response, app=app.full, request_id=request_id)
                        return
                    lines = response.aiter_lines()
                    events = sse.events(lines, after_each_line=check_deadline)
                    async with aclosing(lines), aclosing(events) as received:
                        async for event in received:
                            try:
                                item = event.json()
                            except ValueError as exc:
                                raise UnexpectedResponseError(
                                    "stream event is not JSON",
                                    body=event.data[:200],
                                    app=app.full,
                                    request_id=request_id,
                                ) from exc
                            yield item
            except FalClientConnectionError as exc:
                if exc.timed_out:  # no byte within the deadline: the stream's own timeout
                    raise timed_out() from exc.__cause__
                raise
