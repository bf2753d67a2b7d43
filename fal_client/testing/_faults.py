"""Injected faults: which requests fail, and how (the choice only; the handlers act on it).

A fault rule names a *kind* (what goes wrong), optionally an app and an operation it is limited
to, and how often it fires: always, for the first ``count`` matching requests, and/or with a
seeded ``probability``. Every request consults the active rules once, right after it has been
classified and before auth, the way ingress failures happen before fal's own code runs.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Tuple

from ._app_ids import normalize_app_name

#: Every fault kind.
KINDS: FrozenSet[str] = frozenset(
    {
        "ingress_502",
        "ingress_503",
        "ingress_504",
        "rate_limit",
        "status_500",
        "http_status",
        "latency",
        "reset_before",
        "reset_after_submit",
        "sse_cut",
        "part_fail",
    }
)

#: What each kind does, and its parameters (shown by the control API and the dashboard).
KIND_DESCRIPTIONS: Dict[str, str] = {
    "ingress_502": "The ingress answers 502 (an nginx HTML page, no request id).",
    "ingress_503": "The ingress answers 503 (an nginx HTML page, no request id).",
    "ingress_504": "The ingress answers 504 (an nginx HTML page, no request id).",
    "rate_limit": "429 Rate limit exceeded; `retry_after` (seconds) sets `Retry-After`.",
    "status_500": "500 Internal Server Error, with a request id.",
    "http_status": "Any status: `status_code` (default 500), `detail`, `headers`.",
    "latency": "Delays the request by `seconds` (default 0.1), then serves it normally.",
    "reset_before": "Resets the TCP connection instead of answering.",
    "reset_after_submit": "Queues the job, then resets the connection (the id is lost).",
    "sse_cut": "Cuts a stream after `after_events` events (default 1).",
    "part_fail": "Fails a multipart upload part with a 500.",
}

#: Every operation a fault can be limited to.
OPERATIONS: FrozenSet[str] = frozenset(
    {
        "run",
        "stream",
        "submit",
        "status",
        "status_stream",
        "result",
        "cancel",
        "upload",
        "part",
        "token",
        "file",
        "realtime",
        # The platform API (/api/v1).
        "models",
        "pricing",
        "estimate",
        "history",
    }
)

# Kinds that only make sense for some operations; they never fire anywhere else.
_KIND_OPERATIONS: Dict[str, FrozenSet[str]] = {
    "reset_after_submit": frozenset({"submit"}),
    "sse_cut": frozenset({"stream", "status_stream"}),
    "part_fail": frozenset({"part"}),
}

_DEFAULT_PARAMS: Dict[str, Dict[str, Any]] = {
    "rate_limit": {"retry_after": None},
    "latency": {"seconds": 0.1},
    "sse_cut": {"after_events": 1},
    "http_status": {"status_code": 500, "detail": "Injected error"},
}

_ids = itertools.count(1)


@dataclass
class FaultRule:
    """One active fault (mutable: it counts its firings)."""

    id: int
    kind: str
    app: Optional[str]
    operation: Optional[str]
    count: Optional[int]
    probability: Optional[float]
    seed: Optional[int]
    params: Dict[str, Any]
    applied: int = 0
    created_at: float = field(default_factory=time.time)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    @property
    def remaining(self) -> Optional[int]:
        """How many more times it may fire (None: unlimited)."""
        return None if self.count is None else max(0, self.count - self.applied)

    def matches(self, operation: Optional[str], apps: Tuple[str, ...]) -> bool:
        """Whether a request of this operation and app is in scope (ignoring count/probability)."""
        if self.count is not None and self.applied >= self.count:
            return False
        allowed = _KIND_OPERATIONS.get(self.kind)
        if allowed is not None and operation not in allowed:
            return False
        if self.operation is not None and operation != self.operation:
            return False
        return self.app is None or self.app in apps

    def fires(self) -> bool:
        """Roll the dice for one matching request; counts the firing if it happens."""
        if self.probability is not None and self._rng.random() >= self.probability:
            return False
        self.applied += 1
        return True

    def as_dict(self) -> Dict[str, Any]:
        """JSON shape for ``/__emulator/faults``."""
        return {
            "id": self.id,
            "kind": self.kind,
            "app": self.app,
            "operation": self.operation,
            "count": self.count,
            "probability": self.probability,
            "seed": self.seed,
            "params": dict(self.params),
            "applied": self.applied,
            "remaining": self.remaining,
            "created_at": self.created_at,
        }


def make_rule(
    kind: str,
    *,
    app: Optional[str] = None,
    operation: Optional[str] = None,
    count: Optional[int] = None,
    probability: Optional[float] = None,
    seed: Optional[int] = None,
    params: Optional[Mapping[str, Any]] = None,
) -> FaultRule:
    """Validate the arguments of ``Emulator.faults`` into a rule.

    Raises:
        ValueError: for an unknown kind or operation, an operation the kind cannot apply to, or
            an out-of-range count or probability.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
    if operation is not None:
        if operation not in OPERATIONS:
            raise ValueError(
                f"unknown operation {operation!r}; expected one of {sorted(OPERATIONS)}"
            )
        allowed = _KIND_OPERATIONS.get(kind)
        if allowed is not None and operation not in allowed:
            raise ValueError(f"fault {kind!r} only applies to operations {sorted(allowed)}")
    if count is not None and count < 0:
        raise ValueError("count must be >= 0")
    if probability is not None and not 0.0 <= probability <= 1.0:
        raise ValueError("probability must be between 0 and 1")
    merged = dict(_DEFAULT_PARAMS.get(kind, {}))
    merged.update(params or {})
    rule = FaultRule(
        id=next(_ids),
        kind=kind,
        app=normalize_app_name(app) if app is not None else None,
        operation=operation,
        count=count,
        probability=probability,
        seed=seed,
        params=merged,
    )
    rule._rng.seed(seed)
    return rule


