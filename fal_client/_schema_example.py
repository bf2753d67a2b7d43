"""An example argument dict for an endpoint, made from its input schema: pure, no I/O.

``fal-client schema ENDPOINT`` prints it so a user starts from something the endpoint accepts.
The rule, property by property:

- A value the schema offers is used first: the first of ``examples``, else ``example``, else
  ``default`` (on the property itself, or on the schema its ``$ref`` names).
- Otherwise one is made from the type: ``const``, the first ``enum`` value (the first that is
  not null), the first non-null member of ``anyOf``/``oneOf``, ``allOf``'s objects merged;
  a number is its ``minimum`` when bounded below (one step above an exclusive minimum), else its
  ``maximum`` (a step below an exclusive one), else 0; a string is ``""`` (``minLength``
  characters of ``a`` if it has one, a placeholder URL or date for those formats); a boolean
  ``false``; an array ``minItems`` items (at least one, unless ``maxItems`` is 0); an object is
  built the same way, recursively.
- Required keys are always present. An optional key is present only when the schema offers a
  value for it (an example, or a default other than null): that is what the endpoint would use
  anyway, or what its authors chose to show, whereas made-up optional values would only be
  noise to delete.
- A ``$ref`` met again inside its own expansion (a recursive schema) is not expanded again: it
  gets its offered value, or an empty value of its type (``{}``, ``[]``, ``""``, ``None``), and
  an array of it is left empty.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from ._openapi_schemas import resolve_ref

_NO_VALUE = object()
_FORMAT_PLACEHOLDERS = {
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "email": "user@example.com",
}


def example_input(schema: Mapping[str, Any], components: Mapping[str, Any]) -> dict[str, Any]:
    """An example argument dict for the input ``schema`` (see the module docstring's rules).

    Args:
        schema: the endpoint's input schema, as `EndpointSchemas.input` (OpenAPI 3.0 or 3.1).
        components: the ``components.schemas`` its ``$ref``s point into, by name.

    Returns:
        A new dict (changing it leaves the schemas alone).

    Raises:
        ValueError: the schema does not describe an object.
    """
    value = _Examples(components).value(schema)
    if not isinstance(value, dict):
        raise ValueError(f"the input schema does not describe an object (its example is {value!r})")
    return value


class _Examples:
    """One example's walk: the components, and the ``$ref``s being expanded right now."""

    def __init__(self, components: Mapping[str, Any]) -> None:
        """A walk over schemas whose ``$ref``s point into ``components``."""
        self.components = components
        self.expanding: list[str] = []

    def value(self, schema: Any) -> Any:
        """An example value of ``schema``: offered by it, else made from its type."""
        if not isinstance(schema, Mapping):
            return None
        offered = self.offered(schema)
        if offered is not _NO_VALUE:
            return offered
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = resolve_ref(ref, self.components)
            if ref in self.expanding:
                return _empty(target)
            self.expanding.append(ref)
            try:
                return self.value(target)
            finally:
                self.expanding.pop()
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return copy.deepcopy(next((v for v in enum if v is not None), enum[0]))
        for key in ("anyOf", "oneOf"):
            members = schema.get(key)
            if isinstance(members, list) and members:
                chosen = next((m for m in members if not _is_null(m)), members[0])
                return self.value(chosen)
        members = schema.get("allOf")
        if isinstance(members, list) and members:
            parts = [self.value(m) for m in members]
            if "properties" in schema:  # pydantic's inheritance: own fields beside the base's
                parts.insert(0, self.object(schema))
            if all(isinstance(p, dict) for p in parts):
                merged: dict[str, Any] = {}
                for part in parts:
                    merged.update(part)
                return merged
            return next((p for p in parts if p is not None), None)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or (kind is None and "properties" in schema):
            return self.object(schema)
        if kind == "array" or (kind is None and "items" in schema):
            return self.array(schema)
        if kind == "string":
            return _string(schema)
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return False
        return None

    def object(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """Required keys always, optional ones only with an offered value."""
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        required = schema.get("required")
        required_keys = set(required) if isinstance(required, list) else set()
        out = {}
        for key, sub in properties.items():
            if key in required_keys or self.offers(sub):
                out[key] = self.value(sub)
        return out

    def array(self, schema: Mapping[str, Any]) -> list[Any]:
        """``minItems`` examples of the items (at least one, if ``maxItems`` allows)."""
        items = schema.get("items")
        minimum = schema.get("minItems")
        needed = minimum if isinstance(minimum, int) and minimum > 0 else 0
        if schema.get("maxItems") == 0 or not isinstance(items, Mapping):
            return []
        ref = items.get("$ref")
        if isinstance(ref, str) and ref in self.expanding and not needed:
            return []  # a tree of itself: an empty list ends it
        count = max(needed, 1)
        return [self.value(items) for _ in range(count)]

    def offered(self, schema: Mapping[str, Any]) -> Any:
        """The schema's own example or default (a copy), else ``_NO_VALUE``."""
        examples = schema.get("examples")
        if isinstance(examples, list) and examples:
            return copy.deepcopy(examples[0])
        for key in ("example", "default"):
            if key in schema:
                return copy.deepcopy(schema[key])
        return _NO_VALUE

    def offers(self, schema: Any) -> bool:
        """Whether an optional property shows a value: an example, or a non-null default.

        Looked for on the property and, through a ``$ref`` (or pydantic's one-member
        ``allOf``), on the schema it names.
        """
        for _ in range(8):  # a reference to a reference, but not a circle of them
            if not isinstance(schema, Mapping):
                return False
            examples = schema.get("examples")
            if (isinstance(examples, list) and examples) or "example" in schema:
                return True
            if schema.get("default") is not None:
                return True
            members = schema.get("allOf")
            if isinstance(members, list) and len(members) == 1:
                schema = members[0]
                continue
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                return False
            schema = resolve_ref(ref, self.components)
        return False


def _is_null(schema: Any) -> bool:
    """Whether ``schema`` is ``{"type": "null"}`` (the null member of a 3.1 union)."""
    return isinstance(schema, Mapping) and schema.get("type") == "null"


def _empty(schema: Any) -> Any:
    """The smallest value of a schema's type, for a ``$ref`` met inside itself."""
    if not isinstance(schema, Mapping):
        return None
    if "default" in schema:
        return copy.deepcopy(schema["default"])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {}
    if kind == "array":
        return []
    if kind == "string":
        return ""
    return None


def _string(schema: Mapping[str, Any]) -> str:
    """A placeholder for its format, else ``minLength`` times ``a``, else ``""``."""
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMAT_PLACEHOLDERS:
        return _FORMAT_PLACEHOLDERS[fmt]
    length = schema.get("minLength")
    return "a" * length if isinstance(length, int) and length > 0 else ""


def _number(schema: Mapping[str, Any], *, integer: bool) -> Any:
    """The minimum of a number bounded below, else its maximum, else 0 (see the rules)."""
    low, low_open = _bound(schema, "minimum", "exclusiveMinimum")
    high, high_open = _bound(schema, "maximum", "exclusiveMaximum")
    if integer:
        if low is not None:
            return int(math.floor(low) + 1 if low_open else math.ceil(low))
        if high is not None:
            return int(math.ceil(high) - 1 if high_open else math.floor(high))
        return 0
    if low is not None:
        if not low_open:
            return low
        # Any float above an open minimum will do; the midpoint also stays below a maximum.
        return (low + high) / 2 if high is not None else low + 1
    if high is not None:
        return high - 1 if high_open else high
    return 0


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str) -> tuple[Any, bool]:
    """``(bound, open)``: OpenAPI 3.0's boolean ``exclusive*`` and 3.1's numeric one both."""
    flag = schema.get(exclusive)
    value = schema.get(inclusive)
    if isinstance(flag, (int, float)) and not isinstance(flag, bool):
        return flag, True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value, flag is True
    return None, False
