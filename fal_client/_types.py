"""Type aliases shared by the clients and resources (no code)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Callable, Literal, Union

from ._status import Status

__all__ = ["AnyJSON", "OnEnqueue", "OnQueueUpdate", "Priority"]

#: A JSON object: the arguments and results of fal apps.
AnyJSON = dict[str, Any]
#: A queue priority.
Priority = Literal["normal", "low"]
#: Called with the request id once a job is queued (sync or async).
OnEnqueue = Callable[[str], Union[Awaitable[None], None]]
#: Called with each status while a job is waited on (sync or async).
OnQueueUpdate = Callable[[Status], Union[Awaitable[None], None]]
