"""Endpoint schemas, fetched once per endpoint per process and kept on disk for a day.

A ``validate=True`` call needs the endpoint's input schema before it sends anything; a
500-job ``map`` must not ask the platform API 500 times, and a CLI run must not ask it at every
start. So a schema lives in three places: in this process (shared by every client, keyed by the
platform API's base URL and the endpoint id), on disk (``FAL_SCHEMA_CACHE_DIR``, default
``~/.cache/fal_client/schemas``; a day old at most) and at fal. Concurrent askers of one event
loop wait for the one fetch in flight instead of sending their own.

A platform API on a loopback address (a local emulator) is not cached on disk unless
``FAL_SCHEMA_CACHE_DIR`` is set: its schemas change whenever its apps do.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import anyio
import anyio.lowlevel
import anyio.to_thread

from ._endpoints import Endpoints
from ._engine import Engine, get_platform_json
from ._errors import (
    FalClientError,
    InputProblem,
    InputValidationError,
    UnknownEndpointError,
)
from ._platform import parse_model, parse_page

__all__ = [
    "SCHEMA_TTL_SECONDS",
    "UNAVAILABLE_RETRY_SECONDS",
    "EndpointSchema",
    "SchemaCache",
    "SchemaUnavailableWarning",
]

logger = logging.getLogger("fal_client")

#: How long a fetched schema is used before it is fetched again (memory and disk).
SCHEMA_TTL_SECONDS = 24 * 3600.0
#: After a failed fetch, how long ``validate=True`` calls go unvalidated before trying again.
UNAVAILABLE_RETRY_SECONDS = 300.0
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class SchemaUnavailableWarning(UserWarning):
    """A ``validate=True`` call went out unvalidated: the endpoint's schema could not be had
    (platform API unreachable, endpoint not listed, no input schema). Warned once per endpoint
    per process; the call itself is never blocked by it."""


@dataclass(frozen=True)
class EndpointSchema:
    """An endpoint's input and output JSON schemas, read from its OpenAPI document.

    Attributes:
        endpoint_id: the endpoint.
        input: the input schema as the document has it (``$ref``s into ``components``).
        output: the output schema, when the document has one.
        components: the document's ``components.schemas`` that the input and output reach
            (``$ref``s point into them as ``#/components/schemas/<name>``).
        openapi: the whole OpenAPI document.
    """

    endpoint_id: str
    input: Mapping[str, Any]
    output: Optional[Mapping[str, Any]]
    components: Mapping[str, Any]
    openapi: Mapping[str, Any] = field(repr=False)

    def problems(self, arguments: Any) -> list[InputProblem]:
        """Every way ``arguments`` do not match the input schema (empty when they do)."""
        problems: list[InputProblem] = _checker(self).problems(arguments)
        return problems

    def check_input(self, arguments: Any) -> None:
        """Raise ``InputValidationError`` listing every problem, if there is one."""
        found = self.problems(arguments)
        if found:
            raise InputValidationError(found, app=self.endpoint_id)


# Compiled validators, by schema object: compiling walks the whole schema, a check does not.
_checkers: dict[int, tuple[EndpointSchema, Any]] = {}
_checkers_lock = threading.Lock()


def _checker(schema: EndpointSchema) -> Any:
    with _checkers_lock:
        entry = _checkers.get(id(schema))
        if entry is not None and entry[0] is schema:
            return entry[1]
    from ._input_check import InputChecker
    from ._openapi_schemas import validation_schema

    checker = InputChecker(validation_schema(schema.input, schema.components))
    with _checkers_lock:
        _checkers[id(schema)] = (schema, checker)
    return checker


def read_schema(openapi: Mapping[str, Any], endpoint_id: str) -> EndpointSchema:
    """The ``EndpointSchema`` of ``endpoint_id`` in its OpenAPI document."""
    # Here and in the disk cache, imports at first use: every client holds the process's
    # ``SCHEMAS``, only ``validate=True`` and ``platform.schema`` read a document.
    from ._openapi_schemas import find_endpoint_schemas

    found = find_endpoint_schemas(openapi, endpoint_id)
    return EndpointSchema(
        endpoint_id=endpoint_id,
        input=found.input,
        output=found.output,
        components=found.components,
        openapi=openapi,
    )


def _default_dir(api_url: str) -> Optional[Path]:
    configured = os.environ.get("FAL_SCHEMA_CACHE_DIR")
    if configured is not None:
        return Path(configured).expanduser() if configured.strip() else None
    if (urlsplit(api_url).hostname or "") in _LOOPBACK_HOSTS:
        return None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fal_client" / "schemas"


class _DiskCache:
    """OpenAPI documents on disk, one JSON file per (platform API, endpoint)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, api_url: str, endpoint_id: str) -> Path:
        import hashlib

        digest = hashlib.sha256(f"{api_url}\n{endpoint_id}".encode()).hexdigest()[:32]
        return self.directory / f"{digest}.json"

    def load(self, api_url: str, endpoint_id: str) -> Optional[Mapping[str, Any]]:
        try:
            entry = json.loads(self._path(api_url, endpoint_id).read_text("utf-8"))
        except (OSError, ValueError):
            return None  # absent, unreadable or half-written: fetch again
        fresh = (
            isinstance(entry, dict)
            and entry.get("api_url") == api_url
            and entry.get("endpoint_id") == endpoint_id
            and isinstance(entry.get("fetched_at"), (int, float))
            and 0 <= time.time() - entry["fetched_at"] < SCHEMA_TTL_SECONDS
            and isinstance(entry.get("openapi"), dict)
        )
        return entry["openapi"] if fresh else None

    def store(self, api_url: str, endpoint_id: str, openapi: Mapping[str, Any]) -> None:
        entry = {
            "api_url": api_url,
            "endpoint_id": endpoint_id,
            "fetched_at": time.time(),
            "openapi": openapi,
        }
        target = self._path(api_url, endpoint_id)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: a reader never sees half a file.
            import tempfile

            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(entry, out)
            os.replace(tmp, target)
        except OSError as exc:
            logger.debug("could not write the schema cache %s: %s", target, exc)


