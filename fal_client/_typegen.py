"""Python source of ``TypedDict`` classes for endpoints' inputs and outputs: pure, no I/O.

`render_typed_dicts` turns the schemas `fal_client._openapi_schemas.find_endpoint_schemas`
found into a module that ``fal-client types ENDPOINT...`` writes out. It only builds text; the
command fetches the documents and writes the file.

Names (all valid identifiers, each defined once):

- An endpoint's input and output are ``<Base>Input`` and ``<Base>Output``, ``<Base>`` being
  the endpoint id in PascalCase (`endpoint_type_name`): split at every character other than
  an ASCII letter or digit, each part's first letter upper-cased, the rest kept as written
  (``fal-ai/flux/dev`` -> ``FalAiFluxDev``, ``fal-ai/flux-pro/v1.1-ultra`` ->
  ``FalAiFluxProV11Ultra``); ``Fal`` is put in front of an id that starts with a digit. These
  names are reserved before any other, so a component cannot take them; the component the
  input or output refers to is rendered under that name instead of its own.
- A component (``#/components/schemas/Image``) is its name in PascalCase by the same rule
  (``Schema`` in front of a leading digit).
- A nested object without a component is named from where it sits: its parent's name plus
  the property in PascalCase (``FalAiFluxDevInput`` + ``image_size`` ->
  ``FalAiFluxDevInputImageSize``), plus ``Item`` for an array's items and ``Value`` for a
  map's values.
- A name already taken (by an earlier definition, or by a name the module imports) gets the
  first free number appended: ``Image``, ``Image2``, ``Image3``. Endpoints are rendered in
  sorted order, each input before its output and properties in the document's order, so the
  numbers (and the whole text) only change when the schemas do. Two endpoints whose
  documents define the same component identically (the component and everything it refers
  to) share one class.

Types: ``string`` -> ``str``, ``integer`` -> ``int``, ``number`` -> ``float``, ``boolean`` ->
``bool``, arrays -> ``List[...]``, an object with properties -> its own ``TypedDict``, an object
without properties -> ``Dict[str, V]`` (``V`` from ``additionalProperties``, ``Any`` when that
says nothing), ``enum``/``const`` -> ``Literal[...]`` (an enum with a value ``Literal`` cannot
hold, such as a float, falls back to its type), ``anyOf``/``oneOf`` -> ``Union[...]``,
``nullable: true`` or a ``null`` member -> ``Optional[...]``, ``allOf`` of objects -> one merged
``TypedDict``, anything else -> ``Any``. A key not in ``required`` is ``NotRequired[...]``.
An object's keys beyond its properties (``additionalProperties`` beside ``properties``) are not
typed: ``TypedDict`` cannot say so before PEP 728.

A class whose keys include one that is not an identifier, is a keyword or starts with ``__``
(which a class body would mangle) uses the functional form, ``Name = TypedDict("Name", {...})``;
its docstring and every alias's is the string literal after the assignment, where IDEs and
Sphinx read an attribute's docstring.

The generated module imports ``NotRequired`` and ``TypedDict`` from ``typing`` on Python 3.11
and later, and from ``typing_extensions`` before (older ``typing.TypedDict`` ignores
``NotRequired`` at runtime), behind ``if sys.version_info >= (3, 11):``, which mypy and pyright
follow. ``typing_extensions`` is already a dependency of this package (``>=4.8``; ``NotRequired``
arrived in 4.0), so the module imports wherever the command that wrote it runs; it is also
what mypy and pydantic users have installed anyway.
"""

from __future__ import annotations

import json
import keyword
import re
import shlex
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ._openapi_schemas import EndpointSchemas, component_name, refs_in, resolve_ref

