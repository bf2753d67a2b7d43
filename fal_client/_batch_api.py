"""Fan-out operations of the clients: ``map``.

Mixins of ``AsyncClient`` and ``SyncClient``; the machinery itself is in ``_batch.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from . import _validate as check
from ._batch import MapResults, Progress, run_map
from ._endpoints import parse_app_id

if TYPE_CHECKING:
    from ._client import AnyJSON, AsyncClient, Priority
    from ._portal import Portal


class AsyncBatchAPI:
    """The fan-out operations of ``AsyncClient``."""

    if TYPE_CHECKING:

        def _fal_headers(
            self,
            headers: Optional[Mapping[str, str]],
            *,
            hint: Optional[str] = None,
            start_timeout: Optional[float] = None,
            priority: Optional[str] = None,
        ) -> dict[str, str]: ...

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
    ) -> MapResults:
        """Run ``application`` on every input with at most ``concurrency`` jobs in flight.

        Inputs are read lazily from any iterable or async iterable. With ``ordered=True``
        (default) results come in input order; with ``ordered=False`` they come as they
        complete, as ``BatchResult`` objects tagged with their input ``index``.

        By default the first failure cancels the other jobs (remotely too) and raises an
        ``ExceptionGroup``; ``return_exceptions=True`` delivers errors in place of results and
        keeps going. ``on_progress`` receives a ``Progress`` after each finished job.
        ``client_timeout`` applies per job.

        Use as ``async with client.map(app, inputs) as results: async for r in results: ...``.
        """
        parse_app_id(application)
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
        }
        self._fal_headers(headers, hint=hint, start_timeout=start_timeout, priority=priority)
        check.positive_number("client_timeout", client_timeout)
        return MapResults(
            run_map(
                self,  # type: ignore[arg-type]
                application,
                inputs,
                concurrency=concurrency,
                ordered=ordered,
                return_exceptions=return_exceptions,
                on_progress=on_progress,
                subscribe_options=options,
            )
        )


class SyncBatchAPI:
    """The fan-out operations of ``SyncClient``."""

    _async: AsyncClient
    _portal: Portal

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
    ) -> Iterator[Any]:
        results = self._async.map(
            application,
            inputs,
            concurrency=concurrency,
            ordered=ordered,
            return_exceptions=return_exceptions,
            on_progress=on_progress,
            path=path,
            hint=hint,
            priority=priority,
            headers=headers,
            start_timeout=start_timeout,
            client_timeout=client_timeout,
        )
        return self._portal.iterate(lambda: results)
