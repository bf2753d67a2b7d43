"""Per-app FIFO queue with two priorities and O(1) queue positions (no I/O).

fal reports ``queue_position`` (0 = next) on every status poll, and benchmarks poll hundreds of
jobs per second, so a position must not cost a scan of the queue. Each lane keeps consecutive
tickets: a job's position in its lane is its ticket minus the head's ticket. Popping the head
keeps tickets consecutive; removing from the middle (a cancel or a start timeout, both rare)
renumbers the jobs behind it.
"""

from __future__ import annotations

from collections import deque
from typing import Deque, Dict, Generic, Hashable, Optional, TypeVar

T = TypeVar("T", bound=Hashable)

NORMAL = "normal"
LOW = "low"


class _Lane(Generic[T]):
    def __init__(self) -> None:
        self.items: Deque[T] = deque()
        self.tickets: Dict[T, int] = {}
        self.next_ticket = 0

    def push(self, item: T) -> None:
        self.tickets[item] = self.next_ticket
        self.next_ticket += 1
        self.items.append(item)

    def pop(self) -> T:
        item = self.items.popleft()
        del self.tickets[item]
        return item

    def position(self, item: T) -> Optional[int]:
        ticket = self.tickets.get(item)
        if ticket is None:
            return None
        return ticket - self.tickets[self.items[0]]

    def remove(self, item: T) -> bool:
        ticket = self.tickets.pop(item, None)
        if ticket is None:
            return False
        self.items.remove(item)
        for other in self.items:
            if self.tickets[other] > ticket:
                self.tickets[other] -= 1
        self.next_ticket -= 1
        return True


class AppQueue(Generic[T]):
    """Waiting jobs of one app and how many of its workers are busy.

    Normal-priority jobs always go before low-priority ones; within a priority, first in first
    out. ``take`` hands out the next job only while fewer than ``workers`` are running.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("an app needs at least one worker")
        self.workers = workers
        self.running = 0
        self._normal: _Lane[T] = _Lane()
        self._low: _Lane[T] = _Lane()

    def __len__(self) -> int:
        return len(self._normal.items) + len(self._low.items)

    def push(self, item: T, priority: str = NORMAL) -> None:
        """Queue ``item`` at the back of its priority lane."""
        (self._low if priority == LOW else self._normal).push(item)

    def position(self, item: T) -> Optional[int]:
        """How many queued jobs will be taken before ``item``; None if it is not queued."""
        position = self._normal.position(item)
        if position is not None:
            return position
        position = self._low.position(item)
        if position is not None:
            return position + len(self._normal.items)
        return None

    def remove(self, item: T) -> bool:
        """Take ``item`` out of the queue without running it; False if it was not queued."""
        return self._normal.remove(item) or self._low.remove(item)

    def take(self) -> Optional[T]:
        """Claim a worker for the next job, or return None (no job waiting, or all busy)."""
        if self.running >= self.workers:
            return None
        if self._normal.items:
            item = self._normal.pop()
        elif self._low.items:
            item = self._low.pop()
        else:
            return None
        self.running += 1
        return item

    def release(self) -> None:
        """Give back the worker of a job that finished."""
        self.running -= 1

    def waiting(self) -> list[T]:
        """The queued jobs, in the order they will run."""
        return [*self._normal.items, *self._low.items]
