"""Core benchmark: this client vs the official ``fal-client`` vs raw HTTP, against one emulator.

    python benchmarks/bench_core.py            # full run, about 2 minutes on 2 cores
    python benchmarks/bench_core.py --quick    # smoke run, well under a minute

One emulator runs in this process (a real uvicorn server on 127.0.0.1, in a thread) with two
apps: ``bench/instant`` (returns at once, many workers) and ``bench/sleep50`` (sleeps 50 ms).
Every measured client runs in a subprocess of its own, so each client gets the same conditions:
its own interpreter and GIL, talking over loopback to the emulator here. The official client runs
in its throwaway venv (``_official.py``; created on first use, needs PyPI once) with its URL
constants pointed at the emulator. Sections:

1. completion latency of a 50 ms job via ``subscribe`` (overhead = latency - 50 ms);
2. sync ``run`` per call to the instant app (plus our engine in a running loop, no thread hop);
3. N-way async fan-out of ``subscribe`` to the instant app: jobs/s and HTTP exchanges per job;
4. httpx vs httpx2 under our client on both backends (from sections 2 and 3).

Targets come from issue 3. Nothing here ever connects anywhere but loopback (an audit hook in
every process refuses it). Results are printed as tables; ``--json PATH`` also saves them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _loopback  # noqa: E402
import _official  # noqa: E402

OURS_WORKER = HERE / "_worker_ours.py"
OFFICIAL_WORKER = HERE / "_worker_official.py"
JOB_SECONDS = 0.050
INSTANT = "bench/instant"
SLEEP50 = "bench/sleep50"

# Targets (issue 3, "Done when").
LATENCY_OVERHEAD_TARGET_MS = 5.0
SYNC_RUN_REQUIRED = 1.5
SYNC_RUN_STRETCH = 1.2
SYNC_RUN_FLOOR_TARGET = 1.25  # issue 18
FANOUT_SPEEDUP_TARGET = 8.0
FANOUT_MAX_EXCHANGES = 3.0
FANOUT_FLOOR_STRETCH = 0.9


@dataclass(frozen=True)
class Sizes:
    latency_n: int
    latency_warmup: int
    run_n: int
    run_warmup: int
    run_rounds: int
    fanout_n: int
    fanout_warmup: int
    fanout_limit: int
    fanout_rounds: int


FULL = Sizes(
    latency_n=40,
    latency_warmup=3,
    run_n=1000,
    run_warmup=50,
    run_rounds=2,
    fanout_n=500,
    fanout_warmup=64,
    fanout_limit=64,
    fanout_rounds=3,
)
QUICK = Sizes(
    latency_n=8,
    latency_warmup=2,
    run_n=150,
    run_warmup=20,
    run_rounds=1,
    fanout_n=100,
    fanout_warmup=16,
    fanout_limit=64,
    fanout_rounds=1,
)


# --- statistics ---------------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> float:
    return seconds * 1000.0


# --- running workers ------------------------------------------------------------------------------


class Bench:
    def __init__(self, emu: Any, sizes: Sizes, official_python: Optional[Path], verbose: bool):
        self.emu = emu
        self.env = dict(emu.env)
        for name in ("FAL_RUN_URL", "FAL_QUEUE_URL", "FAL_REST_URL", "FAL_CDN_URL"):
            _loopback.check_url(self.env[name])
        self.sizes = sizes
        self.official_python = official_python
        self.verbose = verbose

    def _cmd(self, who: str, spec: dict[str, Any]) -> list[str]:
        if who == "official":
            return _official.official_command(OFFICIAL_WORKER, [json.dumps(spec)])
        return [sys.executable, str(OURS_WORKER), json.dumps(spec)]

    def _env(self, who: str) -> dict[str, str]:
        if who == "official":
            return _official.official_env(self.env)
        env = _official.official_env(self.env)
        env.pop("FAL_CLIENT_HTTP_LIBRARY", None)
        return env

    def _log(self, text: str) -> None:
        if self.verbose:
            print(f"  .. {text}", file=sys.stderr, flush=True)

    def run(self, who: str, spec: dict[str, Any], timeout: float = 240.0) -> dict[str, Any]:
        """Run a worker to completion; return its JSON answer."""
        self._log(f"{who} {spec['kind']} {spec.get('variant', '')} {spec.get('lib', '')}")
        proc = subprocess.run(
            self._cmd(who, spec),
            env=self._env(who),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=HERE,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{who} worker {spec} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
            )
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))

    def run_fanout(self, who: str, spec: dict[str, Any], timeout: float = 240.0) -> dict[str, Any]:
        """Run a fan-out worker; count the emulator's requests between its warm-up and its end."""
        self._log(f"{who} fanout {spec.get('variant', '')} {spec.get('lib', '')} {spec['backend']}")
        proc = subprocess.Popen(
            self._cmd(who, spec),
            env=self._env(who),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=HERE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            deadline = time.monotonic() + timeout
            line = proc.stdout.readline()  # {"mark": "warm"}: warm-up done, waiting for "go"
            if not line.strip().startswith('{"mark"'):
                raise RuntimeError(f"{who} fan-out worker said {line!r}: {proc.stderr.read()}")
            time.sleep(0.2)  # let the warm-up's trailing requests land in the log
            before = self.request_count()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            proc.kill()
            proc.communicate()
            raise
        if proc.returncode != 0:
            raise RuntimeError(f"{who} fan-out worker exited {proc.returncode}:\n{err[-4000:]}")
        result = dict(json.loads(out.strip().splitlines()[-1]))
        result["exchanges"] = self.request_count() - before
        return result

    def server_job_seconds(self, app: str, since: float) -> float:
        """Median time the emulator held ``app``'s jobs submitted after ``since`` (wall clock):
        from arrival to completion, i.e. the part of the latency no client can remove."""
        spans = [
            j.finished_at - j.submitted_at
            for j in self.emu.jobs()
            if j.app == app and j.submitted_at >= since and j.finished_at is not None
        ]
        return statistics.median(spans) if spans else float("nan")

    def request_count(self) -> int:
        return int(self.emu_requests_total())

    def emu_requests_total(self) -> int:
        return len(self.emu.requests())


# --- sections -----------------------------------------------------------------------------------


def section_latency(b: Bench) -> list[dict[str, Any]]:
    s = b.sizes
    base = {"kind": "latency", "n": s.latency_n, "warmup": s.latency_warmup, "app": SLEEP50}
    rows = [
        (
            "raw httpx2 floor (submit + SSE + result)",
            "ours",
            {"variant": "raw-httpx2", "lib": "httpx2"},
        ),
        ("ours async, asyncio", "ours", {"variant": "ours-asyncio", "lib": "httpx2"}),
        ("ours async, trio", "ours", {"variant": "ours-trio", "lib": "httpx2"}),
        ("ours sync (asyncio portal)", "ours", {"variant": "ours-sync-asyncio", "lib": "httpx2"}),
        ("ours sync (trio portal)", "ours", {"variant": "ours-sync-trio", "lib": "httpx2"}),
        ("official sync subscribe", "official", {"variant": "official-sync"}),
        ("official subscribe_async", "official", {"variant": "official-async"}),
    ]
    out = []
    for label, who, extra in rows:
        if who == "official" and b.official_python is None:
            continue
        since = time.time()
        res = b.run(who, {**base, **extra})
        samples = res["samples"]
        overhead = [x - JOB_SECONDS for x in samples]
        out.append(
            {
                "label": label,
                "who": who,
                **extra,
                "n": len(samples),
                "median_ms": ms(statistics.median(samples)),
                "overhead_median_ms": ms(statistics.median(overhead)),
                "overhead_p95_ms": ms(percentile(overhead, 95)),
                "server_median_ms": ms(b.server_job_seconds(SLEEP50, since)),
                "connects_per_job": res["connects"] / res["jobs"],
            }
        )
    return out


SYNC_RUN_ROWS = [
    ("raw httpx.Client floor", "ours", {"variant": "raw-httpx"}),
    ("raw httpx2.Client floor", "ours", {"variant": "raw-httpx2"}),
    ("official SyncClient (fal_client.run)", "official", {"variant": "official"}),
    (
        "ours SyncClient, asyncio portal, httpx2",
        "ours",
        {"variant": "ours-asyncio", "lib": "httpx2"},
    ),
    ("ours SyncClient, trio portal, httpx2", "ours", {"variant": "ours-trio", "lib": "httpx2"}),
    ("ours SyncClient, asyncio portal, httpx", "ours", {"variant": "ours-asyncio", "lib": "httpx"}),
    ("ours SyncClient, trio portal, httpx", "ours", {"variant": "ours-trio", "lib": "httpx"}),
]
ASYNC_RUN_ROWS = [
    (
        "raw httpx2.AsyncClient floor in a running asyncio loop",
        {"backend": "asyncio", "lib": "httpx2", "variant": "raw"},
    ),
    (
        "raw httpx2.AsyncClient floor in a running trio loop",
        {"backend": "trio", "lib": "httpx2", "variant": "raw"},
    ),
    (
        "ours AsyncClient.run in a running asyncio loop, httpx2",
        {"backend": "asyncio", "lib": "httpx2"},
    ),
    ("ours AsyncClient.run in a running trio loop, httpx2", {"backend": "trio", "lib": "httpx2"}),
]


def section_sync_run(b: Bench) -> list[dict[str, Any]]:
    s = b.sizes
    base = {"kind": "sync_run", "n": s.run_n, "warmup": s.run_warmup, "app": INSTANT}
    pooled: dict[str, list[float]] = {label: [] for label, _, _ in SYNC_RUN_ROWS}
    pooled.update({label: [] for label, _ in ASYNC_RUN_ROWS})
    # Rounds interleave the variants so a noisy moment on the machine hits them all alike.
    for _ in range(s.run_rounds):
        for label, who, extra in SYNC_RUN_ROWS:
            if who == "official" and b.official_python is None:
                continue
            pooled[label] += b.run(who, {**base, **extra})["samples"]
        for label, extra in ASYNC_RUN_ROWS:
            spec = {**base, "kind": "async_run", **extra}
            pooled[label] += b.run("ours", spec)["samples"]
    rows = []
    meta = {label: (who, extra) for label, who, extra in SYNC_RUN_ROWS}
    meta.update(
        {label: ("ours", {"variant": "in-loop", **extra}) for label, extra in ASYNC_RUN_ROWS}
    )
    for label, samples in pooled.items():
        if not samples:
            continue
        who, extra = meta[label]
        rows.append(
            {
                "label": label,
                "who": who,
                **extra,
                "n": len(samples),
                "median_ms": ms(statistics.median(samples)),
                "p95_ms": ms(percentile(samples, 95)),
            }
        )
    return rows


def section_fanout(b: Bench) -> list[dict[str, Any]]:
    s = b.sizes
    base = {
        "kind": "fanout",
        "n": s.fanout_n,
        "warmup": s.fanout_warmup,
        "app": INSTANT,
        "limit": s.fanout_limit,
    }
    rows = [
        (
            "raw httpx2 floor, asyncio",
            "ours",
            {"variant": "raw", "backend": "asyncio", "lib": "httpx2"},
        ),
        ("raw httpx2 floor, trio", "ours", {"variant": "raw", "backend": "trio", "lib": "httpx2"}),
        (
            "ours subscribe, asyncio, httpx2",
            "ours",
            {"variant": "ours", "backend": "asyncio", "lib": "httpx2"},
        ),
        (
            "ours subscribe, trio, httpx2",
            "ours",
            {"variant": "ours", "backend": "trio", "lib": "httpx2"},
        ),
        (
            "ours subscribe, asyncio, httpx",
            "ours",
            {"variant": "ours", "backend": "asyncio", "lib": "httpx"},
        ),
        (
            "ours subscribe, trio, httpx",
            "ours",
            {"variant": "ours", "backend": "trio", "lib": "httpx"},
        ),
        (
            "official gather(subscribe_async)",
            "official",
            {"variant": "official", "backend": "asyncio"},
        ),
    ]
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in rows}
    # Rounds interleave the variants; each variant reports its best round (throughput on a
    # shared 2-core machine is only ever disturbed downwards), with every round kept in JSON.
    for _ in range(s.fanout_rounds):
        for label, who, extra in rows:
            if who == "official" and b.official_python is None:
                continue
            spec = {**base, **extra}
            if who == "official":
                spec["limit"] = None  # natural usage: gather everything at once
            runs[label].append(b.run_fanout(who, spec))
    out = []
    n = s.fanout_n
    for label, who, extra in rows:
        if not runs[label]:
            continue
        best = min(runs[label], key=lambda r: r["seconds"])
        out.append(
            {
                "label": label,
                "who": who,
                **extra,
                "n": n,
                "seconds": best["seconds"],
                "jobs_per_s": n / best["seconds"],
                "jobs_per_s_rounds": [n / r["seconds"] for r in runs[label]],
                "exchanges_per_job": max(r["exchanges"] for r in runs[label]) / n,
                "connects_per_job": max(r["connects"] for r in runs[label]) / n,
                "failed": sum(r["failed"] for r in runs[label]),
                "failures": [f for r in runs[label] for f in r["failures"]][:5],
            }
        )
    return out