@dataclass(frozen=True)
class FaultChoice:
    """The outcome of consulting the rules for one request."""

    delay: float = 0.0
    rule: Optional[FaultRule] = None

    @property
    def kind(self) -> Optional[str]:
        """The kind of the fault to act on, if any (latency is folded into ``delay``)."""
        return self.rule.kind if self.rule is not None else None


NO_FAULT = FaultChoice()


class FaultSet:
    """The active rules, in the order they were added. Thread-safe.

    Args:
        on_change: called (outside the set's lock) after a rule was added, removed or fired.
    """

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self._lock = threading.Lock()
        self._rules: List[FaultRule] = []
        self._on_change = on_change

    def add(self, rule: FaultRule) -> None:
        """Activate ``rule``."""
        with self._lock:
            self._rules.append(rule)
        self._on_change()

    def remove(self, rule_id: int) -> bool:
        """Deactivate one rule; False if it was not active."""
        with self._lock:
            before = len(self._rules)
            self._rules = [rule for rule in self._rules if rule.id != rule_id]
            removed = len(self._rules) != before
        if removed:
            self._on_change()
        return removed

    def clear(self) -> None:
        """Deactivate every rule."""
        with self._lock:
            had_rules = bool(self._rules)
            self._rules = []
        if had_rules:
            self._on_change()

    def rules(self) -> List[FaultRule]:
        """The active rules."""
        with self._lock:
            return list(self._rules)

    def choose(self, operation: Optional[str], apps: Tuple[str, ...]) -> FaultChoice:
        """Decide which faults hit one request: every firing latency rule adds its delay, and the
        first other rule that fires is the fault to act on."""
        if not self._rules:  # the hot path: no faults configured
            return NO_FAULT
        delay = 0.0
        chosen: Optional[FaultRule] = None
        with self._lock:
            for rule in self._rules:
                if rule.kind != "latency" and chosen is not None:
                    continue
                if rule.matches(operation, apps) and rule.fires():
                    if rule.kind == "latency":
                        delay += float(rule.params.get("seconds", 0.0))
                    else:
                        chosen = rule
        if chosen is None and not delay:
            return NO_FAULT
        self._on_change()  # a count went down
        return FaultChoice(delay, chosen)


class FaultHandle:
    """A fault returned by ``Emulator.faults``; :meth:`clear` switches it off.

    Attributes:
        id: the rule's id (also shown by ``GET /__emulator/faults``).
        kind: the fault kind.
    """

    def __init__(self, faults: FaultSet, rule: FaultRule) -> None:
        self._faults = faults
        self._rule = rule
        self.id = rule.id
        self.kind = rule.kind

    @property
    def applied(self) -> int:
        """How many requests it has hit so far."""
        return self._rule.applied

    @property
    def remaining(self) -> Optional[int]:
        """How many more requests it may hit (None: unlimited)."""
        return self._rule.remaining

    def clear(self) -> None:
        """Switch this fault off (idempotent)."""
        self._faults.remove(self.id)

    def __enter__(self) -> FaultHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.clear()

    def __repr__(self) -> str:
        return f"<FaultHandle id={self.id} kind={self.kind!r} applied={self.applied}>"
