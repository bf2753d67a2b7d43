"""Keep docs/emulator.md in step with the emulator itself.

    python tools/gen_emulator_docs.py           # rewrite the generated table
    python tools/gen_emulator_docs.py --check   # exit 1 if the docs are out of step

The control API's table (between ``<!-- generated: control-api -->`` and
``<!-- end: control-api -->``) is generated from the endpoint table its OpenAPI document is
made from. The "Built-in apps" table is written by hand (it says what each app answers, and
about sub-path endpoints the registry cannot know); it is checked against the app registry of a
fresh emulator: every registered app has a row, and every row names a registered app or an
endpoint under one. tests/test_tooling.py runs the check, so an app added to the registry or an
endpoint added to the API cannot go missing from the docs silently.
"""

from __future__ import annotations

import argparse
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


def builtin_apps_problems(text: str) -> List[str]:
    """What is wrong with the "Built-in apps" table of ``text`` against the registry."""
    section = re.search(r"^## Built-in apps\n(.*?)(?=^## )", text, re.DOTALL | re.MULTILINE)
    if section is None:
        return ["no '## Built-in apps' section"]
    rows = re.findall(r"^\| `([^`]+)` \|", section.group(1), re.MULTILINE)
    registered = [app.name for app in Emulator().apps()]
    problems = [f"registered app {name} has no row" for name in registered if name not in rows]
    for row in rows:
        if not any(row == name or row.startswith(name + "/") for name in registered):
            problems.append(f"the table lists {row}, which no registered app serves")
    return problems


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
    problems = builtin_apps_problems(current)
    for problem in problems:
        print(f"{DOC.relative_to(ROOT)}, Built-in apps: {problem}", file=sys.stderr)
    if problems:
        return 1
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