# Names the generated module imports or relies on: no definition may take them.
_RESERVED = frozenset(
    {"Any", "Dict", "List", "Literal", "NotRequired", "Optional", "TypedDict", "Union", "sys"}
    | {"str", "int", "float", "bool", "None", "True", "False"}
)
_ATOMS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}
# Keywords that describe a schema without constraining its type (with any "x-" extension): an
# allOf member made only of these adds nothing (pydantic writes `allOf: [{"$ref": ...}]` to hang
# a description on a reference).
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "example", "deprecated", "readOnly"}
    | {"writeOnly", "nullable", "format"}
)
_WIDTH = 100  # the longest line written (ruff's default)


# --- type expressions -----------------------------------------------------------------------
# A small tree rather than strings, so that a reference to a class not yet defined can be
# quoted when the module is written (the definitions' order is only known then).


@dataclass(frozen=True)
class _Atom:
    """A type written as a plain name: ``str``, ``int``, ``Any``, ``None``."""

    text: str


@dataclass(frozen=True)
class _Named:
    """A definition of the generated module (quoted where it is not defined yet)."""

    name: str


@dataclass(frozen=True)
class _Generic:
    """``head[args]``: ``List``, ``Dict``, ``Optional``, ``Union`` or ``NotRequired``."""

    head: str
    args: tuple[_Type, ...]


@dataclass(frozen=True)
class _Literal:
    """``Literal[values]``: strings, integers and booleans only (what ``Literal`` holds)."""

    values: tuple[Union[str, int, bool, None], ...]


_Type = Union[_Atom, _Named, _Generic, _Literal]
_ANY = _Atom("Any")
_NONE = _Atom("None")


@dataclass
class _Field:
    """One key of a ``TypedDict``, with the comment lines written above it."""

    key: str
    type: _Type
    required: bool
    comment: list[str]


@dataclass
class _Definition:
    """A class (``fields`` set) or an alias (``alias`` set) of the generated module."""

    name: str
    doc: str
    fields: Optional[list[_Field]] = None
    alias: Optional[_Type] = None


@dataclass
class _Endpoint:
    """One endpoint to render: its schemas, its names' base, the names it got."""

    endpoint_id: str
    schemas: EndpointSchemas
    base: str
    defined: list[str] = field(default_factory=list)


def endpoint_type_name(endpoint_id: str) -> str:
    """The PascalCase base of an endpoint's type names: ``fal-ai/flux/dev`` -> ``FalAiFluxDev``.

    The input is this plus ``Input`` and the output plus ``Output`` (unless two endpoints
    come out the same, see the module's docstring).
    """
    return _pascal(endpoint_id, prefix="Fal")


def render_typed_dicts(
    endpoints: Sequence[EndpointSchemas], *, command: Optional[str] = None
) -> str:
    """The Python source of a module with the ``TypedDict`` types of each endpoint.

    Args:
        endpoints: what `find_endpoint_schemas` returned for each endpoint; rendered in the
            order of their ids, an id given twice once.
        command: the command line to name in the header comment; by default
            ``fal-client types`` followed by the endpoint ids as given.

    Returns:
        The module's text: deterministic for the same schemas (no time stamps, stable order),
        importable and ``mypy --strict`` clean on Python 3.9 to 3.13.

    Raises:
        ValueError: ``endpoints`` is empty.
    """
    if not endpoints:
        raise ValueError("render_typed_dicts needs at least one endpoint")
    if command is None:
        command = " ".join(
            ["fal-client", "types", *(shlex.quote(e.endpoint_id) for e in endpoints)]
        )
    unique: dict[str, EndpointSchemas] = {}
    for schemas in endpoints:
        unique.setdefault(schemas.endpoint_id, schemas)
    renderer = _Renderer()
    # Every endpoint's names are reserved before any schema is walked: a component called
    # "FalAiFluxDevInput" must not take the name the endpoint's input is documented under.
    plan = []
    for endpoint_id in sorted(unique):
        base = renderer.unique_base(endpoint_type_name(endpoint_id))
        plan.append(_Endpoint(endpoint_id, unique[endpoint_id], base))
    for entry in plan:
        renderer.render_endpoint(entry)
    return renderer.module(plan, command)


