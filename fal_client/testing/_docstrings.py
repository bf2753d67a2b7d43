"""Reading Google-style docstrings: the summary paragraph and ``Name:`` sections.

The emulator documents itself from its own docstrings: app functions' ``Inputs:`` become the
built-in apps' table and the dashboard's form hints, and the records' ``Attributes:`` become the
field descriptions of the OpenAPI document. No I/O.
"""

from __future__ import annotations

import inspect
import re
from typing import Dict, List, Optional

_SECTION = re.compile(r"^([A-Z][A-Za-z ]*):\s*$")
_ENTRY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\[\]]*)\s*(?:\(([^)]*)\))?:\s*(.*)$")


def sections(doc: Optional[str]) -> Dict[str, List[str]]:
    """The docstring split into its summary part (key ``""``) and its sections by name, each a
    list of lines (the section's lines keep their indentation)."""
    found: Dict[str, List[str]] = {"": []}
    if not doc:
        return found
    current = ""
    for line in inspect.cleandoc(doc).splitlines():
        match = _SECTION.match(line)
        if match is not None:
            current = match.group(1)
            found[current] = []
        elif current and line and not line[0].isspace():
            # Unindented text after a section ends it: it belongs to no section.
            current = " "
            found.setdefault(current, []).append(line)
        else:
            found.setdefault(current, []).append(line)
    return found


def summary(doc: Optional[str]) -> str:
    """The first paragraph, joined into one line."""
    lines: List[str] = []
    for line in sections(doc)[""]:
        if not line.strip():
            if lines:
                break
            continue
        lines.append(line.strip())
    return " ".join(lines)


def entries(doc: Optional[str], section: str) -> Dict[str, str]:
    """The ``name: text`` entries of one section (``Attributes:``, ``Inputs:``), in order.

    A type in parentheses (``seconds (number): ...``) is kept as a prefix of the text;
    further-indented lines continue the entry before them.
    """
    lines = sections(doc).get(section, [])
    result: Dict[str, str] = {}
    name: Optional[str] = None
    for line in inspect.cleandoc("\n".join(lines)).splitlines() if lines else []:
        match = _ENTRY.match(line) if line and not line[0].isspace() else None
        if match is not None:
            name, kind, text = match.group(1), match.group(2), match.group(3).strip()
            result[name] = f"({kind}) {text}".strip() if kind else text
        elif name is not None and line.strip():
            result[name] = f"{result[name]} {line.strip()}"
    return result


def block(doc: Optional[str], section: str) -> str:
    """A section's text, dedented (for an ``Example:`` holding code)."""
    lines = sections(doc).get(section, [])
    return inspect.cleandoc("\n".join(lines)) if lines else ""


def markdown_code(text: str) -> str:
    """reST ````literal```` to Markdown ```literal```: what the dashboard and docs render."""
    return re.sub(r"``([^`]+)``", r"`\1`", text)
