"""Fan-out operations of the clients: ``map``.

A mixin of ``AsyncClient`` (``SyncClient``'s is generated); the machinery is in ``_batch.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from os import PathLike
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from . import _validate as check
from ._batch import MapResults, Progress, run_map
from ._endpoints import parse_app_id
from ._headers import fal_headers

if TYPE_CHECKING:
    from ._client import AnyJSON, Priority


class AsyncBatchAPI:
    """The fan-out operations of ``AsyncClient``."""

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
    ) -> MapResults:
        """Run ``application`` on every input with at most ``concurrency`` jobs in flight.

        Inputs are read lazily from any iterable or async iterable. With ``ordered=True``
        (default) results come in input order; with ``ordered=False`` they come as they
        complete, as ``BatchResult`` objects tagged with their input ``index``.

        By default the first failure cancels the other jobs (remotely too) and raises an
        ``ExceptionGroup``; ``return_exceptions=True`` delivers errors in place of results and
        keeps going. ``on_progress`` receives a ``Progress`` after each finished job.
        ``client_timeout`` applies per job.

        Rate limits: a submit refused with 429 (after the client's own retries) is put back,
        and the in-flight limit backs off (halves, honours ``Retry-After``, then grows by one
        per success up to ``concurrency``). Only jobs in flight are waited on, one status
        stream each, so any number of inputs uses at most ``concurrency`` connections.

        Args:
            manifest: a path for a resumable run. Each input's request id is journalled (JSONL,
                fsync'd) as soon as it is submitted, and its result when done. Running again
                with the same manifest and the same inputs never submits an input twice: jobs
                already submitted are re-attached to, finished ones are delivered from the file
                without a request. With a manifest, jobs in flight when the map is interrupted
                (Ctrl-C, cancellation, leaving the loop early) keep running on fal for the next
                run to collect. See ``docs/batch.md`` for the file format.

        Raises:
            ExceptionGroup: the first failure, unless ``return_exceptions``.
            ValueError: ``ManifestError`` when the manifest was written for another app or for
                other inputs (raised when the mismatch is read, before that input is sent).

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
        fal_headers(headers, hint=hint, start_timeout=start_timeout, priority=priority)
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
                manifest=manifest,
            )
        )