class _Renderer:
    """The state of one rendering: names taken, definitions so far, components seen."""

    def __init__(self) -> None:
        """Nothing rendered yet: only the module's own names are taken."""
        self.taken: set[str] = set(_RESERVED)
        self.definitions: list[_Definition] = []
        # A component's identity (its name and everything it reaches, canonically) -> the name
        # of its definition: identical components of two documents become one class.
        self.by_identity: dict[str, str] = {}
        self.identities: dict[tuple[int, str], str] = {}  # (id(components), name) -> identity
        self.done: set[str] = set()  # names whose definitions are complete

    # --- names ----------------------------------------------------------------------------

    def unique(self, base: str) -> str:
        """``base``, or ``base`` with the first free number from 2 appended; then taken."""
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}{n}"
        self.taken.add(name)
        return name

    def unique_base(self, base: str) -> str:
        """An endpoint base whose ``Input`` and ``Output`` names are both free; both taken."""
        name, n = base, 1
        while f"{name}Input" in self.taken or f"{name}Output" in self.taken:
            n += 1
            name = f"{base}{n}"
        self.taken.update((f"{name}Input", f"{name}Output"))
        return name

    # --- walking schemas ------------------------------------------------------------------

    def render_endpoint(self, entry: _Endpoint) -> None:
        """Define the endpoint's input and (when it has one) output, with what they reach."""
        schemas = entry.schemas
        components = schemas.components
        roots = [("Input", schemas.input)]
        if schemas.output is not None:
            roots.append(("Output", schemas.output))
        for what, schema in roots:
            name = f"{entry.base}{what}"
            summary = f"{what} of the fal endpoint {entry.endpoint_id}."
            target, ref_name = schema, None
            ref = _sole_ref(schema)
            resolved = resolve_ref(ref, components) if ref is not None else None
            if ref is not None and resolved is not None:
                target, ref_name = resolved, component_name(ref)
            if ref_name is not None and resolved is components.get(ref_name):
                identity = self.identity(ref_name, components)
                existing = self.by_identity.get(identity)
                if existing is not None:
                    # Another endpoint's root (or this endpoint's input) is the same schema.
                    self.add(_Definition(name, summary, alias=_Named(existing)))
                    entry.defined.append(name)
                    continue
                # The component takes the endpoint's name instead of its own.
                self.by_identity[identity] = name
            doc = _join_doc(summary, _describe(target) or _describe(schema))
            self.define(target, name, doc, components, where=name)
            entry.defined.append(name)

    def add(self, definition: _Definition) -> None:
        """Append a finished definition (after the ones it uses, unless they are circular)."""
        self.definitions.append(definition)
        self.done.add(definition.name)

    def identity(self, name: str, components: Mapping[str, Any]) -> str:
        """A component with everything it reaches, as canonical JSON (its identity)."""
        key = (id(components), name)
        if key not in self.identities:
            self.identities[key] = self._identity(name, components)
        return self.identities[key]

    def _identity(self, name: str, components: Mapping[str, Any]) -> str:
        """`identity`, computed."""
        reached: dict[str, Any] = {}
        pending = [name]
        while pending:
            current = pending.pop()
            if current in reached or current not in components:
                continue
            reached[current] = components[current]
            for ref in refs_in(components[current]):
                target = component_name(ref)
                if target is not None:
                    pending.append(target)
        return json.dumps([name, reached], sort_keys=True, default=str)

    def define(
        self, schema: Any, name: str, doc: str, components: Mapping[str, Any], *, where: str
    ) -> None:
        """Append the definition of ``schema`` under ``name`` (its dependencies come first)."""
        if not isinstance(schema, Mapping):
            self.add(_Definition(name, doc, alias=_ANY))
            return
        # A component that is only a $ref to another is an alias of it, not a copy.
        obj = None if "$ref" in schema else self.as_object(schema, components, set())
        if obj is not None:
            self.define_class(obj, name, doc, components)
            return
        alias = self.type_of(schema, f"{name}Option", components, where=where)
        if alias == _Named(name) or (isinstance(alias, _Named) and alias.name not in self.done):
            # A schema that is only a reference to itself, or to a class still being built
            # (a circle of references with no object in it), has no type to name.
            alias = _ANY
        self.add(_Definition(name, doc, alias=alias))

    def define_class(
        self, schema: Mapping[str, Any], name: str, doc: str, components: Mapping[str, Any]
    ) -> None:
        """Append a ``TypedDict`` for an object schema with properties."""
        required = schema.get("required")
        required_keys = set(required) if isinstance(required, list) else set()
        fields = []
        for key, sub in schema["properties"].items():
            if not isinstance(key, str):
                continue
            typ = self.type_of(
                sub, name + _pascal(key, prefix="Field"), components, where=f"`{key}` of {name}"
            )
            fields.append(_Field(key, typ, key in required_keys, _field_comment(sub)))
        self.add(_Definition(name, doc, fields=fields))

    def as_object(
        self, schema: Any, components: Mapping[str, Any], seen: set[str]
    ) -> Optional[dict[str, Any]]:
        """``schema`` as one object schema with properties (``allOf`` merged), else ``None``."""
        if not isinstance(schema, Mapping):
            return None
        ref = schema.get("$ref")
        if isinstance(ref, str):
            # Reached for allOf members only (define() and bare_type() never pass a $ref
            # here: elsewhere a $ref is its component's own definition); `seen` stops a
            # circle of allOf references.
            if ref in seen:
                return None
            return self.as_object(resolve_ref(ref, components), components, seen | {ref})
        merged: dict[str, Any] = {}
        properties = schema.get("properties")
        if isinstance(properties, Mapping) and properties:
            merged = {
                "properties": dict(properties),
                "required": list(schema.get("required") or []),
            }
        members = schema.get("allOf")
        if (
            isinstance(members, list)
            and members
            and not any(k in schema for k in ("anyOf", "oneOf"))
        ):
            for member in members:
                if _only_annotations(member):
                    continue
                part = self.as_object(member, components, seen)
                if part is None:
                    return None
                merged.setdefault("properties", {})
                merged.setdefault("required", [])
                for key, sub in part["properties"].items():
                    merged["properties"].setdefault(key, sub)
                merged["required"] += [k for k in part["required"] if k not in merged["required"]]
        return merged or None

    def type_of(
        self, schema: Any, context: str, components: Mapping[str, Any], *, where: str
    ) -> _Type:
        """The type expression of ``schema``; ``context`` names an inline object it defines."""
        if not isinstance(schema, Mapping):
            return _ANY  # true, false, or not a schema at all
        typ = self.bare_type(schema, context, components, where=where)
        return _optional(typ) if schema.get("nullable") is True else typ

    def bare_type(
        self, schema: Mapping[str, Any], context: str, components: Mapping[str, Any], *, where: str
    ) -> _Type:
        """`type_of` without ``nullable``."""
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self.component(ref, components)
        if "const" in schema:
            literal = _literal([schema["const"]])
            if literal is not None:
                return literal
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            literal = _literal(enum)
            if literal is not None:
                return literal
        for key in ("anyOf", "oneOf"):
            members = schema.get(key)
            if isinstance(members, list) and members:
                return _union([self.type_of(m, context, components, where=where) for m in members])
        members = schema.get("allOf")
        if isinstance(members, list) and members:
            meaningful = [m for m in members if not _only_annotations(m)]
            if len(meaningful) == 1 and "properties" not in schema:
                return self.type_of(meaningful[0], context, components, where=where)
            merged = self.as_object(schema, components, set())
            if merged is None:
                return _ANY
            name = self.unique(context)
            doc = _describe(schema) or f"The {where}."
            self.define_class(merged, name, doc, components)
            return _Named(name)
        kind = schema.get("type")
        if isinstance(kind, list):
            return _union(
                [
                    self.bare_type({**schema, "type": k}, context, components, where=where)
                    for k in kind
                ]
            )
        if kind == "object" or (
            kind is None and ("properties" in schema or "additionalProperties" in schema)
        ):
            properties = schema.get("properties")
            if isinstance(properties, Mapping) and properties:
                name = self.unique(context)
                doc = _describe(schema) or f"The {where}."
                self.define_class(schema, name, doc, components)
                return _Named(name)
            values = schema.get("additionalProperties")
            value_type = (
                self.type_of(values, f"{context}Value", components, where=f"values of {where}")
                if isinstance(values, Mapping)
                else _ANY
            )
            return _Generic("Dict", (_Atom("str"), value_type))
        if kind == "array" or (kind is None and "items" in schema):
            items = schema.get("items")
            if isinstance(items, Mapping):
                item = self.type_of(items, f"{context}Item", components, where=f"items of {where}")
                return _Generic("List", (item,))
            return _Generic("List", (_ANY,))
        if isinstance(kind, str) and kind in _ATOMS:
            return _Atom(_ATOMS[kind])
        return _ANY

    def component(self, ref: str, components: Mapping[str, Any]) -> _Type:
        """The type of a ``$ref``: the component's definition, made on first use."""
        name = component_name(ref)
        target = resolve_ref(ref, components)
        if name is None or target is None:
            return _ANY  # find_endpoint_schemas refuses these; a hand-made input may not
        if target is not components.get(name):
            # A pointer into a component (.../Image/properties/url): typed in place.
            return self.type_of(target, _pascal(name, prefix="Schema"), components, where=name)
        identity = self.identity(name, components)
        existing = self.by_identity.get(identity)
        if existing is not None:
            return _Named(existing)
        # Named before its body is built, so a reference back to it (recursion) finds it.
        definition_name = self.unique(_pascal(name, prefix="Schema"))
        self.by_identity[identity] = definition_name
        doc = _describe(target) or f"The {name} schema."
        self.define(target, definition_name, doc, components, where=name)
        return _Named(definition_name)

    # --- writing --------------------------------------------------------------------------

    def module(self, plan: list[_Endpoint], command: str) -> str:
        """The module's text: header, imports, then the definitions in dependency order."""
        used = _typing_names_used(self.definitions)
        lines = [
            "# Generated from fal's OpenAPI documents by:",
            f"#   {_comment_text(command)}",
            "# for the endpoints:",
        ]
        for entry in plan:
            names = ", ".join(entry.defined)
            note = "" if entry.schemas.output is not None else " (the document has no output)"
            lines.append(f"#   {_comment_text(entry.endpoint_id)}: {names}{note}")
        lines += [
            "# Do not edit by hand: run the command again to regenerate.",
            '"""Input and output types of fal endpoints, generated by ``fal-client types``."""',
            "",
        ]
        plain = sorted(used & {"Any", "Dict", "List", "Literal", "Optional", "Union"})
        versioned = sorted(used & {"NotRequired", "TypedDict"})
        if versioned:
            lines.append("import sys")
        if plain:
            lines.append(f"from typing import {', '.join(plain)}")
        if versioned:
            names = ", ".join(versioned)
            lines += [
                "",
                "if sys.version_info >= (3, 11):",
                f"    from typing import {names}",
                "else:",
                f"    from typing_extensions import {names}",
            ]
        defined: set[str] = set()
        for definition in self.definitions:
            lines += ["", ""]
            lines += _render_definition(definition, defined)
            defined.add(definition.name)
        return "\n".join(lines) + "\n"


