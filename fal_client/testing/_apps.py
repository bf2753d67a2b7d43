"""Emulated apps: how a Python function is registered and what it sees while it runs."""

from __future__ import annotations

import functools
import inspect
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Mapping, Optional

from . import _docstrings as docstrings
from ._app_schema import AppSchema, app_schema
from ._inputs import decode_data_url
from ._pricing import FREE, Price, PriceLike, coerce_price
from ._records import AppInfo

#: App kinds, as listed by ``GET /__emulator/apps``.
PLAIN = "plain"
STREAMING = "streaming"
REALTIME = "realtime"

AppFunction = Callable[..., Any]
LogSink = Callable[[Dict[str, str]], None]
FileSaver = Callable[[bytes, str, Optional[str]], str]
FileLoader = Callable[[str], bytes]

_LOG_LEVELS = frozenset({"STDERR", "STDOUT", "ERROR", "INFO", "WARN", "DEBUG"})


@dataclass(frozen=True)
class AppDoc:
    """What an app function's docstring says about it (see :func:`parse_app_doc`)."""

    description: str = ""
    inputs: Mapping[str, str] = field(default_factory=dict)
    example: Any = None


@dataclass(frozen=True)
class AppSpec:
    """A registered app: its function, how it is called and how many jobs it runs at once,
    and what the platform API says about it (schemas, price, model metadata)."""

    name: str
    fn: AppFunction
    kind: str
    workers: int
    is_async: bool
    is_generator: bool
    doc: AppDoc = field(default_factory=AppDoc)
    schema: AppSchema = field(default_factory=AppSchema)
    price: Price = FREE
    metadata: Mapping[str, Any] = field(default_factory=dict)


# "``fal-ai/echo``: returns ..." starts the built-in apps' docstrings: the name is shown anyway.
_NAME_PREFIX = re.compile(r"^``[^`]+``:\s*")


def parse_app_doc(doc: Optional[str]) -> AppDoc:
    """Read an app function's docstring: its first paragraph is the description, an
    ``Inputs:`` section lists the input fields (``name: what it is``, one per line, continued
    on further-indented lines) and an ``Example:`` section holds one JSON input::

        \"\"\"Draws the prompt into a PNG.

        Inputs:
            prompt: the text to draw (required).
            seed: makes the picture reproducible.

        Example:
            {"prompt": "a lighthouse at dawn"}
        \"\"\"

    Anything else in the docstring (an ``Args:`` section, say) is ignored; an ``Example`` that
    is not valid JSON is dropped.
    """
    description = _NAME_PREFIX.sub("", docstrings.summary(doc))
    if description:
        description = description[0].upper() + description[1:]
    example: Any = None
    text = docstrings.block(doc, "Example")
    if text:
        try:
            example = json.loads(text)
        except ValueError:
            example = None
    inputs = docstrings.entries(doc, "Inputs")
    return AppDoc(
        description=docstrings.markdown_code(description),
        inputs={name: docstrings.markdown_code(text) for name, text in inputs.items()},
        example=example,
    )


def _function_doc(fn: AppFunction) -> Optional[str]:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.getdoc(fn)


def make_app_spec(
    name: str,
    fn: AppFunction,
    *,
    workers: int,
    realtime: bool,
    schema: Optional[Mapping[str, Any]] = None,
    price: PriceLike = None,
    metadata: Optional[Mapping[str, Any]] = None,
) -> AppSpec:
    """Classify ``fn`` (async or sync, generator or not) into an :class:`AppSpec`, with its
    schemas (``schema``, the rest read from its annotations) and price.

    Raises:
        TypeError, ValueError: for bad ``workers``, ``schema`` or ``price``.
    """
    if workers < 1:
        raise ValueError(f"app {name!r}: workers must be at least 1, got {workers}")
    is_async_gen = inspect.isasyncgenfunction(fn)
    is_sync_gen = inspect.isgeneratorfunction(fn)
    is_async = (
        is_async_gen
        or inspect.iscoroutinefunction(fn)
        or (
            # An object with an ``async def __call__``.
            not inspect.isfunction(fn) and inspect.iscoroutinefunction(type(fn).__call__)
        )
    )
    if realtime:
        kind = REALTIME
    elif is_async_gen or is_sync_gen:
        kind = STREAMING
    else:
        kind = PLAIN
    return AppSpec(
        name=name,
        fn=fn,
        kind=kind,
        workers=workers,
        is_async=is_async,
        is_generator=is_async_gen or is_sync_gen,
        doc=parse_app_doc(_function_doc(fn)),
        schema=app_schema(fn, schema),
        price=coerce_price(price),
        metadata=dict(metadata or {}),
    )


