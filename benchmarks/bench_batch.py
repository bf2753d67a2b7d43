"""Fan-out benchmark: ``AsyncClient.map`` vs the official client's ``asyncio.gather``.

    python benchmarks/bench_batch.py            # 2,000 jobs each (the official side takes a while)
    python benchmarks/bench_batch.py --quick    # 300 jobs each, a smoke run

One emulator runs in this process with an instant app (``bench/batch``, 1024 workers, returns a
small JSON body at once). Each client runs N jobs through it in a subprocess of its own:

* **ours**: ``async with client.map(app, inputs, concurrency=C, ordered=False,
  return_exceptions=True)``, in the project venv (asyncio, and trio with ``--trio``);
* **official**: ``await asyncio.gather(*(fal_client.subscribe_async(app, args) for ...),
  return_exceptions=True)``, the natural fan-out of the official ``fal-client`` (its default
  0.1 s polling included), in its throwaway venv (``_official.py``) with its URLs pointed here.

Printed side by side: wall time, jobs/s, failures, peak RSS of the client process (``ru_maxrss``)
and its RSS growth over the run, and the ratios. Targets (issue 5): at least 8x the throughput,
with a lower peak RSS. Nothing connects anywhere but loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
APP = "bench/batch"
SPEEDUP_TARGET = 8.0


def _rss_mb() -> float:
    """The current resident set of this process in MiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


def _peak_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


# --- workers (run in a subprocess; the official one inside the official venv) -------------------


def worker_official(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    import fal_client  # the official package: this runs in its venv, through the shim

    n = spec["n"]
    baseline = _rss_mb()

    async def main() -> dict[str, Any]:
        t0 = time.perf_counter()
        results = await asyncio.gather(
            *(fal_client.subscribe_async(APP, {"i": i}) for i in range(n)),
            return_exceptions=True,
        )
        seconds = time.perf_counter() - t0
        errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
        return {"seconds": seconds, "failed": len(errors), "errors": errors[:3]}

    out = asyncio.run(main())
    out.update(baseline_mb=baseline, peak_mb=_peak_rss_mb())
    return out


def worker_ours(spec: dict[str, Any]) -> dict[str, Any]:
    import anyio

    import fal_client

    n, concurrency = spec["n"], spec["concurrency"]
    baseline = _rss_mb()

    async def main() -> dict[str, Any]:
        failed = 0
        errors: list[str] = []
        async with fal_client.AsyncClient(max_connections=concurrency + 8) as client:
            t0 = time.perf_counter()
            inputs = ({"i": i} for i in range(n))
            async with client.map(
                APP, inputs, concurrency=concurrency, ordered=False, return_exceptions=True
            ) as results:
                async for item in results:
                    if not item.ok:
                        failed += 1
                        errors.append(f"{type(item.error).__name__}: {item.error}")
            seconds = time.perf_counter() - t0
        return {"seconds": seconds, "failed": failed, "errors": errors[:3]}

    out: dict[str, Any] = anyio.run(main, backend=spec["backend"])
    out.update(baseline_mb=baseline, peak_mb=_peak_rss_mb())
    return out


# --- driver ---------------------------------------------------------------------------------------


def _vm_hwm_mb(pid: int) -> float:
    """The peak resident set of a live process in MiB (Linux ``VmHWM``), NaN if unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run_worker(cmd: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run a worker; one that runs past ``timeout`` is killed and reported as a bound."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        peak = _vm_hwm_mb(proc.pid)  # its peak so far, read before the kill
        proc.kill()
        proc.communicate()
        return {
            "seconds": timeout,
            "timed_out": True,
            "failed": 0,
            "errors": [f"did not finish within {timeout:g}s; killed (figures are bounds)"],
            "baseline_mb": float("nan"),
            "peak_mb": peak,
        }
    if proc.returncode != 0:
        raise RuntimeError(f"worker {cmd[-1]} exited {proc.returncode}:\n{stderr[-3000:]}")
    return dict(json.loads(stdout.strip().splitlines()[-1]))


def build_emulator() -> Any:
    from fal_client.testing import AppContext, Emulator

    emu = Emulator(max_recorded_requests=100)

    @emu.app(APP, workers=1024)
    async def instant(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        return {"i": arguments.get("i"), "ok": True}

    return emu


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 jobs instead of 2,000")
    parser.add_argument("-n", type=int, default=None, help="jobs per client")
    parser.add_argument("-c", "--concurrency", type=int, default=64, help="map's concurrency")
    parser.add_argument("--trio", action="store_true", help="also run ours on trio")
    parser.add_argument("--no-official", action="store_true", help="skip the official client")
    parser.add_argument(
        "--official-timeout",
        type=float,
        default=600.0,
        help="kill the official run after SECONDS and report its throughput as an upper bound",
    )
    parser.add_argument("--json", help="also save the results to this path")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.worker:
        spec = json.loads(ns.worker)
        kind = spec["who"]
        out = worker_official(spec) if kind == "official" else worker_ours(spec)
        print(json.dumps(out), flush=True)
        return 0

    sys.path.insert(0, str(HERE))
    import _loopback
    import _official

    _loopback.install()
    n = ns.n or (300 if ns.quick else 2000)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    print(f"fan-out of {n} instant jobs; map concurrency {ns.concurrency}; load avg {load:.2f}")
    results: dict[str, dict[str, Any]] = {}
    with build_emulator() as emu:
        env = _official.official_env(emu.env)
        me = [sys.executable, str(Path(__file__).resolve())]
        backends = ["asyncio", "trio"] if ns.trio else ["asyncio"]
        for backend in backends:
            spec = {"who": "ours", "n": n, "concurrency": ns.concurrency, "backend": backend}
            results[f"ours ({backend})"] = run_worker([*me, "--worker", json.dumps(spec)], env, 600)
            emu.reset()
        if not ns.no_official:
            try:
                cmd = _official.official_command(
                    Path(__file__).resolve(), ["--worker", json.dumps({"who": "official", "n": n})]
                )
                results["official gather"] = run_worker(cmd, env, ns.official_timeout)
            except _official.OfficialClientUnavailable as exc:
                print(f"official client unavailable, skipped: {exc}")

    rows = [["client", "jobs", "seconds", "jobs/s", "failed", "peak RSS MiB", "RSS growth MiB"]]
    for name, r in results.items():
        r["jobs_per_s"] = n / r["seconds"]
        rows.append(
            [
                name,
                str(n),
                (">" if r.get("timed_out") else "") + f"{r['seconds']:.2f}",
                ("<" if r.get("timed_out") else "") + f"{r['jobs_per_s']:.1f}",
                str(r["failed"]),
                f"{r['peak_mb']:.1f}",
                f"{r['peak_mb'] - r['baseline_mb']:.1f}",
            ]
        )
    print(table(rows))
    ours, official = results.get("ours (asyncio)"), results.get("official gather")
    for r in results.values():
        for error in r["errors"]:
            print(f"  error: {error}")
    if ours and official:
        speedup = ours["jobs_per_s"] / official["jobs_per_s"]
        rss = ours["peak_mb"] / official["peak_mb"]
        ok = speedup >= SPEEDUP_TARGET and rss < 1
        bound = ">" if official.get("timed_out") else ""
        print(
            f"throughput ratio ours/official: {bound}{speedup:.1f}x "
            f"(target >= {SPEEDUP_TARGET:g}x); "
            f"peak RSS ratio: {rss:.2f} (target < 1): {'MET' if ok else 'NOT MET'}"
        )
    if ns.json:
        Path(ns.json).write_text(json.dumps({"n": n, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