def profile_hint(b: Bench, backend: str) -> dict[str, Any]:
    spec = {
        "kind": "profile_sync_run",
        "n": 300,
        "app": INSTANT,
        "backend": backend,
        "lib": "httpx2",
        "top": 16,
    }
    return b.run("ours", spec)


# --- report -------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
            )
        )
    return "\n".join(lines)


def find(rows: list[dict[str, Any]], **match: Any) -> Optional[dict[str, Any]]:
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(results: dict[str, Any]) -> str:
    out: list[str] = []
    say = out.append
    lat, run, fan = results["latency"], results["sync_run"], results["fanout"]
    s = results["sizes"]

    if lat:
        report_latency(lat, s, say)
    if run:
        report_sync_run(run, s, say)
    if fan:
        report_fanout(fan, s, say)
    if run or fan:
        results["decision"] = report_libraries(run, fan, say)
    if results.get("profiles"):
        report_profiles(results["profiles"], say)
    return "\n".join(out)


def report_latency(lat: list[dict[str, Any]], s: dict[str, Any], say: Any) -> None:
    say(
        "\n== 1. Completion latency of a 50 ms job via subscribe "
        f"(n={s['latency_n']} sequential) =="
    )
    official_sync = find(lat, variant="official-sync")
    floor_row = find(lat, variant="raw-httpx2")
    rows = []
    for r in lat:
        ratio = (
            f"{official_sync['overhead_median_ms'] / r['overhead_median_ms']:.1f}x less"
            if official_sync and r is not official_sync and r["overhead_median_ms"] > 0
            else ""
        )
        vs_floor = f"{r['median_ms'] - floor_row['median_ms']:+.2f}" if floor_row else "n/a"
        rows.append(
            [
                r["label"],
                f"{r['median_ms']:.2f}",
                f"{r['overhead_median_ms']:.2f}",
                f"{r['overhead_p95_ms']:.2f}",
                f"{r['server_median_ms']:.2f}",
                vs_floor,
                f"{r['connects_per_job']:.2f}",
                ratio,
            ]
        )
    say(
        table(
            [
                "client",
                "latency med ms",
                "overhead med ms",
                "overhead p95 ms",
                "server-side job ms",
                "vs floor ms",
                "TCP connects/job",
                "overhead vs official sync",
            ],
            rows,
        )
    )
    say(
        "  overhead = latency - 50 ms; server-side job = arrival to completion in the emulator "
        "(includes the app's own sleep overshoot); TCP connects/job counted by the client process"
    )
    for r in lat:
        if r["who"] == "ours" and not r["variant"].startswith("raw"):
            say(
                f"  target overhead < {LATENCY_OVERHEAD_TARGET_MS} ms median: {r['label']}: "
                f"{verdict(r['overhead_median_ms'] < LATENCY_OVERHEAD_TARGET_MS)} "
                f"({r['overhead_median_ms']:.2f} ms)"
            )