def app_info(spec: AppSpec) -> AppInfo:
    """The public snapshot of a registered app."""
    return AppInfo(
        name=spec.name,
        kind=spec.kind,
        workers=spec.workers,
        description=spec.doc.description,
        inputs=dict(spec.doc.inputs),
        example=spec.doc.example,
    )


def _read_data_url_only(url: str) -> bytes:
    # A context built outside an emulator (an app's own unit test) has no CDN to read from.
    if url[:5].lower() != "data:":
        raise ValueError("this AppContext has no emulator CDN; only data: URLs can be read")
    return decode_data_url(url)[1]


def log_entry(message: str, level: str) -> Dict[str, str]:
    """A log line shaped like fal's status logs (``source`` is always ``USER``)."""
    return {
        "message": message,
        "level": level,
        "source": "USER",
        "timestamp": datetime.now(timezone.utc).isoformat(),
    }


class AppContext:
    """What an emulated app knows about the request it is serving.

    Attributes:
        request_id: the fal request id of this request (for realtime apps, of the connection).
        app: the registered app name.
        path: the endpoint sub-path the client used (``"dev"`` for ``fal-ai/flux/dev``), or None.
        headers: the request's headers, lower-cased.
        state: a scratch dict for the app's own use; for realtime apps it lives as long as the
            WebSocket connection, so it can carry per-session state between messages.
    """

    def __init__(
        self,
        *,
        request_id: str,
        app: str,
        path: Optional[str],
        headers: Mapping[str, str],
        log_sink: LogSink,
        file_saver: FileSaver,
        file_loader: Optional[FileLoader] = None,
    ) -> None:
        self.request_id = request_id
        self.app = app
        self.path = path
        self.headers: Mapping[str, str] = headers
        self.state: Dict[str, Any] = {}
        self._log_sink = log_sink
        self._file_saver = file_saver
        self._file_loader = file_loader if file_loader is not None else _read_data_url_only

    def log(self, message: str, level: str = "INFO") -> None:
        """Add a line to this request's logs (served by status calls with ``logs=1``).

        Thread-safe, so synchronous apps running in a worker thread may call it too.

        Args:
            message: the text.
            level: one of fal's levels: STDERR, STDOUT, ERROR, INFO, WARN, DEBUG.
        """
        level = level.upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"unknown log level {level!r}; expected one of {sorted(_LOG_LEVELS)}")
        self._log_sink(log_entry(str(message), level))

    def save_file(
        self,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        file_name: Optional[str] = None,
    ) -> str:
        """Store ``data`` on the emulated CDN and return its public URL (as fal apps do).

        It writes to disk, which is quick for the small files apps usually produce; call it from
        a worker thread for big ones.
        """
        return self._file_saver(bytes(data), content_type, file_name)

    def read_file(self, url: str) -> bytes:
        """The bytes an input URL points to, as a fal app downloads its ``image_url``.

        Reads a ``data:`` URL (``fal_client.encode_image`` makes them) or a file on this
        emulator's CDN (what uploads and apps' outputs return), whole, into memory. It never
        fetches anything from the network. Thread-safe; like :meth:`save_file` it reads from
        disk, so call it from a worker thread for big files.

        Raises:
            ValueError: for any other URL, a malformed data URL, or a file the CDN does not (or
                no longer) hold; the message says which. Apps usually turn it into fal's 422
                ``file_download_error``.
        """
        return self._file_loader(url)

    def __repr__(self) -> str:
        return f"<AppContext app={self.app!r} request_id={self.request_id!r}>"
