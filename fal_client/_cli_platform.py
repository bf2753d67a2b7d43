"""The platform commands of ``fal-client``: ``price``, ``history``, ``schema`` and ``types``.

Each prints JSON (one object per line where there are many) like the other commands, so a
script can read it. ``_cli.py`` registers them (``add_commands``) and opens the client they
run with; nothing here knows whether that client talks to fal or to the embedded emulator.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Awaitable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import anyio

from ._cli_args import count, moment
from ._client import AsyncClient
from ._platform import HistoryItem
from ._platform_api import HISTORY_STATUSES

__all__ = ["CommandBody", "add_commands"]

#: A command's body: it gets the parsed flags and an open client, and returns the exit code.
CommandBody = Callable[[argparse.Namespace, AsyncClient], Awaitable[int]]


def _print_line(value: Any) -> None:
    print(json.dumps(value, default=str), flush=True)


def _history_json(item: HistoryItem, payloads: bool) -> dict[str, Any]:
    def when(moment: Optional[datetime]) -> Optional[str]:
        return moment.astimezone(timezone.utc).isoformat() if moment else None

    record: dict[str, Any] = {
        "request_id": item.request_id,
        "endpoint_id": item.endpoint_id,
        "sent_at": when(item.sent_at),
        "started_at": when(item.started_at),
        "ended_at": when(item.ended_at),
        "status_code": item.status_code,
        "duration": item.duration,
    }
    if payloads:
        record["json_input"] = item.json_input
        record["json_output"] = item.json_output
    return record


async def _price(ns: argparse.Namespace, client: AsyncClient) -> int:
    prices = await client.platform.prices(ns.endpoints)
    missing = [e for e in dict.fromkeys(ns.endpoints) if e not in prices]
    for price in prices.values():
        line: dict[str, Any] = {
            "endpoint_id": price.endpoint_id,
            "unit_price": price.unit_price,
            "unit": price.unit,
            "currency": price.currency,
        }
        if ns.calls is not None:
            estimate = await client.platform.estimate({price.endpoint_id: ns.calls})
            line["estimate"] = {
                "calls": ns.calls,
                "total_cost": estimate.total_cost,
                "currency": estimate.currency,
            }
        _print_line(line)
    for endpoint_id in missing:
        _print_line({"endpoint_id": endpoint_id, "error": "the platform API lists no price"})
    if missing:
        print(
            f"fal-client: no price for {', '.join(missing)}: check the endpoint ids",
            file=sys.stderr,
        )
    return 1 if missing else 0


async def _history(ns: argparse.Namespace, client: AsyncClient) -> int:
    items = client.platform.history(
        ns.endpoint,
        since=ns.since,
        until=ns.until,
        status=ns.status,
        request_id=ns.request_id,
        payloads=ns.payloads,
        page_size=min(ns.limit, 100) if ns.limit else None,
    )
    shown = 0
    async for item in items:
        _print_line(_history_json(item, ns.payloads))
        shown += 1
        if ns.limit is not None and shown >= ns.limit:
            break
    return 0


async def _schema(ns: argparse.Namespace, client: AsyncClient) -> int:
    from ._schema_example import example_input

    schema = await client.platform.schema(ns.endpoint)
    document = {
        "endpoint_id": schema.endpoint_id,
        "input": schema.input,
        "output": schema.output,
        "components": schema.components,
        "example_input": example_input(schema.input, schema.components),
    }
    print(json.dumps(document, indent=2))
    return 0


#: The first line of every file ``fal-client types`` writes: how it knows a file is its own.
GENERATED_MARK = "# Generated from fal's OpenAPI documents by:"


def _refuse_foreign_file(path: Path) -> None:
    """``-o`` may replace a file ``fal-client types`` wrote, never anything else."""
    if not path.exists():
        return
    if path.is_dir():
        raise ValueError(f"-o {path}: is a directory")
    with path.open("r", encoding="utf-8", errors="replace") as existing:
        first = existing.readline()
    if not first.startswith(GENERATED_MARK):
        raise ValueError(
            f"-o {path}: the file exists and was not written by fal-client types; "
            "choose another path or delete it first"
        )


async def _types(ns: argparse.Namespace, client: AsyncClient) -> int:
    from ._openapi_schemas import find_endpoint_schemas
    from ._typegen import render_typed_dicts

    output = Path(ns.output)
    await anyio.to_thread.run_sync(_refuse_foreign_file, output)
    endpoints = []
    for endpoint_id in dict.fromkeys(ns.endpoints):
        schema = await client.platform.schema(endpoint_id)
        endpoints.append(find_endpoint_schemas(schema.openapi, schema.endpoint_id))
    command = " ".join(["fal-client", "types", *map(shlex.quote, ns.endpoints), "-o", ns.output])
    source = render_typed_dicts(endpoints, command=command)
    assert source.startswith(GENERATED_MARK)  # what makes a second run allowed to replace it
    # Written aside and moved into place: an interrupted run leaves the old file whole.
    tmp = output.with_name(f".{output.name}.tmp")
    await anyio.Path(tmp).write_text(source, encoding="utf-8")
    await anyio.Path(tmp).replace(output)
    print(f"wrote {output} ({len(endpoints)} endpoint(s))", file=sys.stderr)
    return 0


def add_commands(
    sub: Any,
    with_emulator: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
    handler: Callable[[CommandBody], Callable[[argparse.Namespace], Awaitable[int]]],
) -> None:
    """Add the platform commands to ``fal-client``'s subparsers; ``handler`` turns a body into
    the command's handler (it opens the client)."""
    p = with_emulator(
        sub.add_parser(
            "price",
            help="print the unit price of endpoints (JSON lines)",
            description="Print each endpoint's unit price from fal's platform API, one JSON "
            "object per line; with --calls, also what that many calls are estimated to cost.",
        )
    )
    p.add_argument("endpoints", nargs="+", metavar="ENDPOINT", help="endpoint id(s)")
    p.add_argument("--calls", type=count, default=None, help="estimate the cost of N calls")
    p.set_defaults(handler=handler(_price))

    p = with_emulator(
        sub.add_parser(
            "history",
            help="print your requests to an endpoint (JSON lines)",
            description="Print your requests to ENDPOINT from fal's request history, newest "
            "first, one JSON object per line.",
        )
    )
    p.add_argument("endpoint", metavar="ENDPOINT", help="endpoint id, e.g. fal-ai/flux/dev")
    p.add_argument(
        "--since",
        type=moment,
        default=None,
        help="earliest request: a duration ago (24h, 7d) or an ISO time (default: fal's, 24h)",
    )
    p.add_argument("--until", type=moment, default=None, help="latest request (as --since)")
    p.add_argument("--status", choices=HISTORY_STATUSES, default=None, help="only these requests")
    p.add_argument("--request-id", default=None, help="only this request")
    p.add_argument("--payloads", action="store_true", help="include each input and output")
    p.add_argument("--limit", type=count, default=None, help="print at most N requests")
    p.set_defaults(handler=handler(_history))

    p = with_emulator(
        sub.add_parser(
            "schema",
            help="print an endpoint's input/output schemas and an example input",
        )
    )
    p.add_argument("endpoint", metavar="ENDPOINT", help="endpoint id, e.g. fal-ai/flux/dev")
    p.set_defaults(handler=handler(_schema))

    p = with_emulator(
        sub.add_parser(
            "types",
            help="write TypedDicts for endpoints' inputs and outputs to a Python module",
            description="Write a Python module with a TypedDict for each endpoint's input and "
            "output (nested objects, enums as Literal, optional keys as NotRequired). -o may "
            "replace a file this command wrote before, never another file.",
        )
    )
    p.add_argument("endpoints", nargs="+", metavar="ENDPOINT", help="endpoint id(s)")
    p.add_argument("-o", "--output", required=True, help="the .py file to write")
    p.set_defaults(handler=handler(_types))