def report_sync_run(run: list[dict[str, Any]], s: dict[str, Any], say: Any) -> None:
    say(
        "\n== 2. Sync run per call to the instant app "
        f"(n={s['run_n']} x {s['run_rounds']} rounds) =="
    )
    official = find(run, variant="official")
    rows = []
    for r in run:
        ratio = f"{r['median_ms'] / official['median_ms']:.2f}" if official else "n/a"
        rows.append([r["label"], f"{r['median_ms']:.3f}", f"{r['p95_ms']:.3f}", ratio])
    say(table(["client", "median ms/call", "p95 ms", "vs official"], rows))
    if official:
        for r in run:
            if r["who"] == "ours" and r["variant"].startswith("ours-"):
                ratio = r["median_ms"] / official["median_ms"]
                stretch = " (stretch 1.2x met)" if ratio <= SYNC_RUN_STRETCH else ""
                say(
                    f"  required <= {SYNC_RUN_REQUIRED}x official: {r['label']}: "
                    f"{verdict(ratio <= SYNC_RUN_REQUIRED)} ({ratio:.2f}x){stretch}"
                )
    else:
        say("  official client unavailable: no ratio")
    # Issue 18's target: the sync run of the default client (asyncio portal, httpx2) within
    # SYNC_RUN_FLOOR_TARGET of the blocking httpx2 floor and no slower than the official client.
    ours = find(run, variant="ours-asyncio", lib="httpx2")
    floor = find(run, variant="raw-httpx2")
    if ours and floor:
        vs_floor = ours["median_ms"] / floor["median_ms"]
        line = (
            f"  issue 18: sync run <= {SYNC_RUN_FLOOR_TARGET}x the httpx2 floor: "
            f"{verdict(vs_floor <= SYNC_RUN_FLOOR_TARGET)} ({vs_floor:.2f}x)"
        )
        if official:
            vs_official = ours["median_ms"] / official["median_ms"]
            line += f"; <= official: {verdict(vs_official <= 1.0)} ({vs_official:.2f}x)"
        say(line)


