"""Realtime benchmark: round-trip latency of small frames, this client vs the official one.

    python benchmarks/bench_realtime.py            # 2,000 round trips per variant, ~1 minute
    python benchmarks/bench_realtime.py --quick    # smoke run

One emulator runs in this process (uvicorn on 127.0.0.1, in a thread). Each variant runs in a
subprocess of its own: it opens one realtime session with ``fal-ai/realtime-echo`` and times
``send`` + ``recv`` of a small dict (msgpack, ~40 bytes) one after another. The official client
(its venv from ``_official.py``, URL constants pointed at the emulator by ``_official_shim.py``)
runs this same file as its worker, so both sides do exactly the same loop. Variants run in
interleaved rounds; each variant's best round (lowest p50) is reported.

Nothing here connects anywhere but loopback (an audit hook in every process refuses it).
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
from typing import Any, Optional

APP = "fal-ai/realtime-echo"
HERE = Path(__file__).resolve().parent


# --- the worker (runs in a subprocess: ours, or the official client through its shim) -----------
def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    import fal_client

    variant, n, warmup = spec["variant"], spec["n"], spec["warmup"]
    message = {"prompt": "a small frame", "seed": 42}
    samples: list[float] = []

    def record(i: int, t0: float) -> None:
        if i >= warmup:
            samples.append(time.perf_counter() - t0)

    if variant in ("ours-sync", "official-sync"):
        with fal_client.realtime(APP) as conn:
            for i in range(warmup + n):
                t0 = time.perf_counter()
                conn.send(message)
                conn.recv()
                record(i, t0)
    elif variant in ("ours-asyncio", "ours-trio", "official-async"):

        async def main() -> None:
            async with fal_client.realtime_async(APP) as conn:
                for i in range(warmup + n):
                    t0 = time.perf_counter()
                    await conn.send(message)
                    await conn.recv()
                    record(i, t0)

        if variant == "ours-trio":
            import anyio

            anyio.run(main, backend="trio")
        else:
            import asyncio

            asyncio.run(main())
    else:
        raise SystemExit(f"unknown variant {variant}")
    return {"samples": samples}


# --- the driver --------------------------------------------------------------------------------
VARIANTS = [
    ("ours AsyncClient (asyncio)", "ours-asyncio"),
    ("ours AsyncClient (trio)", "ours-trio"),
    ("ours SyncClient", "ours-sync"),
    ("official realtime_async", "official-async"),
    ("official realtime (sync)", "official-sync"),
]


def _percentile(sorted_samples: list[float], q: float) -> float:
    index = min(len(sorted_samples) - 1, max(0, round(q * (len(sorted_samples) - 1))))
    return sorted_samples[index]


def _summary(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": _percentile(s, 0.50) * 1e3,
        "p99_ms": _percentile(s, 0.99) * 1e3,
        "mean_ms": statistics.fmean(s) * 1e3,
        "round_trips_per_s": len(s) / sum(s),
    }


def _run_variant(
    variant: str, spec: dict[str, Any], env: dict[str, str], official: bool
) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import _official

    argv = ["--worker", json.dumps({**spec, "variant": variant})]
    if official:
        cmd = _official.official_command(Path(__file__), argv)
    else:
        cmd = [sys.executable, str(Path(__file__)), *argv]
    proc = subprocess.run(
        cmd,
        env=_official.official_env(env),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        cwd=str(HERE) if not official else None,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--n", type=int, default=2000, help="timed round trips per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per variant")
    parser.add_argument("--no-official", action="store_true", help="skip the official client")
    parser.add_argument("--json", type=Path, help="also save the results here")
    args = parser.parse_args(argv)
    n, rounds, warmup = (200, 1, 20) if args.quick else (args.n, args.rounds, 200)

    sys.path.insert(0, str(HERE))
    import _loopback
    import _official

    from fal_client.testing import Emulator

    _loopback.install()
    official_ok = not args.no_official
    if official_ok:
        try:
            _official.ensure_official_venv()
        except _official.OfficialClientUnavailable as exc:
            print(f"!! official client unavailable, skipped: {exc}")
            official_ok = False
    load_before = os.getloadavg()[0]
    best: dict[str, dict[str, Any]] = {}
    with Emulator() as emu:
        env = dict(emu.env)
        spec = {"n": n, "warmup": warmup}
        for _ in range(rounds):
            for _label, variant in VARIANTS:
                official = variant.startswith("official")
                if official and not official_ok:
                    continue
                result = _summary(_run_variant(variant, spec, env, official)["samples"])
                if variant not in best or result["p50_ms"] < best[variant]["p50_ms"]:
                    best[variant] = result

    print(f"\nRealtime round trip, small msgpack frames, {n} per round, best of {rounds} round(s)")
    print(f"{'client':34} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'trips/s':>9}")
    for label, variant in VARIANTS:
        r = best.get(variant)
        if r is None:
            continue
        print(
            f"{label:34} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r['mean_ms']:8.3f} "
            f"{r['round_trips_per_s']:9.0f}"
        )
    for ours, theirs in (("ours-asyncio", "official-async"), ("ours-sync", "official-sync")):
        if ours in best and theirs in best:
            print(
                f"  {ours} vs {theirs}: p50 {best[theirs]['p50_ms'] / best[ours]['p50_ms']:.2f}x, "
                f"p99 {best[theirs]['p99_ms'] / best[ours]['p99_ms']:.2f}x (>1: ours faster)"
            )
    load_after = os.getloadavg()[0]
    print(f"(1-minute load average before {load_before:.2f}, after {load_after:.2f})")
    if args.json:
        args.json.write_text(json.dumps({"n": n, "rounds": rounds, "results": best}, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(json.loads(sys.argv[2]))))
    else:
        sys.exit(main())
