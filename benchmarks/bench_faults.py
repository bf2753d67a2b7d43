"""Fan-out under faults and under a plan's concurrency cap (issue 14), side by side.

    python benchmarks/bench_faults.py                   # all three sections, about 3 minutes
    python benchmarks/bench_faults.py --sections mix    # one section: mix, cap or clean
    python benchmarks/bench_faults.py --rounds 3        # each client 3 times, interleaved
    python benchmarks/bench_faults.py --ours-python ../base/.venv/bin/python  # another tree's
                                                        # client, this tree's emulator

One emulator runs in this process with one app (``bench/faults``: sleeps ``sleep`` seconds,
counts how often each input ``i`` ran). Each client runs in a subprocess of its own, one after
the other, against that same emulator (reset in between, faults re-armed with the same seeds):

* **map**: ``AsyncClient.map(app, inputs, concurrency=C, ordered=False,
  return_exceptions=True)`` of this package (asyncio);
* **semaphore**: this package's module-level ``subscribe_async``, ``asyncio.gather`` over all
  inputs with an ``asyncio.Semaphore(C)`` around each call: what a user writes by hand;
* **official**: the official client 1.0.3's ``subscribe_async``, gathered the same way, bounded
  by the same ``Semaphore(C)`` (unbounded it would start every input at once, which is not the
  comparison asked for), with its defaults (0.1 s polling, its own retries).

Sections:

* ``mix``: 300 jobs of 50 ms at C=32 under the fault mix of issue 14: ingress 503 on 15% of
  requests, 429 with ``Retry-After: 1`` on 5%, lost submit answers (the job is created, the
  connection reset) on 3% of submits, cut status streams on 10% of streams, failing status polls
  (500) on 5% of polls. The rules are evaluated in that order and each fires with its
  probability on the requests the earlier ones left. Reported: wall time, results delivered,
  failures by type, and duplicate submissions (inputs the app ran more than once).
* ``cap``: 200 jobs of 200 ms at C=32 against an emulator that refuses (429, ``Retry-After:
  1``) any submit past N=8 unfinished jobs. Reported: the share of the cap kept busy (the
  app's running time, capped at N, over N times the span from the first start to the last
  finish), the time to settle (the end of the last half second in which refused submits
  outnumbered accepted ones), refused submits, wall time.
* ``clean``: 2,000 instant jobs at C=64 without faults, the throughput figure of
  ``bench_batch.py`` (also run against the tree before a change to compare it).

Nothing connects anywhere but loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
APP = "bench/faults"


# --- workers (run in a subprocess; the official one inside the official venv) -------------------


def _inputs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"i": i, "sleep": spec["sleep"]} for i in range(spec["n"])]


def _summary(t0: float, outcomes: list[Any]) -> dict[str, Any]:
    errors = Counter(type(r).__name__ for r in outcomes if isinstance(r, BaseException))
    return {
        "seconds": time.perf_counter() - t0,
        "ok": sum(1 for r in outcomes if not isinstance(r, BaseException)),
        "errors": dict(errors),
        "error_texts": [str(r)[:200] for r in outcomes if isinstance(r, BaseException)][:2],
    }


def worker_gather(spec: dict[str, Any]) -> dict[str, Any]:
    """The semaphore loop, over whichever ``fal_client`` this interpreter imports (ours in the
    project venv, the official one in its venv)."""
    import asyncio

    import fal_client

    async def main() -> dict[str, Any]:
        gate = asyncio.Semaphore(spec["concurrency"])

        async def one(arguments: dict[str, Any]) -> Any:
            async with gate:
                return await fal_client.subscribe_async(APP, arguments)

        inputs = _inputs(spec)
        started_at, t0 = time.time(), time.perf_counter()
        outcomes = await asyncio.gather(*(one(a) for a in inputs), return_exceptions=True)
        return {"started_at": started_at, **_summary(t0, list(outcomes))}

    return asyncio.run(main())


def worker_map(spec: dict[str, Any]) -> dict[str, Any]:
    import anyio

    import fal_client

    trace: list[tuple[float, int, int]] = []

    def progress(p: fal_client.Progress) -> None:
        trace.append((p.elapsed, p.limit, p.rate_limited))

    async def main() -> dict[str, Any]:
        outcomes: list[Any] = []
        async with fal_client.AsyncClient() as client:
            started_at, t0 = time.time(), time.perf_counter()
            async with client.map(
                APP,
                _inputs(spec),
                concurrency=spec["concurrency"],
                ordered=False,
                return_exceptions=True,
                on_progress=progress,
            ) as results:
                async for item in results:
                    outcomes.append(item.result if item.ok else item.error)
            summary = _summary(t0, outcomes)
        return {"started_at": started_at, "trace": trace, **summary}

    out: dict[str, Any] = anyio.run(main, backend=spec.get("backend", "asyncio"))
    return out


# --- driver ---------------------------------------------------------------------------------------

#: (kind, operation, probability, params), evaluated in this order by the emulator.
FAULT_MIX: list[tuple[str, Optional[str], float, dict[str, Any]]] = [
    ("ingress_503", None, 0.15, {}),
    ("rate_limit", None, 0.05, {"retry_after": 1}),
    ("reset_after_submit", "submit", 0.03, {}),
    ("sse_cut", "status_stream", 0.10, {"after_events": 1}),
    ("status_500", "status", 0.05, {}),
]

SECTIONS: dict[str, dict[str, Any]] = {
    "mix": {"n": 300, "sleep": 0.05, "concurrency": 32, "faults": True, "cap": None},
    "cap": {"n": 200, "sleep": 0.2, "concurrency": 32, "faults": False, "cap": 8},
    "clean": {"n": 2000, "sleep": 0.0, "concurrency": 64, "faults": False, "cap": None},
}
CLIENTS = ("map", "semaphore", "official")


class Runs:
    """How often the app ran each input (updated on the emulator's thread)."""

    def __init__(self) -> None:
        self.by_input: Counter[int] = Counter()

    def duplicates(self) -> int:
        return sum(count - 1 for count in self.by_input.values() if count > 1)


def build_emulator(runs: Runs) -> Any:
    import anyio

    from fal_client.testing import AppContext, Emulator

    emu = Emulator(max_recorded_requests=100_000, builtin_apps=False)

    @emu.app(APP, workers=1024)
    async def work(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        runs.by_input[int(arguments["i"])] += 1
        if arguments.get("sleep"):
            await anyio.sleep(float(arguments["sleep"]))
        return {"i": arguments["i"], "ok": True}

    return emu


def arm(emu: Any, section: dict[str, Any]) -> None:
    """Set the section's faults and cap (fresh seeds each time: every client meets the same
    sequence of dice)."""
    emu.max_in_flight = section["cap"]
    emu.in_flight_retry_after = 1.0
    if section["faults"]:
        for seed, (kind, operation, probability, params) in enumerate(FAULT_MIX, start=1):
            emu.faults(kind, operation=operation, probability=probability, seed=seed, **params)


def busy_share(jobs: list[Any], cap: int) -> tuple[float, float]:
    """The share of ``cap`` kept running over [first start, last finish], and that span."""
    events: list[tuple[float, int]] = []
    for job in jobs:
        if job.started_at is not None and job.finished_at is not None:
            events += [(job.started_at, 1), (job.finished_at, -1)]
    if not events:
        return 0.0, 0.0
    events.sort()
    busy, running, last = 0.0, 0, events[0][0]
    for at, change in events:
        busy += min(running, cap) * (at - last)
        running += change
        last = at
    span = events[-1][0] - events[0][0]
    return (busy / (cap * span) if span > 0 else 0.0), span


def settle_time(requests: list[Any], started_at: float, bucket: float = 0.5) -> float:
    """The end of the last ``bucket`` (since ``started_at``) in which refused submits outnumbered
    accepted ones; 0 if none did."""
    accepted: Counter[int] = Counter()
    refused: Counter[int] = Counter()
    for r in requests:
        if r.operation != "submit":
            continue
        slot = int((r.timestamp - started_at) // bucket)
        if r.status_code == 200:
            accepted[slot] += 1
        elif r.status_code == 429:
            refused[slot] += 1
    bad = [slot for slot in refused if refused[slot] > accepted[slot]]
    return (max(bad) + 1) * bucket if bad else 0.0


def run_client(
    name: str, section_name: str, emu: Any, runs: Runs, python: str = sys.executable
) -> dict[str, Any]:
    import _official
    from bench_batch import run_worker

    section = SECTIONS[section_name]
    spec = {k: section[k] for k in ("n", "sleep", "concurrency")}
    me = Path(__file__).resolve()
    emu.reset()
    runs.by_input.clear()
    arm(emu, section)
    env = _official.official_env(emu.env)
    if name == "official":
        cmd = _official.official_command(me, ["--worker", json.dumps({**spec, "who": "gather"})])
    else:
        who = "map" if name == "map" else "gather"
        cmd = [python, str(me), "--worker", json.dumps({**spec, "who": who})]
    out = run_worker(cmd, env, 600)
    emu.clear_faults()
    emu.max_in_flight = None
    requests = emu.requests()
    submits = [r for r in requests if r.operation == "submit"]
    out["submits"] = len(submits)
    out["refused_429"] = sum(1 for r in submits if r.status_code == 429)
    out["duplicates"] = runs.duplicates()
    out["inputs_run"] = len(runs.by_input)
    out["requests"] = len(requests)
    if section["cap"] is not None:
        out["busy"], out["span"] = busy_share(emu.jobs(), section["cap"])
        out["settle"] = settle_time(requests, out["started_at"])
    return out


def report(section_name: str, results: dict[str, list[dict[str, Any]]]) -> None:
    from bench_batch import table

    section = SECTIONS[section_name]
    n = section["n"]
    rows = [
        ["client", "wall s", "jobs/s", "delivered", "failed by type", "duplicates", "submit 429s"]
    ]
    if section["cap"] is not None:
        rows[0] += ["cap busy", "settle s"]
    for name, runs in results.items():
        for r in runs:
            row = [
                name,
                f"{r['seconds']:.2f}",
                f"{n / r['seconds']:.1f}",
                f"{r['ok']}/{n}",
                ", ".join(f"{k} {v}" for k, v in sorted(r["errors"].items())) or "-",
                str(r["duplicates"]),
                str(r["refused_429"]),
            ]
            if section["cap"] is not None:
                row += [f"{r['busy']:.0%}", f"{r['settle']:.1f}"]
            rows.append(row)
    print(table(rows))

    def best(name: str) -> Optional[float]:
        runs = results.get(name)
        return min(r["seconds"] for r in runs) if runs else None

    ours = best("map")
    for other in ("semaphore", "official"):
        theirs = best(other)
        if ours and theirs:
            print(f"  map vs {other}: {theirs / ours:.2f}x as fast (best wall times)")
    if section["cap"] is not None and "map" in results:
        shares = [r["busy"] for r in results["map"]]
        settles = [r["settle"] for r in results["map"]]
        limits = [
            limit for r in results["map"] for _, limit, _ in r["trace"][len(r["trace"]) // 2 :]
        ]
        print(
            f"  map: cap busy {min(shares):.0%}-{max(shares):.0%} (target >= 90%), settled "
            f"after {max(settles):.1f} s; its limit in the second half of the run: "
            f"{min(limits, default=0)}-{max(limits, default=0)} (cap {section['cap']})"
        )
    for name, runs in results.items():
        for text in runs[0]["error_texts"][:1]:
            print(f"  {name} error: {text}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="mix,cap,clean", help="comma-separated sections")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated clients")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each client, interleaved")
    parser.add_argument(
        "--ours-python",
        default=sys.executable,
        help="the interpreter of map and the semaphore loop (another tree's venv measures that "
        "tree's client against this tree's emulator; default: this one)",
    )
    parser.add_argument("--json", help="also save every figure to this path")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.worker:
        spec = json.loads(ns.worker)
        out = worker_map(spec) if spec["who"] == "map" else worker_gather(spec)
        print(json.dumps(out), flush=True)
        return 0

    sys.path.insert(0, str(HERE))
    import _loopback

    _loopback.install()
    clients = [c.strip() for c in ns.clients.split(",") if c.strip()]
    everything: dict[str, Any] = {}
    runs = Runs()
    with build_emulator(runs) as emu:
        for section_name in [s.strip() for s in ns.sections.split(",") if s.strip()]:
            section = SECTIONS[section_name]
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
            print(
                f"\n== {section_name}: {section['n']} jobs of {section['sleep'] * 1000:g} ms, "
                f"concurrency {section['concurrency']}"
                + (f", cap {section['cap']} in flight" if section["cap"] else "")
                + (", fault mix" if section["faults"] else "")
                + f"; load avg {load:.2f} =="
            )
            results: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
            for _ in range(ns.rounds):
                for name in clients:
                    results[name].append(run_client(name, section_name, emu, runs, ns.ours_python))
            report(section_name, results)
            everything[section_name] = results
    if ns.json:
        Path(ns.json).write_text(json.dumps(everything, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
