"""Instructions per sync ``run``: this client vs the official one vs raw HTTP, counted by valgrind.

    python benchmarks/bench_instructions.py          # the sync-run rows, about 5 minutes
    python benchmarks/bench_instructions.py --all    # and the trio and httpx rows

Wall-clock medians (``bench_core.py``) move with whatever else the machine runs: on a shared
VM the raw floor itself moved from 0.92 to 2.1 ms between two runs an hour apart. Instructions
executed do not. Each row of ``bench_core``'s section 2 is run here as a worker under
``valgrind --tool=callgrind`` twice, with ``--small`` and ``--large`` calls after the same
warm-up; the difference divided by the difference in calls is the instructions one call costs
in the client process (all its threads: ours counts its loop thread too), start-up and imports
cancelled out. The emulator runs in this process, outside valgrind.

What this does not count: time spent waiting (the server's share, a wake-up's latency, the GIL
handed between threads) and the kernel's work for a syscall. A thread hop is cheap in
instructions and dear in wake-ups, so the wall-clock ratios stay in ``bench_core``; this is the
steady figure for the work each client does. Under valgrind a client runs about 50 times
slower, so the emulator's answer is always waiting when it reads: fewer event-loop turns than
at full speed, for every client alike.

Needs valgrind (Debian's package); the official client's venv as ``bench_core`` makes it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _loopback  # noqa: E402
import _official  # noqa: E402
from bench_core import (  # noqa: E402
    ASYNC_RUN_ROWS,
    INSTANT,
    QUICK,
    SYNC_RUN_ROWS,
    Bench,
    build_emulator,
)

# The rows measured by default: the sync run's floor, the official client, ours on asyncio.
DEFAULT_ROWS = (
    "raw httpx2.Client floor",
    "official SyncClient (fal_client.run)",
    "ours SyncClient, asyncio portal, httpx2",
    "raw httpx2.AsyncClient floor in a running asyncio loop",
    "ours AsyncClient.run in a running asyncio loop, httpx2",
)
FLOOR = "raw httpx2.Client floor"
OFFICIAL = "official SyncClient (fal_client.run)"
WARMUP = 50

_REFS = re.compile(r"(?:Collected|I\s+refs)\s*:\s*([\d,]+)")


def count_instructions(cmd: list[str], env: dict[str, str]) -> int:
    """Instructions the command executes under callgrind (all threads)."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=HERE,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:2]} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    match = _REFS.search(proc.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{proc.stderr[-2000:]}")
    return int(match.group(1).replace(",", ""))


def rows_to_measure(everything: bool) -> list[tuple[str, str, dict[str, Any]]]:
    rows: list[tuple[str, str, dict[str, Any]]] = [
        (label, who, {"kind": "sync_run", **extra}) for label, who, extra in SYNC_RUN_ROWS
    ]
    rows += [(label, "ours", {"kind": "async_run", **extra}) for label, extra in ASYNC_RUN_ROWS]
    return [row for row in rows if everything or row[0] in DEFAULT_ROWS]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="every row of bench_core's section 2")
    parser.add_argument("--small", type=int, default=100, help="calls in the shorter run")
    parser.add_argument("--large", type=int, default=600, help="calls in the longer run")
    parser.add_argument("--no-official", action="store_true", help="skip the official client")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.large <= args.small or args.small < 1:
        parser.error(f"--large ({args.large}) must be more than --small ({args.small}) >= 1")
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2

    _loopback.install()
    official_python = None
    if not args.no_official:
        try:
            official_python = _official.ensure_official_venv()
        except _official.OfficialClientUnavailable as exc:
            print(f"!! official client unavailable, its row is skipped: {exc}", file=sys.stderr)
    rows = [row for row in rows_to_measure(args.all) if row[1] != "official" or official_python]
    emu = build_emulator(max_requests=100_000)
    results: dict[str, float] = {}
    with emu:
        bench = Bench(emu, QUICK, official_python, verbose=False)

        def measure(row: tuple[str, str, dict[str, Any]]) -> tuple[str, float]:
            label, who, extra = row
            counts = []
            for n in (args.small, args.large):
                spec = {"n": n, "warmup": WARMUP, "app": INSTANT, **extra}
                counts.append(count_instructions(bench._cmd(who, spec), bench._env(who)))
            return label, (counts[1] - counts[0]) / (args.large - args.small)

        # Two at a time (two cores): counts do not depend on what else runs.
        with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
            for label, per_call in pool.map(measure, rows):
                results[label] = per_call

    floor, official = results.get(FLOOR), results.get(OFFICIAL)
    print(f"== Instructions per call, {args.large - args.small} calls counted (valgrind) ==")
    print(f"{'client':56s}  {'instructions':>12s}  {'vs floor':>8s}  {'vs official':>11s}")
    for label, per_call in results.items():
        vs_floor = f"{per_call / floor:.2f}x" if floor else "n/a"
        vs_official = f"{per_call / official:.2f}x" if official else "n/a"
        print(f"{label:56s}  {per_call / 1e6:10.3f} M  {vs_floor:>8s}  {vs_official:>11s}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
