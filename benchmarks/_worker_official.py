"""Benchmark worker for the OFFICIAL ``fal-client`` (runs in its venv, through the shim).

Usage: ``python -I _official_shim.py _worker_official.py '<json spec>'``; prints one JSON line.
It uses the official package the way its users do: module-level ``subscribe``/``run`` for sync
code, ``subscribe_async`` with ``asyncio.gather`` for fan-out, all with default settings (its
0.1 s polling included: that is what users get).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import fal_client

# TCP connections this process opens (audit event), reported per job: a client that reuses its
# pooled connections opens about one per concurrent request slot, not one per job.
CONNECTS = [0]


def _count_connects(event: str, args: tuple[object, ...]) -> None:
    if event == "socket.connect":
        CONNECTS[0] += 1


sys.addaudithook(_count_connects)


def latency(spec: dict[str, Any]) -> dict[str, Any]:
    variant, n, warmup, app = spec["variant"], spec["n"], spec["warmup"], spec["app"]
    samples: list[float] = []
    if variant == "official-sync":
        for i in range(warmup + n):
            t0 = time.perf_counter()
            fal_client.subscribe(app, {})
            if i >= warmup:
                samples.append(time.perf_counter() - t0)
    elif variant == "official-async":

        async def main() -> None:
            for i in range(warmup + n):
                t0 = time.perf_counter()
                await fal_client.subscribe_async(app, {})
                if i >= warmup:
                    samples.append(time.perf_counter() - t0)

        asyncio.run(main())
    else:
        raise SystemExit(f"unknown latency variant {variant}")
    return {"samples": samples, "connects": CONNECTS[0], "jobs": warmup + n}


def sync_run(spec: dict[str, Any]) -> dict[str, Any]:
    n, warmup, app = spec["n"], spec["warmup"], spec["app"]
    samples = []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        fal_client.run(app, {})
        if i >= warmup:
            samples.append(time.perf_counter() - t0)
    return {"samples": samples}


def fanout(spec: dict[str, Any]) -> dict[str, Any]:
    n, warmup, app = spec["n"], spec["warmup"], spec["app"]
    out: dict[str, Any] = {}

    async def main() -> None:
        async def batch(size: int) -> list[Any]:
            return await asyncio.gather(
                *(fal_client.subscribe_async(app, {}) for _ in range(size)),
                return_exceptions=True,
            )

        await batch(warmup)
        print(json.dumps({"mark": "warm"}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        connects0 = CONNECTS[0]
        t0 = time.perf_counter()
        results = await batch(n)
        out["seconds"] = time.perf_counter() - t0
        out["connects"] = CONNECTS[0] - connects0
        failures = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
        out["failures"] = failures[:5]
        out["failed"] = len(failures)

    asyncio.run(main())
    return out


KINDS = {"latency": latency, "sync_run": sync_run, "fanout": fanout}


def main() -> None:
    spec = json.loads(sys.argv[1])
    out = KINDS[spec["kind"]](spec)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
