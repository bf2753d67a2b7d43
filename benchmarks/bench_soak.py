"""Soak benchmark: 20,000 jobs through ``map`` with ~10% mixed retryable faults.

    python benchmarks/bench_soak.py                 # 20,000 jobs, about a minute
    python benchmarks/bench_soak.py --jobs 2000     # smoke run

One emulator runs in this process (uvicorn on 127.0.0.1, in a thread), with completed jobs
expiring after a second so it stays bounded too. Five fault kinds hit submits, status streams
and results (``FAULTS``); the client retries them. Prints throughput, the faults that fired,
duplicates (inputs the app ran more than once) and RSS after the first quarter and at the end.
The opt-in test ``tests/reliability/test_soak.py`` (``python -m pytest -m soak``) runs this same
``run_soak`` and asserts on it: every result in order, no duplicates, RSS growth within 10%.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import anyio

import fal_client
from fal_client.testing import AppContext, Emulator

# (kind, operation, probability): about 10% of jobs meet one.
FAULTS = (
    ("ingress_503", "submit", 0.03),
    ("rate_limit", "submit", 0.02),
    ("status_500", "status_stream", 0.02),
    ("sse_cut", "status_stream", 0.02),
    ("ingress_502", "result", 0.01),
)


@dataclass
class SoakReport:
    jobs: int
    delivered_in_order: bool
    executions: Counter[int]
    faults_fired: Counter[str]
    elapsed: float
    rss_first_quarter: int
    rss_end: int

    @property
    def duplicates(self) -> int:
        return sum(1 for n in self.executions.values() if n > 1)

    @property
    def rss_growth(self) -> float:
        return self.rss_end / self.rss_first_quarter - 1

    def summary(self) -> str:
        mib = 2**20
        fired = ", ".join(f"{k} {n}" for k, n in sorted(self.faults_fired.items()))
        return (
            f"soak: {self.jobs} jobs in {self.elapsed:.1f} s "
            f"({self.jobs / self.elapsed:.0f} jobs/s)"
            f"\n  delivered in order: {self.delivered_in_order}; inputs run twice: "
            f"{self.duplicates}; inputs never run: {self.jobs - len(self.executions)}"
            f"\n  faults fired (last {FAULT_WINDOW} requests): {fired or 'none'}"
            f"\n  RSS {self.rss_first_quarter / mib:.1f} MiB after {self.jobs // 4} jobs, "
            f"{self.rss_end / mib:.1f} MiB after {self.jobs} ({self.rss_growth:+.1%})"
        )


FAULT_WINDOW = 1000  # the emulator keeps this many request records


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def run_soak(jobs: int = 20_000, concurrency: int = 64) -> SoakReport:
    """Run the soak in this process and report what happened."""
    executions: Counter[int] = Counter()
    emu = Emulator(job_ttl=1.0, file_ttl=1.0, max_recorded_requests=FAULT_WINDOW)

    @emu.app("soak/app", workers=256)
    async def app(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        executions[arguments["i"]] += 1
        return {"i": arguments["i"]}

    marks: dict[int, int] = {}
    results: list[Any] = []
    with emu:
        for kind, operation, p in FAULTS:
            params = {"retry_after": 0.01} if kind == "rate_limit" else {}
            emu.faults(kind, operation=operation, probability=p, seed=7, **params)
        env = emu.env

        async def main() -> None:
            client = fal_client.AsyncClient(
                key=env["FAL_KEY"],
                run_url=env["FAL_RUN_URL"],
                queue_url=env["FAL_QUEUE_URL"],
                retry=fal_client.RetryPolicy(base_delay=0.01, max_delay=0.1, max_attempts=8),
            )
            inputs = ({"i": i} for i in range(jobs))
            async with client, client.map("soak/app", inputs, concurrency=concurrency) as batch:
                async for result in batch:
                    results.append(result)
                    if len(results) in (jobs // 4, jobs):
                        marks[len(results)] = rss_bytes()

        started = time.monotonic()
        anyio.run(main)
        elapsed = time.monotonic() - started
        fired = Counter(r.fault for r in emu.requests() if r.fault)
    return SoakReport(
        jobs=jobs,
        delivered_in_order=[r["i"] for r in results] == list(range(jobs)),
        executions=executions,
        faults_fired=fired,
        elapsed=elapsed,
        rss_first_quarter=marks[jobs // 4],
        rss_end=marks[jobs],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    print(run_soak(args.jobs, args.concurrency).summary())


if __name__ == "__main__":
    main()
