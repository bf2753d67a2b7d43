"""Fan-out operations of the clients: ``map``.

The fan-out resource (``AsyncClient`` delegates to it); the machinery is in ``_batch.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from os import PathLike
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from . import _validate as check
from ._endpoints import parse_app_id
from ._headers import fal_headers
from ._types import AnyJSON, Priority

# The fan-out machinery (the state machine, manifests, budgets) loads on the first ``map``:
# every client builds a ``Batch``, few programs call it.
if TYPE_CHECKING:
    from ._batch import MapResults, Progress
    from ._platform_api import Platform
    from ._queue import Queue


class Batch:
    """Fan-out for one client. Each method here is the one definition of its operation,
    signature and docstring: ``AsyncClient``'s method of the same name is generated from it
    (``tools/gen_sync_api.py``), and ``SyncClient``'s from that."""

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
        recover_lost_submit: bool = True,
    ) -> MapResults:
        """Run ``application`` on every input with at most ``concurrency`` jobs in flight.

        Inputs are read lazily from any iterable or async iterable. With ``ordered=True``
        (default) results come in input order; with ``ordered=False`` they come as they
        complete, as ``BatchResult`` objects tagged with their input ``index``.

        By default the first failure cancels the other jobs (remotely too) and is raised as it
        is, once they are cancelled (``except FalClientTimeoutError`` works around a map as
        around one call); ``return_exceptions=True`` delivers errors in place of results and
        keeps going. ``on_progress`` receives a ``Progress`` after each finished job.
        ``client_timeout`` applies per job.

        Rate limits: a submit refused with 429 is put back; that input waits out its own
        ``Retry-After`` while others use its slot. The in-flight limit shrinks only for a real
        rate limit (most recent answers refused, as under a plan's concurrency cap), to what the
        server carries, and grows back up to ``concurrency``. Only jobs in flight are waited
        on, one status stream each, so any number of inputs uses at most ``concurrency``
        connections.

        Args:
            manifest: a path for a resumable run. Each input's request id is journalled (JSONL,
                fsync'd) as soon as it is submitted, and its result once the loop has handled
                it (come back for the next one, or left the block without error). Running again
                with the same manifest and the same inputs never submits an input twice: jobs
                already submitted are re-attached to, finished ones are delivered from the file
                without a request. With a manifest, jobs in flight when the map is interrupted
                (Ctrl-C, cancellation, leaving the loop early) keep running on fal for the next
                run to collect. See ``docs/batch.md`` for the file format.
            validate: check each input against the endpoint's input schema before it is
                submitted (the schema is fetched once); an input the schema refuses ends with
                ``InputValidationError`` and is never sent.
            max_cost: a budget, in the price's currency (USD). The platform API's estimate of
                a call prices the batch first: inputs that can be counted (a list) and would
                cost more in total are refused with ``BudgetExceededError`` before anything is
                sent; then no job is submitted once what was started plus that job would exceed
                the budget (those inputs end with ``BudgetExceededError``, unsent). Jobs a
                manifest re-attaches to cost nothing new.
            recover_lost_submit: when an input's submit answer is lost (the connection broke
                after fal may have queued the job), look the job up in the request history
                (``submit``'s option of the same name, on by default here): found, the map
                waits for it as if the submit had answered; proved never created, the input is
                submitted again; undecided, that input ends with ``SubmitNotRecoveredError``,
                not re-sent. A map without lost answers asks the history nothing. With
                ``False``, a lost answer ends the input with ``SubmitNotConfirmedError``.

        Raises:
            FalClientError: the first job's failure, unless ``return_exceptions``.
            ValueError: ``ManifestError`` when the manifest was written for another app or for
                other inputs (raised when the mismatch is read, before that input is sent).
            BudgetExceededError: the batch's estimate is over ``max_cost`` (when entered).

        Use as ``async with client.map(app, inputs) as results: async for r in results: ...``.
        """
        from ._batch import MapResults, MapSpec
        from ._budget import check_max_cost

        parse_app_id(application)
        check.flag("validate", validate)
        check.flag("recover_lost_submit", recover_lost_submit)
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
            "recover_lost_submit": recover_lost_submit,
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