def _render_definition(definition: _Definition, defined: set[str]) -> list[str]:
    """The lines of one definition; names not in ``defined`` yet are quoted."""
    name = definition.name
    if definition.fields is None:
        assert definition.alias is not None
        prefix = f"{name} = "
        typ = _type_lines(definition.alias, defined | {name}, "", len(prefix), 0)
        return [prefix + typ[0], *typ[1:], *_docstring(definition.doc, "")]
    fields = definition.fields
    lines = []
    if any(not _class_syntax_key(f.key) for f in fields):
        lines += [f"{name} = TypedDict(", f"    {_py_str(name)},", "    {"]
        for f in fields:
            lines += [f"        # {line}" for line in f.comment]
            prefix = f"        {_py_str(f.key)}: "
            typ = _type_lines(_field_type(f), defined, "        ", len(prefix), 1)
            lines += [prefix + typ[0], *typ[1:]]
            lines[-1] += ","
        lines += ["    },", ")"]
        lines += _docstring(definition.doc, "")
        return lines
    lines.append(f"class {name}(TypedDict):")
    lines += _docstring(definition.doc, "    ")
    if fields:
        lines.append("")
    for f in fields:
        lines += [f"    # {line}" for line in f.comment]
        prefix = f"    {f.key}: "
        typ = _type_lines(_field_type(f), defined, "    ", len(prefix), 0)
        lines += [prefix + typ[0], *typ[1:]]
    return lines