@dataclass
class _Entry:
    schema: Optional[EndpointSchema]
    error: Optional[BaseException]
    expires: float


class SchemaCache:
    """The process-wide schema store (see the module docstring); one per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._in_flight: dict[tuple[Any, str, str], anyio.Event] = {}
        self._warned: set[tuple[str, str]] = set()
        #: How many times a schema was fetched from the platform API (for tests and benchmarks).
        self.fetches = 0

    def clear(self) -> None:
        """Forget every schema and failure held in memory (the disk cache stays)."""
        with self._lock:
            self._entries.clear()
            self._warned.clear()

    async def get(self, engine: Engine, endpoint_id: str) -> EndpointSchema:
        """The schema of ``endpoint_id`` on ``engine``'s platform API, from the cache when it
        can; raises what the fetch raised (a failure is remembered for a while)."""
        api_url = engine.endpoints.api_url
        key = (api_url, endpoint_id)
        flight = (anyio.lowlevel.current_token(), api_url, endpoint_id)
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and time.monotonic() < entry.expires:
                    if entry.schema is not None:
                        return entry.schema
                    assert entry.error is not None
                    raise entry.error
                waiting = self._in_flight.get(flight)
                if waiting is None:
                    done = self._in_flight[flight] = anyio.Event()
                    break
            await waiting.wait()
        try:
            schema = await self._load(engine, endpoint_id)
        except FalClientError as exc:
            with self._lock:
                expires = time.monotonic() + UNAVAILABLE_RETRY_SECONDS
                self._entries[key] = _Entry(None, exc, expires)
            raise
        else:
            with self._lock:
                expires = time.monotonic() + SCHEMA_TTL_SECONDS
                self._entries[key] = _Entry(schema, None, expires)
            return schema
        finally:
            with self._lock:
                del self._in_flight[flight]
            done.set()

    async def _load(self, engine: Engine, endpoint_id: str) -> EndpointSchema:
        api_url = engine.endpoints.api_url
        directory = _default_dir(api_url)
        disk = _DiskCache(directory) if directory is not None else None
        # Files are read and written in a worker thread: a document can be large, and the
        # loop may be serving hundreds of jobs meanwhile.
        openapi = None
        if disk is not None:
            openapi = await anyio.to_thread.run_sync(disk.load, api_url, endpoint_id)
        if openapi is None:
            with self._lock:
                self.fetches += 1
            openapi = await fetch_openapi(engine, endpoint_id)
            if disk is not None:
                await anyio.to_thread.run_sync(disk.store, api_url, endpoint_id, openapi)
        try:
            return read_schema(openapi, endpoint_id)
        except ValueError as exc:
            raise UnknownEndpointError(
                f"the platform API's document for {endpoint_id!r} has no usable input schema: "
                f"{exc}",
                app=endpoint_id,
            ) from exc

    async def check_before_sending(self, engine: Engine, endpoint_id: str, arguments: Any) -> None:
        """What ``validate=True`` does: raise ``InputValidationError`` for arguments the schema
        refuses; when there is no schema to check against, warn once and let the call go."""
        try:
            schema = await self.get(engine, endpoint_id)
            checker = _checker(schema)
        except InputValidationError:
            raise
        except Exception as exc:  # any failure to get a schema must not block the call
            self._warn_once(engine.endpoints, endpoint_id, exc)
            return
        problems = checker.problems(arguments)
        if problems:
            raise InputValidationError(problems, app=endpoint_id)

    def _warn_once(self, endpoints: Endpoints, endpoint_id: str, exc: BaseException) -> None:
        key = (endpoints.api_url, endpoint_id)
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        warnings.warn(
            f"sending {endpoint_id!r} unvalidated: its input schema is unavailable ({exc})",
            SchemaUnavailableWarning,
            stacklevel=2,
        )


async def fetch_openapi(engine: Engine, endpoint_id: str) -> Mapping[str, Any]:
    """The OpenAPI document of ``endpoint_id`` from the platform API (no cache)."""
    query = [("endpoint_id", endpoint_id), ("expand", "openapi-3.0")]
    body = await get_platform_json(engine, "models", query, about=endpoint_id)
    page = parse_page(body, "models")
    for item in page.items:
        model = parse_model(item)
        if model.endpoint_id == endpoint_id and model.openapi is not None:
            return model.openapi
    raise UnknownEndpointError(
        f"the platform API lists no OpenAPI document for the endpoint {endpoint_id!r}: check "
        "its spelling (ids look like 'fal-ai/flux/dev'); private apps may not be listed",
        app=endpoint_id,
    )


#: The one store of this process.
SCHEMAS = SchemaCache()