def report_fanout(fan: list[dict[str, Any]], s: dict[str, Any], say: Any) -> None:
    say(
        f"\n== 3. Async fan-out: {s['fanout_n']} subscribes to the instant app "
        f"(ours/raw bounded to {s['fanout_limit']} in flight; official: gather of all; "
        f"best of {s['fanout_rounds']} rounds) =="
    )
    off = find(fan, variant="official")
    floor = max(
        (r for r in fan if r["variant"] == "raw"), key=lambda r: r["jobs_per_s"], default=None
    )
    rows = []
    for r in fan:
        rows.append(
            [
                r["label"],
                f"{r['jobs_per_s']:.0f}",
                f"{r['seconds']:.2f}",
                f"{r['exchanges_per_job']:.2f}",
                f"{r['connects_per_job']:.2f}",
                f"{r['jobs_per_s'] / off['jobs_per_s']:.1f}x" if off else "n/a",
                f"{100 * r['jobs_per_s'] / floor['jobs_per_s']:.0f}%" if floor else "n/a",
                str(r["failed"]),
            ]
        )
    say(
        table(
            [
                "client",
                "jobs/s",
                "wall s",
                "exchanges/job",
                "TCP connects/job",
                "vs official",
                "of best floor",
                "failed",
            ],
            rows,
        )
    )
    for r in fan:
        if r["variant"] == "ours":
            speed_ok = (
                off is not None and r["jobs_per_s"] >= FANOUT_SPEEDUP_TARGET * off["jobs_per_s"]
            )
            ex_ok = r["exchanges_per_job"] <= FANOUT_MAX_EXCHANGES + 1e-9
            floor_pct = 100 * r["jobs_per_s"] / floor["jobs_per_s"] if floor else float("nan")
            say(
                f"  target >= {FANOUT_SPEEDUP_TARGET:.0f}x official and <= 3 exchanges/job: "
                f"{r['label']}: {verdict(speed_ok and ex_ok and r['failed'] == 0)}"
                f"; stretch >= 90% of floor: {verdict(floor_pct >= 90)} ({floor_pct:.0f}%)"
            )
        if r["failed"]:
            say(f"  !! {r['label']}: {r['failed']} jobs failed, e.g. {r['failures'][:2]}")


