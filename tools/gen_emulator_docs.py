"""Write the generated tables of docs/emulator.md from the emulator itself.

    python tools/gen_emulator_docs.py           # rewrite the tables in docs/emulator.md
    python tools/gen_emulator_docs.py --check   # exit 1 if they are out of date

Two tables are generated, each between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``:
``builtin-apps`` from the app registry of a fresh emulator (names, kinds, and the descriptions,
inputs and examples their docstrings give), and ``control-api`` from the control API's endpoint
table (the same table its OpenAPI document is made from). tests/test_tooling.py runs the check,
so an app added to the registry or an endpoint added to the API cannot go missing from the docs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "emulator.md"

sys.path.insert(0, str(ROOT))

from fal_client.testing import Emulator  # noqa: E402
from fal_client.testing._inspect_routes import ENDPOINTS  # noqa: E402


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def builtin_apps_table() -> str:
    """The Markdown table of the built-in apps."""
    rows = [
        "| App | Kind | What it does | Inputs | Example input |",
        "|---|---|---|---|---|",
    ]
    for app in Emulator().apps():
        inputs = "<br>".join(f"`{name}`: {_cell(text)}" for name, text in app.inputs.items())
        example = f"`{_cell(json.dumps(app.example))}`" if app.example is not None else ""
        rows.append(
            f"| `{app.name}` | {app.kind} | {_cell(app.description)} | {inputs} | {example} |"
        )
    return "\n".join(rows)


def control_api_table() -> str:
    """The Markdown table of the control API's endpoints."""
    rows = ["| Method | Path | What it does | Query parameters |", "|---|---|---|---|"]
    for endpoint in ENDPOINTS:
        params = ", ".join(f"`{name}`" for name in endpoint.query_parameters)
        rows.append(
            f"| {endpoint.method} | `{endpoint.path}` | {_cell(endpoint.summary)} | {params} |"
        )
    return "\n".join(rows)


GENERATORS: Dict[str, Callable[[], str]] = {
    "builtin-apps": builtin_apps_table,
    "control-api": control_api_table,
}


def render(text: str) -> str:
    """``text`` with every generated block rewritten."""
    for name, generate in GENERATORS.items():
        pattern = re.compile(
            rf"(<!-- generated: {name} -->\n)(?:.*?\n)?(<!-- end: {name} -->)", re.DOTALL
        )
        if not pattern.search(text):
            raise SystemExit(f"{DOC}: no '<!-- generated: {name} -->' block")
        text = pattern.sub(lambda m, g=generate: m.group(1) + g() + "\n" + m.group(2), text)
    return text


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the docs are stale")
    args = parser.parse_args(argv)
    current = DOC.read_text(encoding="utf-8")
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(
                f"{DOC.relative_to(ROOT)} is out of date: run python tools/gen_emulator_docs.py",
                file=sys.stderr,
            )
            return 1
        return 0
    if wanted != current:
        DOC.write_text(wanted, encoding="utf-8")
        print(f"rewrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
