"""The lists of the control API and the filters each takes (``GET /__emulator/jobs?...``).

Filters read the emulator's own objects (jobs, request entries, stored files, deliveries,
stream entries, fault rules, app specs), so only the items of a page are turned into snapshots.
"""

from __future__ import annotations

from typing import Any

from ._faults import KINDS, OPERATIONS, FaultRule
from ._jobs import COMPLETED, IN_PROGRESS, IN_QUEUE, Job
from ._listing import (
    Filter,
    Listing,
    app_filter,
    choice_filter,
    equals_filter,
    parse_status_code,
    since_filter,
    status_code_matches,
)


def job_status(job: Job, status: str) -> bool:
    if status == "CANCELLED":
        return job.cancelled
    if status == "FAILED":
        return job.status == COMPLETED and (job.status_code or 0) >= 400
    return job.status == status


def _request_id_filter(what: str) -> Filter:
    return equals_filter("request_id", "request_id", f"Only {what} of this fal request id.")


JOBS = Listing(
    "jobs",
    (
        app_filter(),
        choice_filter(
            "status",
            "Only jobs in this state: fal's `IN_QUEUE`, `IN_PROGRESS`, `COMPLETED`, or "
            "`CANCELLED` (a cancel was requested) and `FAILED` (completed with a status >= 400).",
            (IN_QUEUE, IN_PROGRESS, COMPLETED, "CANCELLED", "FAILED"),
            job_status,
        ),
        since_filter("submitted_at", "submitted"),
        _request_id_filter("the job"),
        choice_filter(
            "via",
            "Only jobs made this way: `queue`, `run` or `stream`.",
            ("queue", "run", "stream"),
            lambda job, via: job.via == via,
        ),
    ),
)

REQUESTS = Listing(
    "requests",
    (
        app_filter(),
        Filter(
            "status",
            "Only requests answered with this HTTP status (`404`) or class (`4xx`).",
            {"type": "string", "examples": ["404", "5xx"]},
            parse_status_code,
            lambda entry, pattern: status_code_matches(entry.status_code, pattern),
        ),
        since_filter("timestamp", "received"),
        _request_id_filter("requests"),
        choice_filter(
            "operation",
            "Only requests of this fal operation.",
            sorted(OPERATIONS),
            lambda entry, operation: entry.operation == operation,
        ),
    ),
)

FILES = Listing(
    "files",
    (
        app_filter(),
        since_filter("created_at", "stored"),
        _request_id_filter("files written by the app"),
        choice_filter(
            "source",
            "Only files that got there this way.",
            ("cdn", "cdn-multipart", "signed", "signed-multipart", "app"),
            lambda stored, source: stored.source == source,
        ),
    ),
)


def webhook_state(delivery: Any) -> str:
    if delivery.delivered:
        return "delivered"
    return "failed" if delivery.finished else "pending"


WEBHOOKS = Listing(
    "webhooks",
    (
        app_filter(),
        choice_filter(
            "status",
            "`delivered` (a 2xx arrived), `failed` (refused or out of attempts) or `pending`.",
            ("delivered", "failed", "pending"),
            lambda delivery, status: webhook_state(delivery) == status,
        ),
        since_filter("created_at", "begun"),
        _request_id_filter("the webhook"),
    ),
)

STREAMS = Listing(
    "streams",
    (
        app_filter(),
        choice_filter(
            "status",
            "`open` or `finished`.",
            ("open", "finished"),
            lambda entry, status: ("finished" if entry.finished else "open") == status,
        ),
        since_filter("opened_at", "opened"),
        _request_id_filter("streams"),
        choice_filter(
            "kind",
            "`stream` (`/stream`), `status_stream` (queue status SSE) or `realtime` (WebSocket).",
            ("stream", "status_stream", "realtime"),
            lambda entry, kind: entry.kind == kind,
        ),
    ),
)


def fault_state(rule: FaultRule) -> str:
    return "exhausted" if rule.remaining == 0 else "active"


FAULTS = Listing(
    "faults",
    (
        app_filter(),
        choice_filter(
            "status",
            "`active` (may still fire) or `exhausted` (its `count` is used up).",
            ("active", "exhausted"),
            lambda rule, status: fault_state(rule) == status,
        ),
        since_filter("created_at", "added"),
        choice_filter(
            "kind",
            "Only faults of this kind.",
            sorted(KINDS),
            lambda rule, kind: rule.kind == kind,
        ),
    ),
)

APPS = Listing(
    "apps",
    (
        app_filter("name"),
        choice_filter(
            "kind",
            "`plain`, `streaming` (a generator) or `realtime`.",
            ("plain", "streaming", "realtime"),
            lambda spec, kind: spec.kind == kind,
        ),
    ),
)
