"""What ``import fal_client`` costs a fresh interpreter: ours vs the official client, interleaved.

    python benchmarks/bench_import.py [--n 20] [--before DIR]

Serverless functions and CLIs pay the import on every start, so this is measured the way they
pay it: a new interpreter per sample. Three statements, each in its own fresh interpreters:

* ``import fal_client`` - what every program pays;
* ``from fal_client import AsyncClient, SyncClient`` - the engine too (the official client
  loads everything at import, so for it the two are the same; here the engine loads on first
  access, or on the first module-level call);
* what a first sync call loads before it sends anything: for ours the clients, the HTTP
  library (``_http.load_library``) and anyio's asyncio backend, which the loop thread starts
  on; for the official client ``import fal_client`` again (it has loaded all of that). This is
  the figure a one-call script pays in all; it is not ours to make faster than the libraries.

Two figures per sample:

* ``import ms``  - the statement alone, timed inside the child (``perf_counter`` around it), so
                   interpreter start-up noise stays out;
* ``process ms`` - the whole ``python -c`` child, start to exit, as a user waits for it.

Ours is this tree imported by the running interpreter (``sys.executable``, this worktree's
venv); the official client is ``fal-client`` 1.0.3 in ``benchmarks/.venvs/official-1.0.3/``
(built by ``benchmarks/_official.py`` when missing). ``--before DIR`` adds a third side: the
package tree in DIR (for example ``git archive <commit> | tar -x -C DIR``) imported by the same
interpreter via ``PYTHONPATH``, so a before/after comparison runs in one sitting.

The sides take turns sample by sample (ours, official, ours, ...), so load from other work on
the machine falls on all of them alike; the 1-minute load average is printed before and after.
Every child runs from a temporary directory, because ``python -c`` puts the working directory
first on ``sys.path``: run from this repository, the official interpreter would import our tree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _official import ensure_official_venv  # this directory is sys.path[0] when run

# (title, ours, official)
STATEMENTS = (
    ("import fal_client", "import fal_client", "import fal_client"),
    (
        "from fal_client import AsyncClient, SyncClient",
        "from fal_client import AsyncClient, SyncClient",
        "from fal_client import AsyncClient, SyncClient",
    ),
    (
        "what a first sync call loads",
        "from fal_client import SyncClient; from fal_client._http import load_library; "
        "load_library(); import anyio._backends._asyncio",
        "import fal_client",
    ),
)
CHILD = (
    "import time; t0 = time.perf_counter(); {statement}; t1 = time.perf_counter(); "
    "import fal_client; print((t1 - t0) * 1000.0, fal_client.__file__)"
)


@dataclass
class Side:
    label: str
    python: str
    pythonpath: str | None = None
    statement: str = "import fal_client"
    import_ms: list[float] = field(default_factory=list)
    process_ms: list[float] = field(default_factory=list)
    origin: str = ""

    def sample(self, cwd: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        t0 = time.perf_counter()
        proc = subprocess.run(
            [self.python, "-c", CHILD.format(statement=self.statement)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
        )
        elapsed = (time.perf_counter() - t0) * 1000.0
        if proc.returncode != 0:
            raise RuntimeError(f"{self.label}: import failed:\n{proc.stderr}")
        ms, self.origin = proc.stdout.split(maxsplit=1)
        self.import_ms.append(float(ms))
        self.process_ms.append(elapsed)


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20, help="fresh interpreters per side")
    parser.add_argument("--before", type=Path, help="another package tree to compare, by path")
    args = parser.parse_args()

    print(f"load average before: {os.getloadavg()[0]:.2f}")
    results = [(title, measure(ours, official, args)) for title, ours, official in STATEMENTS]
    print(f"load average after:  {os.getloadavg()[0]:.2f}")
    for title, sides in results:
        report(title, sides, args.n)


def measure(ours: str, official: str, args: argparse.Namespace) -> list[Side]:
    sides = [Side("ours", sys.executable, statement=ours)]
    if args.before is not None:
        path = str(args.before.resolve())
        sides.append(Side(f"ours @ {args.before}", sys.executable, path, statement=ours))
    sides.append(Side("official 1.0.3", str(ensure_official_venv()), statement=official))
    with tempfile.TemporaryDirectory() as cwd:
        for side in sides:  # warm the page cache and the bytecode caches, not counted
            side.sample(cwd)
            side.import_ms.clear()
            side.process_ms.clear()
        for _ in range(args.n):
            for side in sides:
                side.sample(cwd)
    return sides


def report(title: str, sides: list[Side], n: int) -> None:
    header = (
        f"{'side':<40}  {'import med ms':>13}  {'import p90':>10}  "
        f"{'process med ms':>14}  {'process p90':>11}  {'import vs official':>18}"
    )
    print()
    print(f"== {title}: {n} fresh interpreters per side, interleaved ==")
    print(header)
    print("-" * len(header))
    reference = statistics.median(sides[-1].import_ms)
    for side in sides:
        med = statistics.median(side.import_ms)
        print(
            f"{side.label:<40}  {med:>13.1f}  {p90(side.import_ms):>10.1f}  "
            f"{statistics.median(side.process_ms):>14.1f}  {p90(side.process_ms):>11.1f}  "
            f"{med / reference:>17.2f}x"
        )
    for side in sides:
        print(f"  {side.label}: {side.origin.strip()}")
    if title == STATEMENTS[0][0]:  # issue 18's target is the import itself
        ours = statistics.median(sides[0].import_ms)
        verdict = "PASS" if ours <= reference else "FAIL"
        print(
            f"  target: ours no slower than official: {verdict} ({ours:.1f} vs {reference:.1f} ms)"
        )


if __name__ == "__main__":
    main()
