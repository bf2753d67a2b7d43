"""Lost submits under the fault mix (issue 16): recovered from the history, or not, side by side.

    python benchmarks/bench_recovery.py              # one run of each client, about 30 s
    python benchmarks/bench_recovery.py --rounds 3   # each client 3 times, interleaved

One emulator in this process with ``bench_faults.py``'s app (``bench/faults``: sleeps ``sleep``
seconds, counts how often each input ran) and its fault mix (ingress 503 on 15% of requests,
429 with ``Retry-After: 1`` on 5%, lost submit answers on 3% of submits, cut status streams on
10%, failing status polls on 5%), re-armed with the same seeds for each client; 300 jobs of
50 ms at concurrency 32. Clients, each in a subprocess of its own:

* **recover**: ``AsyncClient.map(..., ordered=False, return_exceptions=True)`` (its default,
  ``recover_lost_submit=True``: a lost submit answer is looked up in the request history);
* **no-recover**: the same map with ``recover_lost_submit=False`` (the client before issue 16);
* **official**: the official client 1.0.3's ``subscribe_async``, ``asyncio.gather`` bounded by
  an ``asyncio.Semaphore(32)``, with its defaults.

Reported: wall time, results delivered, failures by type, duplicate submissions (inputs the app
ran more than once), orphan jobs (jobs whose result no caller received: the jobs the app ran
minus the results delivered) and history queries. Nothing connects anywhere but loopback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
SPEC = {"n": 300, "sleep": 0.05, "concurrency": 32}
CLIENTS = ("recover", "no-recover", "official")


def worker_map(spec: dict[str, Any]) -> dict[str, Any]:
    import anyio
    from bench_faults import APP, _inputs, _summary

    import fal_client

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
                recover_lost_submit=spec["recover"],
            ) as results:
                async for item in results:
                    outcomes.append(item.result if item.ok else item.error)
            summary = _summary(t0, outcomes)
        return {"started_at": started_at, **summary}

    out: dict[str, Any] = anyio.run(main)
    return out


def run_client(name: str, emu: Any, runs: Any) -> dict[str, Any]:
    import _official
    from bench_batch import run_worker
    from bench_faults import APP, SECTIONS, arm

    me = Path(__file__).resolve()
    emu.reset()
    runs.by_input.clear()
    arm(emu, SECTIONS["mix"])
    env = _official.official_env(emu.env)
    if name == "official":
        worker = HERE / "bench_faults.py"
        cmd = _official.official_command(
            worker, ["--worker", json.dumps({**SPEC, "who": "gather"})]
        )
    else:
        spec = {**SPEC, "recover": name == "recover"}
        cmd = [sys.executable, str(me), "--worker", json.dumps(spec)]
    out = run_worker(cmd, env, 600)
    emu.clear_faults()
    requests = emu.requests()
    jobs = [j for j in emu.jobs() if j.app == APP]
    out["duplicates"] = runs.duplicates()
    out["jobs"] = len(jobs)
    out["orphans"] = len(jobs) - out["ok"]
    out["lost"] = sum(1 for r in requests if r.fault == "reset_after_submit")
    out["history"] = sum(1 for r in requests if r.operation == "history")
    return out


def report(results: dict[str, list[dict[str, Any]]]) -> None:
    from bench_batch import table

    n = SPEC["n"]
    rows = [
        [
            "client",
            "wall s",
            "delivered",
            "failed by type",
            "duplicates",
            "orphans",
            "lost answers",
            "history queries",
        ]
    ]
    for name, runs in results.items():
        for r in runs:
            rows.append(
                [
                    name,
                    f"{r['seconds']:.2f}",
                    f"{r['ok']}/{n}",
                    ", ".join(f"{k} {v}" for k, v in sorted(r["errors"].items())) or "-",
                    str(r["duplicates"]),
                    str(r["orphans"]),
                    str(r["lost"]),
                    str(r["history"]),
                ]
            )
    print(table(rows))
    for name, runs in results.items():
        for text in runs[0]["error_texts"][:1]:
            print(f"  {name} error: {text}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated clients")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each client, interleaved")
    parser.add_argument("--json", help="also save every figure to this path")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    if ns.worker:
        print(json.dumps(worker_map(json.loads(ns.worker))), flush=True)
        return 0

    import _loopback
    from bench_faults import Runs, build_emulator

    _loopback.install()
    clients = [c.strip() for c in ns.clients.split(",") if c.strip()]
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
    runs = Runs()
    with build_emulator(runs) as emu:
        print(
            f"== {SPEC['n']} jobs of {SPEC['sleep'] * 1000:g} ms, concurrency "
            f"{SPEC['concurrency']}, fault mix (3% lost submit answers) =="
        )
        for _ in range(ns.rounds):
            for name in clients:
                results[name].append(run_client(name, emu, runs))
        report(results)
    if ns.json:
        Path(ns.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
