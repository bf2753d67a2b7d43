"""Moving jobs through IN_QUEUE -> IN_PROGRESS -> COMPLETED on the emulator's event loop.

Each app has a queue and a number of workers. A job starts as soon as a worker of its app is
free (``_dispatch``), runs inside its own cancel scope so a cancel really stops the app's task,
and on completion frees its worker and starts the next job. Every method here runs on the event
loop thread.
"""

from __future__ import annotations

import time
from typing import Optional

import anyio

from ._apps import AppContext
from ._execution import execute
from ._jobs import COMPLETED, IN_PROGRESS, IN_QUEUE, VIA_QUEUE, Job
from ._responses import StoredResponse, cancelled, shutting_down, start_timeout
from ._scheduler import AppQueue
from ._state import EmulatorState
from ._webhooks import Delivery, deliver, is_loopback_target, webhook_body

CANCELLATION_REQUESTED = "CANCELLATION_REQUESTED"
ALREADY_COMPLETED = "ALREADY_COMPLETED"


class JobRunner:
    """Schedules and runs the jobs of one emulator."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state

    # --- entry points ---------------------------------------------------------------------------

    def start(self, job: Job) -> int:
        """Queue ``job`` and start it if a worker is free.

        Returns:
            Its queue position at submission (0 = next).
        """
        state = self._state
        queue = state.queue_for(job.spec)
        with state.lock:
            state.jobs.add(job)
            if state.stopping or state.task_group is None:
                position = None
            else:
                queue.push(job, job.priority)
                position = queue.position(job) or 0
        state.feed.publish(job)
        if position is None:
            # Arrived while the emulator shuts down: nothing will ever run it.
            self._complete(job, shutting_down())
            return 0
        if job.start_timeout is not None:
            self._spawn(self._enforce_start_deadline, job, queue)
        self._dispatch(queue)
        return position

    def position(self, job: Job) -> Optional[int]:
        """The job's current queue position, or None if it is not queued."""
        queue = self._state.queues.get(job.spec.name)
        return queue.position(job) if queue is not None else None

    def cancel(self, job: Job) -> str:
        """Cancel a job: a queued one is dropped and never runs, a running one's task is
        cancelled (it completes, as 499, once its ``finally`` blocks have run).

        Returns:
            ``"CANCELLATION_REQUESTED"``, or ``"ALREADY_COMPLETED"`` if it had completed.
        """
        state = self._state
        if job.status == COMPLETED:
            return ALREADY_COMPLETED
        with state.lock:
            job.cancelled = True
        if job.status == IN_QUEUE:
            queue = state.queue_for(job.spec)
            with state.lock:
                queue.remove(job)
            self._complete(job, cancelled())
            self._nudge_waiting(queue)
        elif job.scope is not None:
            job.scope.cancel()
        # (An IN_PROGRESS job without a scope has not begun running; _run sees the flag.)
        state.feed.publish(job)
        return CANCELLATION_REQUESTED

    def cancel_all(self) -> None:
        """Cancel every job that has not completed (used by stop and reset)."""
        for job in self._state.jobs:
            if job.status != COMPLETED:
                self.cancel(job)

    # --- internals ------------------------------------------------------------------------------

    def _spawn(self, fn: object, *args: object) -> None:
        task_group = self._state.task_group
        if task_group is None or self._state.stopping:
            return
        task_group.start_soon(fn, *args)  # type: ignore[arg-type]

    def _dispatch(self, queue: AppQueue[Job]) -> None:
        state = self._state
        if state.stopping:
            return
        moved = False
        while True:
            with state.lock:
                job = queue.take()
                if job is None:
                    break
                job.status = IN_PROGRESS
                job.started_at = time.time()
                job.started_monotonic = time.monotonic()
            moved = True
            if job.deadline_scope is not None:
                job.deadline_scope.cancel()
            job.notify()
            state.feed.publish(job)
            self._spawn(self._run, job, queue)
        if moved:
            self._nudge_waiting(queue)

    def _nudge_waiting(self, queue: AppQueue[Job]) -> None:
        # Queue positions changed; status streams of the waiting jobs must send an update.
        if self._state.position_watchers:
            for job in queue.waiting():
                job.notify()

    async def _run(self, job: Job, queue: AppQueue[Job]) -> None:
        state = self._state
        response: Optional[StoredResponse] = None
        ctx = AppContext(
            request_id=job.request_id,
            app=job.spec.name,
            path=job.path,
            headers=job.headers,
            log_sink=state.job_log_sink(job),
            file_saver=state.file_saver(job.base_url, app=job.spec.name, request_id=job.request_id),
            file_loader=state.file_loader(job.base_url),
        )
        try:
            with anyio.CancelScope() as scope:
                job.scope = scope
                if job.cancelled:
                    scope.cancel()
                response = await execute(
                    job.spec, job.arguments, ctx, job.sink, state.config.latency
                )
        finally:
            job.scope = None
            queue.release()
            if response is None or response.error_type == "request_cancelled":
                # Also when a /stream client went away and the app's next send failed before
                # the route's cancel() got to it: the job was cancelled either way.
                with state.lock:
                    job.cancelled = True
            self._complete(job, response if response is not None else cancelled())
            self._dispatch(queue)

    async def _enforce_start_deadline(self, job: Job, queue: AppQueue[Job]) -> None:
        assert job.start_timeout is not None
        with anyio.CancelScope() as scope:
            job.deadline_scope = scope
            await anyio.sleep(job.start_timeout)
            with self._state.lock:
                expired = queue.remove(job)
            if expired:
                self._complete(job, start_timeout())
                self._nudge_waiting(queue)
        job.deadline_scope = None

    def _complete(self, job: Job, response: StoredResponse) -> None:
        state = self._state
        if job.status == COMPLETED:
            return
        with state.lock:
            job.status = COMPLETED
            job.response = response
            job.finished_at = time.time()
            job.finished_monotonic = time.monotonic()
            # What a completed job no longer needs; keeps 10k finished jobs small. Its input
            # stays as JSON bytes, for the request history's payloads.
            job.input_bytes = job.input_json()
            job.arguments = None
            job.headers = {}
            state.jobs.completed(job, job.finished_monotonic + state.config.job_ttl)
        if job.deadline_scope is not None:
            job.deadline_scope.cancel()
        if job.sink is not None:
            job.sink.close()
            job.sink = None
        job.notify()
        state.feed.publish(job)
        if job.webhook_url is not None and job.via == VIA_QUEUE:
            self._start_webhook(job, response)

    def _start_webhook(self, job: Job, response: StoredResponse) -> None:
        state = self._state
        assert job.webhook_url is not None
        body = webhook_body(job.request_id, response)
        delivery = Delivery(
            job.webhook_url,
            job.request_id,
            body,
            state.signer.headers(job.request_id, body),
            app=job.spec.name,
        )
        with state.lock:
            state.webhooks[job.request_id] = delivery
        if not is_loopback_target(job.webhook_url):
            with state.lock:
                delivery.error = "refused: the emulator only delivers webhooks to loopback URLs"
                delivery.finished = True
            state.feed.publish(delivery)
            return
        client = state.http_client
        if client is None:
            return
        config = state.config

        def on_change(changed: Delivery) -> None:
            state.feed.publish(changed)

        self._spawn(
            lambda: deliver(
                client,
                delivery,
                max_attempts=config.webhook_max_attempts,
                backoff=config.webhook_backoff,
                timeout=config.webhook_timeout,
                on_change=on_change,
            )
        )