def _type_lines(typ: _Type, defined: set[str], indent: str, before: int, after: int) -> list[str]:
    """``typ`` as source lines, split inside its brackets when one line would be too long.

    ``before`` and ``after`` are the characters on the first and last line around it; the
    first line is returned without indentation, the others with ``indent``. The splits are
    the ones ``ruff format`` makes, so a formatter leaves the file alone: a single argument
    goes on a line of its own (split again if need be), several go one a line with a trailing
    comma (never after a single argument, which would make it a tuple).
    """
    flat = _render(typ, defined)
    if before + len(flat) + after <= _WIDTH or not isinstance(typ, (_Generic, _Literal)):
        return [flat]
    inner = indent + "    "
    if isinstance(typ, _Literal):
        head, args = "Literal", [[_py_value(v)] for v in typ.values]
    elif len(typ.args) == 1:
        sub = _type_lines(typ.args[0], defined, inner, len(inner), 0)
        return [f"{typ.head}[", inner + sub[0], *sub[1:], f"{indent}]"]
    else:
        head, args = typ.head, [_type_lines(a, defined, inner, len(inner), 1) for a in typ.args]
    lines = [f"{head}["]
    for arg in args:
        lines += [inner + arg[0], *arg[1:]]
        lines[-1] += ","
    return [*lines, f"{indent}]"]


