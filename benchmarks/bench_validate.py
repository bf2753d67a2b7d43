"""What ``validate=True`` costs a fan-out: a 500-job ``map`` with and without it.

    python benchmarks/bench_validate.py             # 500 jobs, 7 interleaved rounds
    python benchmarks/bench_validate.py --quick     # 200 jobs, 3 rounds

One emulator runs in this process with an instant app whose input is a ``TypedDict`` (so it has
a real schema: required and optional keys, an enum, a bounded integer). A worker subprocess
(this file with ``--worker``) runs rounds of ``AsyncClient.map`` over N inputs, alternating
plain and ``validate=True``; the process-wide schema store is emptied before each validated
round, so each one pays its schema fetch. Printed side by side: the median wall time of
each, the overhead, and the schema fetches per validated round, counted twice (by the
client's store and by the emulator's request log of ``/api/v1/models``). Targets (issue 15):
at most one fetch per endpoint per process, and under 5% added to the map.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _loopback  # noqa: E402

APP = "bench/validated"
OVERHEAD_TARGET = 0.05


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    import anyio

    import fal_client
    from fal_client._schema_cache import SCHEMAS

    env = os.environ
    options = {
        "key": env["FAL_KEY"],
        "run_url": _loopback.check_url(env["FAL_RUN_URL"]),
        "queue_url": _loopback.check_url(env["FAL_QUEUE_URL"]),
        "rest_url": _loopback.check_url(env["FAL_REST_URL"]),
        "cdn_url": _loopback.check_url(env["FAL_CDN_URL"]),
        "api_url": _loopback.check_url(env["FAL_API_URL"]),
    }
    n, rounds, concurrency = spec["n"], spec["rounds"], spec["concurrency"]
    inputs = [{"prompt": f"p{i}", "steps": 1 + i % 50, "style": "flat"} for i in range(n)]

    async def one(client: fal_client.AsyncClient, validate: bool) -> float:
        started = time.perf_counter()
        async with client.map(APP, inputs, concurrency=concurrency, validate=validate) as results:
            count = 0
            async for _ in results:
                count += 1
        assert count == n
        return time.perf_counter() - started

    async def main() -> dict[str, Any]:
        plain: list[float] = []
        validated: list[float] = []
        fetches: list[int] = []
        async with fal_client.AsyncClient(**options) as client:
            await one(client, False)  # warm-up: connections, imports
            for _ in range(rounds):
                plain.append(await one(client, False))
                SCHEMAS.clear()
                before = SCHEMAS.fetches
                validated.append(await one(client, True))
                fetches.append(SCHEMAS.fetches - before)
            # The check alone, without the map around it: its CPU per input bounds what
            # validation can add, whatever the noise of the rounds above.
            schema = await client.platform.schema(APP)
            started = time.perf_counter()
            for arguments in inputs:
                assert not schema.problems(arguments)
            check_seconds = (time.perf_counter() - started) / n
        return {
            "plain": plain,
            "validated": validated,
            "fetches": fetches,
            "check_seconds": check_seconds,
        }

    return anyio.run(main)


def build_emulator() -> Any:
    from typing_extensions import NotRequired, TypedDict

    from fal_client.testing import AppContext, Emulator

    class Input(TypedDict):
        prompt: str
        steps: NotRequired[int]
        style: NotRequired[Literal["flat", "photo"]]

    emu = Emulator(max_recorded_requests=200_000)

    @emu.app(APP, workers=1024)
    async def instant(arguments: Input, ctx: AppContext) -> dict[str, Any]:
        return {"ok": True}

    return emu


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 jobs, 3 rounds")
    parser.add_argument("-n", type=int, help="jobs per map (default 500)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 7)")
    parser.add_argument("-c", "--concurrency", type=int, default=32, help="map concurrency")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _loopback.install()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    spec = {
        "n": args.n or (200 if args.quick else 500),
        "rounds": args.rounds or (3 if args.quick else 7),
        "concurrency": args.concurrency,
    }
    emu = build_emulator()
    with emu:
        env = {**os.environ, **emu.env}
        # An empty cache directory: no schema comes from an earlier run's disk cache.
        env["FAL_SCHEMA_CACHE_DIR"] = ""
        before = len([r for r in emu.requests() if "/api/v1/models" in r.path])
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(spec)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        model_requests = len([r for r in emu.requests() if "/api/v1/models" in r.path]) - before
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    plain = statistics.median(result["plain"])
    validated = statistics.median(result["validated"])
    overhead = validated / plain - 1
    rounds = spec["rounds"]
    n = spec["n"]
    print(f"map of {n} jobs (instant app), concurrency {spec['concurrency']}, {rounds} rounds")
    print(f"  plain           median {plain * 1000:8.1f} ms  ({n / plain:6.0f} jobs/s)")
    print(f"  validate=True   median {validated * 1000:8.1f} ms  ({n / validated:6.0f} jobs/s)")
    print(f"  overhead        {overhead * 100:+.1f}%  (target < {OVERHEAD_TARGET * 100:.0f}%)")
    check = result["check_seconds"]
    print(
        f"  the check alone {check * 1e6:.1f} us per input = "
        f"{check * n / plain * 100:.2f}% of the plain map's wall time"
    )
    print(
        f"  schema fetches  {result['fetches']} per validated round (client's count); "
        f"{model_requests} /api/v1/models requests for {rounds} rounds (emulator's log)"
    )
    ok = overhead < OVERHEAD_TARGET and all(f == 1 for f in result["fetches"])
    ok = ok and model_requests == rounds
    print(f"  verdict         {'PASS' if ok else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