def report_libraries(
    run: list[dict[str, Any]], fan: list[dict[str, Any]], say: Any
) -> dict[str, Any]:
    say("\n== 4. httpx vs httpx2 under our client ==")
    rows = []
    wins = {"httpx": 0, "httpx2": 0}
    advantages: list[float] = []  # httpx2's speed-up per comparison (>1: httpx2 faster)
    for backend in ("asyncio", "trio"):
        f2 = find(fan, variant="ours", backend=backend, lib="httpx2")
        f1 = find(fan, variant="ours", backend=backend, lib="httpx")
        if f1 and f2:
            rows.append(
                [
                    f"fan-out jobs/s, {backend}",
                    f"{f1['jobs_per_s']:.0f}",
                    f"{f2['jobs_per_s']:.0f}",
                    f"{f2['jobs_per_s'] / f1['jobs_per_s']:.2f}x",
                ]
            )
            wins["httpx2" if f2["jobs_per_s"] >= f1["jobs_per_s"] else "httpx"] += 1
            advantages.append(f2["jobs_per_s"] / f1["jobs_per_s"])
        r2 = find(run, variant=f"ours-{backend}", lib="httpx2")
        r1 = find(run, variant=f"ours-{backend}", lib="httpx")
        if r1 and r2:
            rows.append(
                [
                    f"sync run ms/call, {backend} portal",
                    f"{r1['median_ms']:.3f}",
                    f"{r2['median_ms']:.3f}",
                    f"{r1['median_ms'] / r2['median_ms']:.2f}x",
                ]
            )
            wins["httpx2" if r2["median_ms"] <= r1["median_ms"] else "httpx"] += 1
            advantages.append(r1["median_ms"] / r2["median_ms"])
    say(table(["measure", "httpx", "httpx2", "httpx2 advantage"], rows))
    # Decide by the geometric mean of the speed-ups, not by counting wins: a 4x fan-out gap
    # must outweigh a 5% sync-run gap the other way.
    geomean = statistics.geometric_mean(advantages) if advantages else 1.0
    faster = "httpx2" if geomean >= 1.0 else "httpx"
    say(
        f"  faster library: {faster} (geometric mean of httpx2's speed-ups {geomean:.2f}x; "
        f"wins httpx2 {wins['httpx2']}, httpx {wins['httpx']})"
    )
    return {"faster": faster, "wins": wins, "httpx2_geomean_speedup": geomean}


