"""Arguments checked against an endpoint's input schema: every problem, with its JSON path.

The checking itself is ``jsonschema``'s (a maintained validator; imported only when a check
runs, since most programs never validate). What this module adds is fal's reading of a
schema: fal's apps are pydantic models that silently ignore keys they do not know, so a
misspelt argument would still bill a generation; here an object schema that lists its
``properties`` and says nothing of ``additionalProperties`` is closed, and a key it does not
list is a problem (with the closest known key, when one is close).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from ._errors import InputProblem

__all__ = ["InputChecker", "close_objects", "json_path"]

#: Keys the closed-object rule never flags: fal's own request options, which every app takes.
FAL_RESERVED_KEYS = frozenset({"sync_mode"})


def json_path(parts: Iterable[Any]) -> str:
    """``$.a.b[0]`` for the path ``["a", "b", 0]``."""
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            text += f".{part}"
        else:
            text += f"[{part!r}]"
    return text


def close_objects(schema: Any) -> Any:
    """A copy of ``schema`` in which every object schema that lists ``properties`` and has no
    ``additionalProperties`` refuses other keys (see the module docstring)."""
    closed = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict) and props and "additionalProperties" not in node:
                # A ``patternProperties`` schema already says which other keys it takes.
                if "patternProperties" not in node:
                    node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(closed)
    return closed


def _describe_type_error(error: Any) -> str:
    expected = error.validator_value
    if isinstance(expected, list):
        expected = " or ".join(str(t) for t in expected)
    return f"expected {expected}, got {type(error.instance).__name__} {error.instance!r}"


def _problems_of(error: Any, base: tuple[Any, ...] = ()) -> list[InputProblem]:
    """Readable problems for one jsonschema error (and, for unions, its best branch)."""
    path = json_path((*base, *error.absolute_path))
    kind = error.validator
    if kind == "additionalProperties" and error.validator_value is False:
        known = sorted((error.schema.get("properties") or {}).keys())
        extras = sorted(k for k in error.instance if k not in known and k not in FAL_RESERVED_KEYS)
        problems = []
        for key in extras:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                InputProblem(
                    json_path((*base, *error.absolute_path, key)),
                    f"unknown key {key!r}{hint}",
                    tuple(known),
                )
            )
        return problems
    if kind == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [
            InputProblem(json_path((*base, *error.absolute_path, k)), "required key is missing")
            for k in missing
        ]
    if kind == "enum":
        return [
            InputProblem(
                path, f"{error.instance!r} is not an allowed value", tuple(error.validator_value)
            )
        ]
    if kind == "const":
        return [InputProblem(path, f"must be {error.validator_value!r}, got {error.instance!r}")]
    if kind == "type":
        return [InputProblem(path, _describe_type_error(error))]
    if kind in ("anyOf", "oneOf") and error.context:
        return _union_problems(error, base, path)
    bounds = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "more than",
        "exclusiveMaximum": "less than",
    }
    if kind in bounds:
        limit = f"{bounds[kind]} {error.validator_value}"
        return [InputProblem(path, f"must be {limit}, got {error.instance!r}")]
    return [InputProblem(path, error.message)]


def _union_problems(error: Any, base: tuple[Any, ...], path: str) -> list[InputProblem]:
    """Problems of a value no branch of a union takes.

    A branch of another type says only "not this type" (for ``Optional[X]``, "is not null"):
    the branches of the value's own type say what is wrong with it, so those are reported.
    When every branch is of another type, one problem lists the types and values allowed.
    """
    by_branch: dict[Any, list[Any]] = {}
    for sub in error.context:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    of_its_type = [
        errors
        for errors in by_branch.values()
        if not any(e.validator == "type" and not e.relative_path for e in errors)
    ]
    if of_its_type:
        found: list[InputProblem] = []
        for errors in of_its_type:
            for sub in errors:
                found.extend(_problems_of(sub, base))
        return found
    types: list[str] = []
    for sub in error.context:
        if sub.validator == "type" and not sub.relative_path:
            expected = sub.validator_value
            for name in expected if isinstance(expected, list) else [expected]:
                if name not in types:
                    types.append(str(name))
    got = f"{type(error.instance).__name__} {error.instance!r}"
    return [InputProblem(path, f"expected {' or '.join(types) or 'another value'}, got {got}")]


class InputChecker:
    """A compiled input schema: ``problems(arguments)`` lists what it refuses.

    ``schema`` must be self-contained (its ``$ref``s resolvable inside it).
    """

    def __init__(self, schema: Mapping[str, Any]):
        from jsonschema.validators import validator_for

        closed = close_objects(dict(schema))
        cls = validator_for(closed)
        cls.check_schema(closed)
        self._validator = cls(closed)

    def problems(self, arguments: Any) -> list[InputProblem]:
        """Every problem with ``arguments``, sorted by path (empty when they are valid)."""
        found: list[InputProblem] = []
        seen: set[tuple[str, str]] = set()
        for error in self._validator.iter_errors(arguments):
            for problem in _problems_of(error):
                if (problem.path, problem.message) not in seen:
                    seen.add((problem.path, problem.message))
                    found.append(problem)
        return sorted(found, key=lambda p: p.path)