def _field_type(f: _Field) -> _Type:
    """A field's annotation: its type, in ``NotRequired`` when the key is optional."""
    return f.type if f.required else _Generic("NotRequired", (f.type,))


def _class_syntax_key(key: str) -> bool:
    """Whether ``key`` can be a field of a class-syntax ``TypedDict`` as written."""
    # A class body mangles "__x" into "_Name__x", so such keys need the functional form too.
    return key.isidentifier() and not keyword.iskeyword(key) and not key.startswith("__")


def _render(typ: _Type, defined: set[str]) -> str:
    """A type expression as Python source, on one line."""
    if isinstance(typ, _Atom):
        return typ.text
    if isinstance(typ, _Named):
        # A class defined further down (or this one, recursively) is a forward reference.
        return typ.name if typ.name in defined else _py_str(typ.name)
    if isinstance(typ, _Literal):
        return f"Literal[{', '.join(_py_value(v) for v in typ.values)}]"
    return f"{typ.head}[{', '.join(_render(a, defined) for a in typ.args)}]"


def _typing_names_used(definitions: list[_Definition]) -> set[str]:
    """Which typing names the definitions need imported."""
    used: set[str] = set()

    def walk(typ: _Type) -> None:
        """Note the names ``typ`` and its arguments are written with."""
        if isinstance(typ, _Atom) and typ.text == "Any":
            used.add("Any")
        elif isinstance(typ, _Literal):
            used.add("Literal")
        elif isinstance(typ, _Generic):
            used.add(typ.head)
            for arg in typ.args:
                walk(arg)

    for definition in definitions:
        if definition.alias is not None:
            walk(definition.alias)
        if definition.fields is not None:
            used.add("TypedDict")
            for f in definition.fields:
                walk(_field_type(f))
    return used


