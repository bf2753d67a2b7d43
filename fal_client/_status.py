"""Queue statuses: the official dataclasses and the parser of fal's status JSON (no I/O)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from ._errors import UnexpectedResponseError

__all__ = [
    "Completed",
    "InProgress",
    "LogsSoFar",
    "Queued",
    "Status",
    "parse_status",
    "status_to_json",
]


class Status:
    """Base class of the three queue statuses: ``Queued``, ``InProgress``, ``Completed``."""

    __slots__ = ()


@dataclass(frozen=True)
class Queued(Status):
    """The job waits in the queue; ``position`` 0 means it is next."""

    position: int


@dataclass(frozen=True)
class InProgress(Status):
    """The job runs. ``logs`` is a list of log dicts, or ``None`` when logs were not asked for."""

    logs: Optional[list[dict[str, Any]]] = None


@dataclass(frozen=True)
class Completed(Status):
    """The job finished. ``error``/``error_type`` are set when it failed."""

    logs: Optional[list[dict[str, Any]]] = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: Optional[str] = None
    error_type: Optional[str] = None


def parse_status(
    data: Any, *, app: Optional[str] = None, request_id: Optional[str] = None
) -> Status:
    """Read one status object as fal sends it (polling or one SSE event)."""
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise UnexpectedResponseError(
            "status response is not a JSON object with a 'status' field",
            body=data,
            app=app,
            request_id=request_id,
        )
    kind = data["status"]
    logs = data.get("logs")
    if logs is not None and not isinstance(logs, list):
        logs = None
    if kind == "IN_QUEUE":
        position = data.get("queue_position", 0)
        return Queued(position=position if isinstance(position, int) else 0)
    if kind == "IN_PROGRESS":
        return InProgress(logs=logs)
    if kind == "COMPLETED":
        metrics = data.get("metrics")
        return Completed(
            logs=logs,
            metrics=metrics if isinstance(metrics, dict) else {},
            error=data.get("error"),
            error_type=data.get("error_type"),
        )
    raise UnexpectedResponseError(
        f"unknown queue status {kind!r}", body=data, app=app, request_id=request_id
    )


class LogsSoFar:
    """Every log line of a job exactly once, in order, from statuses that carry either all
    lines so far (polling; a reconnected stream) or only the new ones (a stream's events: fal's
    docs do not say which, the JS client concatenates). A list that begins with everything
    already seen is a full list; anything else is new lines."""

    def __init__(self) -> None:
        self._lines: list[dict[str, Any]] = []

    def add(self, status: Status) -> Status:
        """``status`` with ``logs`` replaced by every line so far (unchanged without logs)."""
        if not isinstance(status, (InProgress, Completed)) or status.logs is None:
            return status
        new = status.logs
        seen = len(self._lines)
        if len(new) >= seen and new[:seen] == self._lines:
            self._lines = list(new)
        else:
            self._lines.extend(new)
        return dataclasses.replace(status, logs=list(self._lines))


def status_to_json(status: Status) -> dict[str, Any]:
    """A status as the JSON object fal sends for it (``status``, ``queue_position``, ``logs``,
    ``metrics``, ``error``, ``error_type``): what the command line prints."""
    if isinstance(status, Queued):
        return {"status": "IN_QUEUE", "queue_position": status.position}
    if isinstance(status, InProgress):
        return {"status": "IN_PROGRESS", "logs": status.logs}
    if isinstance(status, Completed):
        return {
            "status": "COMPLETED",
            "logs": status.logs,
            "metrics": status.metrics,
            "error": status.error,
            "error_type": status.error_type,
        }
    raise TypeError(f"not a queue status: {status!r}")