def report_profiles(profiles: dict[str, Any], say: Any) -> None:
    say("\n== Profile hint: where our sync run spends its time ==")
    for backend, prof in profiles.items():
        say(f"-- {backend} portal: {prof['ms_per_call_profiled']:.3f} ms/call under cProfile")
        for thread, text in prof["report"].items():
            say(f"   [{thread}]")
            say("\n".join("   " + line for line in text.splitlines()))


def versions(official_python: Optional[Path]) -> dict[str, str]:
    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
    }
    for dist in ("fal-client-anyio", "anyio", "httpx", "httpx2", "trio", "uvicorn", "starlette"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "-"
    out["official fal-client"] = _official.OFFICIAL_VERSION if official_python else "unavailable"
    return out


# --- main -----------------------------------------------------------------------------------------


def build_emulator(max_requests: int) -> Any:
    from fal_client.testing import AppContext, Emulator

    emu = Emulator(max_recorded_requests=max_requests)

    @emu.app(INSTANT, workers=1024)
    async def instant(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        return {"ok": True}

    @emu.app(SLEEP50, workers=64)
    async def sleep50(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        import anyio

        await anyio.sleep(JOB_SECONDS)
        return {"ok": True}

    return emu


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--latency-n", type=int, help="sequential 50 ms jobs per client")
    parser.add_argument("--run-n", type=int, help="sync run calls per client per round")
    parser.add_argument("--run-rounds", type=int, help="interleaved rounds of the sync-run section")
    parser.add_argument("--fanout-n", type=int, help="jobs in the fan-out")
    parser.add_argument("--fanout-limit", type=int, help="jobs in flight for ours and raw")
    parser.add_argument("--fanout-rounds", type=int, help="interleaved fan-out rounds (best kept)")
    parser.add_argument(
        "--sections",
        default="latency,run,fanout",
        help="comma-separated subset of latency,run,fanout",
    )
    parser.add_argument("--no-official", action="store_true", help="skip the official client")
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="profile our sync run (auto: only if it misses the 1.5x target)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each worker run")
    args = parser.parse_args(argv)

    _loopback.install()
    sizes = QUICK if args.quick else FULL
    overrides = {
        "latency_n": args.latency_n,
        "run_n": args.run_n,
        "run_rounds": args.run_rounds,
        "fanout_n": args.fanout_n,
        "fanout_limit": args.fanout_limit,
        "fanout_rounds": args.fanout_rounds,
    }
    sizes = Sizes(**{**sizes.__dict__, **{k: v for k, v in overrides.items() if v is not None}})
    sections = set(args.sections.split(","))

    official_python: Optional[Path] = None
    if not args.no_official:
        try:
            official_python = _official.ensure_official_venv()
        except _official.OfficialClientUnavailable as exc:
            print(f"!! official client unavailable, its rows are skipped: {exc}", file=sys.stderr)

    load_before = os.getloadavg()[0]
    if load_before > 0.7:
        print(
            f"!! 1-minute load average is {load_before:.2f} before starting: other work shares "
            "this machine's cores, so these figures will be noisy",
            file=sys.stderr,
        )
    started = time.monotonic()
    results: dict[str, Any] = {
        "sizes": sizes.__dict__,
        "versions": versions(official_python),
        "latency": [],
        "sync_run": [],
        "fanout": [],
        "profiles": {},
    }
    emu = build_emulator(max_requests=2_000_000)
    with emu:
        b = Bench(emu, sizes, official_python, args.verbose)
        if "latency" in sections:
            results["latency"] = section_latency(b)
        if "run" in sections:
            results["sync_run"] = section_sync_run(b)
        if "fanout" in sections:
            results["fanout"] = section_fanout(b)
        official = find(results["sync_run"], variant="official")
        missed = [
            r
            for r in results["sync_run"]
            if official
            and r["variant"].startswith("ours-")
            and r.get("lib") == "httpx2"
            and r["median_ms"] / official["median_ms"] > SYNC_RUN_REQUIRED
        ]
        if args.profile == "always" or (args.profile == "auto" and missed):
            for backend in ("asyncio", "trio"):
                results["profiles"][backend] = profile_hint(b, backend)
    results["elapsed_s"] = time.monotonic() - started
    results["load_average"] = {"before": load_before, "after": os.getloadavg()[0]}

    print("Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))
    print(report(results))
    print(
        f"\n(total {results['elapsed_s']:.0f} s; 1-minute load average before "
        f"{load_before:.2f}, after {results['load_average']['after']:.2f})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