# --- building types -------------------------------------------------------------------------


def _optional(typ: _Type) -> _Type:
    """``Optional[typ]``, unless ``typ`` already admits ``None`` (``Any``, ``None``, optional)."""
    if typ in (_ANY, _NONE) or (isinstance(typ, _Generic) and typ.head == "Optional"):
        return typ
    return _Generic("Optional", (typ,))


def _union(members: list[_Type]) -> _Type:
    """``Union[...]`` of distinct members; ``null`` ones make it ``Optional``, literals merge."""
    flat: list[_Type] = []
    nullable = False
    for member in members:
        if isinstance(member, _Generic) and member.head == "Optional":
            nullable = True
            member = member.args[0]
        if isinstance(member, _Generic) and member.head == "Union":
            flat.extend(member.args)
        elif member == _NONE:
            nullable = True
        else:
            flat.append(member)
    if _ANY in flat:
        return _ANY
    distinct: list[_Type] = []
    literal_at: Optional[int] = None
    for member in flat:
        if isinstance(member, _Literal):
            if literal_at is None:
                literal_at = len(distinct)
                distinct.append(member)
            else:
                previous = distinct[literal_at]
                assert isinstance(previous, _Literal)
                distinct[literal_at] = _merge_literals(previous, member)
            continue
        if member not in distinct:
            distinct.append(member)
    if not distinct:
        return _NONE
    typ = distinct[0] if len(distinct) == 1 else _Generic("Union", tuple(distinct))
    return _optional(typ) if nullable else typ


def _merge_literals(a: _Literal, b: _Literal) -> _Literal:
    """One ``Literal`` of both one's values, in order, each once (``1`` and ``True`` apart)."""
    values = list(a.values)
    for value in b.values:
        if not any(type(v) is type(value) and v == value for v in values):
            values.append(value)
    return _Literal(tuple(values))


def _literal(values: list[Any]) -> Optional[_Type]:
    """``Literal[...]`` of ``values`` (``Optional`` for a null one), or ``None`` if one is not
    something ``Literal`` can hold (a float, a list, an object)."""
    kept: list[Union[str, int, bool, None]] = []
    nullable = False
    for value in values:
        if value is None:
            nullable = True
        elif isinstance(value, (str, int)):  # bool is an int
            if not any(type(v) is type(value) and v == value for v in kept):
                kept.append(value)
        else:
            return None
    if not kept:
        return _NONE
    literal = _Literal(tuple(kept))
    return _optional(literal) if nullable else literal


def _sole_ref(schema: Any) -> Optional[str]:
    """The ``$ref`` of a schema that is only a reference (annotations aside), else ``None``."""
    if not isinstance(schema, Mapping):
        return None
    if schema.get("nullable") is True:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and _only_annotations(schema, but="$ref"):
        return ref
    members = schema.get("allOf")
    if isinstance(members, list) and len(members) == 1 and _only_annotations(schema, but="allOf"):
        return _sole_ref(members[0])
    return None


def _only_annotations(schema: Any, *, but: str = "") -> bool:
    """Whether ``schema`` has nothing but annotations (and the keyword ``but``)."""
    return isinstance(schema, Mapping) and all(
        key == but or key in _ANNOTATIONS or (isinstance(key, str) and key.startswith("x-"))
        for key in schema
    )


# --- text -----------------------------------------------------------------------------------


