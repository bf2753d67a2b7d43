"""The control API's hand-written schemas and texts (the records' schemas are generated from
their dataclasses), for its OpenAPI document."""

from __future__ import annotations

from typing import Dict

from ._faults import KIND_DESCRIPTIONS, KINDS, OPERATIONS
from ._openapi import Schema, record_schema, ref
from ._records import AppInfo, FileInfo, JobInfo, RequestRecord, StreamInfo, WebhookDelivery

API_DESCRIPTION = (
    "Inspect and steer a running fal emulator over HTTP, without credentials: what it "
    "received (`requests`), ran (`jobs`), stored (`files`), streamed (`streams`) and "
    "delivered (`webhooks`); inject and remove `faults`; `reset` it. The fal services "
    "themselves are at `/run`, `/queue`, `/rest`, `/cdn` and `/api/v1` (with "
    "`Authorization: Key ...`).\n\n"
    "Every list is a JSON array, oldest first, and takes `limit`, `cursor` and `order`, plus "
    "the filters it lists (`app`, `status`, `since`, ...). A page that is not the last says so "
    'in `Link: <...>; rel="next"` and `X-Next-Cursor`; `X-Total-Count` counts every match. '
    "A query parameter an endpoint does not take is a 400 naming it. The live dashboard is at "
    "[/__emulator/ui](/__emulator/ui)."
)

TAGS = [
    ("Start here", "The index, this document, the dashboard and its live change events."),
    ("Inspect", "What the emulator holds and saw; every list is filtered and paged alike."),
    ("Control", "Faults and reset."),
]

BOOL_CLEARED: Schema = {
    "type": "object",
    "properties": {"cleared": {"type": "boolean"}},
    "required": ["cleared"],
}

FAULT_SCHEMA: Schema = {
    "type": "object",
    "description": "An injected fault rule and how often it fired.",
    "properties": {
        "id": {"type": "integer", "description": "Its id (for `DELETE /__emulator/faults/{id}`)."},
        "kind": {"type": "string", "enum": sorted(KINDS), "description": "What goes wrong."},
        "app": {"type": ["string", "null"], "description": "Only requests to this app id."},
        "operation": {
            "type": ["string", "null"],
            "description": "Only requests of this fal operation.",
        },
        "count": {"type": ["integer", "null"], "description": "Fires this many times at most."},
        "probability": {
            "type": ["number", "null"],
            "description": "Fires on each matching request with this probability.",
        },
        "seed": {"type": ["integer", "null"], "description": "Seeds the probability's RNG."},
        "params": {"type": "object", "description": "The kind's parameters."},
        "applied": {"type": "integer", "description": "How many requests it hit."},
        "remaining": {
            "type": ["integer", "null"],
            "description": "How many more it may hit (null: unlimited).",
        },
        "created_at": {"type": "number", "description": "Wall-clock time it was added."},
    },
    "required": [
        "id",
        "kind",
        "app",
        "operation",
        "count",
        "probability",
        "seed",
        "params",
        "applied",
        "remaining",
        "created_at",
    ],
}

FAULT_REQUEST: Schema = {
    "type": "object",
    "description": (
        "A fault to add. Kinds: "
        + "; ".join(f"`{kind}`: {KIND_DESCRIPTIONS[kind]}" for kind in sorted(KINDS))
        + " The kind's parameters go in `params` or at the top level."
    ),
    "properties": {
        "kind": {"type": "string", "enum": sorted(KINDS)},
        "app": {"type": ["string", "null"]},
        "operation": {"type": ["string", "null"], "enum": [*sorted(OPERATIONS), None]},
        "count": {"type": ["integer", "null"], "minimum": 0},
        "probability": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "seed": {"type": ["integer", "null"]},
        "params": {"type": "object"},
    },
    "required": ["kind"],
    "additionalProperties": True,
}

JOB_DETAIL: Schema = {
    "allOf": [
        ref("JobInfo"),
        {
            "type": "object",
            "properties": {
                "endpoint": {"type": "string", "description": "The endpoint id addressed."},
                "arguments": {"description": "Its input, kept until it completes (then null)."},
                "logs": {
                    "type": "array",
                    "items": {"type": "object", "additionalProperties": {"type": "string"}},
                    "description": "The log lines its app wrote so far.",
                },
                "result": {"description": "Its JSON result body (errors too), once completed."},
                "result_text": {
                    "type": ["string", "null"],
                    "description": "The result body as text when it is not JSON (first 64 KiB).",
                },
                "error": {
                    "type": ["string", "null"],
                    "description": "The error message of a failed job.",
                },
            },
            "required": ["endpoint", "arguments", "logs", "result", "result_text", "error"],
        },
    ]
}

INDEX: Schema = {
    "type": "object",
    "description": "Where everything is.",
    "properties": {
        "emulator": {"type": "string"},
        "version": {"type": "string"},
        "url": {"type": "string", "description": "The emulator's root URL."},
        "dashboard": {"type": "string"},
        "control_api": {"type": "string"},
        "reference": {"type": "string"},
        "openapi": {"type": "string"},
        "services": {"type": "object", "additionalProperties": {"type": "string"}},
        "env": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Environment variables pointing a fal client here.",
        },
        "apps": {"type": "array", "items": {"type": "string"}},
        "fault_kinds": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"kind": {"type": "string"}, "description": {"type": "string"}},
            },
        },
        "fault_operations": {"type": "array", "items": {"type": "string"}},
        "endpoints": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "method": {"type": "string"},
                    "path": {"type": "string"},
                    "summary": {"type": "string"},
                },
            },
        },
    },
    "required": ["url", "dashboard", "reference", "openapi", "env", "apps", "endpoints"],
}

SCHEMAS: Dict[str, Schema] = {
    "Index": INDEX,
    "AppInfo": record_schema(AppInfo),
    "JobInfo": record_schema(JobInfo),
    "JobDetail": JOB_DETAIL,
    "RequestRecord": record_schema(RequestRecord),
    "FileInfo": record_schema(FileInfo),
    "WebhookDelivery": record_schema(WebhookDelivery),
    "StreamInfo": record_schema(StreamInfo),
    "Fault": FAULT_SCHEMA,
    "FaultRequest": FAULT_REQUEST,
}
