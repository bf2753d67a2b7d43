"""Fan-out operations of the clients: ``map``.

The fan-out resource (``AsyncClient`` delegates to it); the machinery is in ``_batch.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from os import PathLike
from typing import Any, Callable, Optional, Union

from . import _validate as check
from ._batch import MapResults, MapSpec, Progress
from ._budget import check_max_cost
from ._endpoints import parse_app_id
from ._headers import fal_headers
from ._platform_api import Platform
from ._queue import Queue
from ._types import AnyJSON, Priority


class Batch:
    """Fan-out for one client: each method is the body of the ``AsyncClient`` method of the
    same name (see there for the documentation)."""

    def __init__(self, queue: Queue, platform: Platform):
        self._queue = queue
        self._platform = platform

    def map(
        self,
        application: str,
        inputs: Union[Iterable[AnyJSON], AsyncIterable[AnyJSON]],
        *,
        concurrency: int = 16,
        ordered: bool = True,
        return_exceptions: bool = False,
        on_progress: Optional[Callable[[Progress], Any]] = None,
        path: str = "",
        hint: Optional[str] = None,
        priority: Optional[Priority] = None,
        headers: Optional[Mapping[str, str]] = None,
        start_timeout: Optional[float] = None,
        client_timeout: Optional[float] = None,
        manifest: Union[str, PathLike[str], None] = None,
        validate: bool = False,
        max_cost: Optional[float] = None,
    ) -> MapResults:
        """The body of ``AsyncClient.map``."""
        parse_app_id(application)
        check.flag("validate", validate)
        max_cost = check_max_cost(max_cost)
        if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
            raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
        if not isinstance(inputs, (Iterable, AsyncIterable)) or isinstance(
            inputs, (str, bytes, Mapping)
        ):
            raise TypeError(
                f"inputs must be an iterable of argument dicts, got {type(inputs).__name__}"
            )
        options: dict[str, Any] = {
            "path": path,
            "hint": hint,
            "priority": priority,
            "headers": headers,
            "start_timeout": start_timeout,
            "client_timeout": client_timeout,
            "validate": validate,
        }
        fal_headers(headers, hint=hint, start_timeout=start_timeout, priority=priority)
        check.positive_number("client_timeout", client_timeout)
        return MapResults(
            MapSpec(
                self._queue,
                application,
                inputs,
                concurrency=concurrency,
                ordered=ordered,
                return_exceptions=return_exceptions,
                on_progress=on_progress,
                subscribe_options=options,
                manifest=manifest,
                platform=self._platform,
                max_cost=max_cost,
            )
        )