def _pascal(text: str, *, prefix: str) -> str:
    """``text`` as a PascalCase identifier (``prefix`` in front of a leading digit)."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", text) if p]
    name = "".join(p[0].upper() + p[1:] for p in parts)
    if not name or name[0].isdigit():
        name = prefix + name
    return name


def _describe(schema: Any) -> str:
    """A schema's description, else its title if written for people, else ``""``.

    A title without a space (``FluxDevInput``, ``BaseInput``, ``Output``) is the name of the
    model class the schema was generated from (pydantic titles every model so): no news in a
    docstring, so it is skipped; ``Image Size`` is kept.
    """
    if not isinstance(schema, Mapping):
        return ""
    description = schema.get("description")
    if isinstance(description, str) and description.strip():
        return description.strip()
    title = schema.get("title")
    if isinstance(title, str) and len(title.strip().split()) > 1:
        return title.strip()
    return ""


def _join_doc(summary: str, description: str) -> str:
    """A docstring's summary line, then the description as its own paragraph."""
    return f"{summary}\n\n{description}" if description else summary


def _field_comment(schema: Any) -> list[str]:
    """The comment lines above a field: its description, then its default."""
    if not isinstance(schema, Mapping):
        return []
    text = schema.get("description")
    lines = _wrap(text, _WIDTH - 10) if isinstance(text, str) else []
    if "default" in schema:
        default = json.dumps(schema["default"], ensure_ascii=False, sort_keys=True, default=str)
        if len(default) <= 60:
            lines.append(f"Default: {_comment_text(default)}")
    return lines


def _wrap(text: str, width: int) -> list[str]:
    """``text`` wrapped to ``width``, its own line breaks kept, each line safe in a comment."""
    out: list[str] = []
    for line in text.strip().splitlines():
        line = _comment_text(line.rstrip())
        if not line:
            out.append("")
            continue
        out += textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False) or [""]
    return out


def _comment_text(text: str) -> str:
    """``text`` with every character a comment line cannot hold escaped (line breaks, NUL)."""
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _docstring(text: str, indent: str) -> list[str]:
    """A triple-quoted docstring holding ``text`` exactly (after wrapping), at ``indent``."""
    lines = _wrap_docstring(text, _WIDTH - len(indent) - 3)
    body = "\n".join(lines)
    escaped = []
    for i, ch in enumerate(body):
        if ch == "\\":
            escaped.append("\\\\")
        elif ch == '"' and (i + 1 == len(body) or body[i + 1] == '"'):
            # No two unescaped quotes in a row, and none last: the literal cannot end early.
            escaped.append('\\"')
        elif ch == "\n" or ch.isprintable():
            escaped.append(ch)
        else:
            escaped.append(_escape(ch))
    out = "".join(escaped).split("\n")
    if len(out) == 1:
        return [f'{indent}"""{out[0]}"""']
    return [
        f'{indent}"""{out[0]}',
        *[f"{indent}{line}" if line else "" for line in out[1:]],
        f'{indent}"""',
    ]


def _wrap_docstring(text: str, width: int) -> list[str]:
    """``text``'s lines wrapped to ``width`` at spaces; nothing else in it changes."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line:
            out.append("")
            continue
        out += textwrap.wrap(
            line,
            width,
            break_long_words=False,
            break_on_hyphens=False,
            # Tabs and odd whitespace stay as written (escaped later), not turned into spaces.
            expand_tabs=False,
            replace_whitespace=False,
        ) or [""]
    return out


def _py_str(text: str) -> str:
    """A double-quoted Python literal of ``text`` that evaluates back to it exactly."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(_escape(ch))
    return '"' + "".join(out) + '"'


def _py_value(value: Union[str, int, bool, None]) -> str:
    """A ``Literal`` value as Python source."""
    return _py_str(value) if isinstance(value, str) else repr(value)


def _escape(ch: str) -> str:
    """The Python escape sequence of one character (also readable in a comment)."""
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if ch in named:
        return named[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
