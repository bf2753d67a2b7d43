"""Soak: 20,000 jobs through ``map`` with ~10% retryable faults mixed in.

Not part of the default run (marked ``soak``): ``python -m pytest -m soak tests/reliability``.
Asserts every result arrives, no input runs twice, and memory stays flat: RSS after the last
5,000 jobs within 10% of RSS after the first 5,000.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

import anyio
import pytest

import fal_client
from fal_client.testing import AppContext, Emulator

pytestmark = [pytest.mark.soak, pytest.mark.timeout(900)]

JOBS = int(os.environ.get("FAL_SOAK_JOBS", "20000"))


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_soak_with_mixed_faults_loses_nothing_and_stays_flat() -> None:
    executions: Counter[int] = Counter()
    # Completed jobs expire quickly, so the emulator in this process stays bounded too.
    emu = Emulator(job_ttl=1.0, file_ttl=1.0, max_recorded_requests=1000)

    @emu.app("soak/app", workers=256)
    async def app(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        executions[arguments["i"]] += 1
        return {"i": arguments["i"]}

    with emu:
        for kind, operation, p in (
            ("ingress_503", "submit", 0.03),
            ("rate_limit", "submit", 0.02),
            ("status_500", "status_stream", 0.02),
            ("sse_cut", "status_stream", 0.02),
            ("ingress_502", "result", 0.01),
        ):
            params = {"retry_after": 0.01} if kind == "rate_limit" else {}
            emu.faults(kind, operation=operation, probability=p, seed=7, **params)
        env = emu.env
        marks: dict[int, int] = {}
        results: list[Any] = []

        async def main() -> None:
            client = fal_client.AsyncClient(
                key=env["FAL_KEY"],
                run_url=env["FAL_RUN_URL"],
                queue_url=env["FAL_QUEUE_URL"],
                retry=fal_client.RetryPolicy(base_delay=0.01, max_delay=0.1, max_attempts=8),
            )
            async with (
                client,
                client.map("soak/app", ({"i": i} for i in range(JOBS)), concurrency=64) as batch,
            ):
                async for result in batch:
                    results.append(result)
                    if len(results) in (JOBS // 4, JOBS):
                        marks[len(results)] = rss_bytes()

        started = time.monotonic()
        anyio.run(main)
        elapsed = time.monotonic() - started

    assert [r["i"] for r in results] == list(range(JOBS))
    assert set(executions) == set(range(JOBS))
    assert max(executions.values()) == 1, "an input ran twice"
    first, last = marks[JOBS // 4], marks[JOBS]
    print(
        f"\nsoak: {JOBS} jobs, {len(results) / elapsed:.0f} jobs/s, RSS {first / 2**20:.1f} MiB "
        f"after {JOBS // 4} jobs, {last / 2**20:.1f} MiB after {JOBS}"
    )
    assert last <= first * 1.10, f"RSS grew from {first / 2**20:.1f} to {last / 2**20:.1f} MiB"
