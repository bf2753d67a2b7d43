"""JSON schemas from Python: an app's input and output (given as ``schema=``, or read from its
function's annotations), and the type annotations of the control API's records. No I/O.

An app's schemas are derived from its function when no ``schema=`` says otherwise:

- the input from the first parameter annotated with a ``TypedDict`` or a pydantic model;
- the output from the return annotation (for a streaming app, the item type of its
  ``AsyncIterator[...]``/``Iterator[...]``: the last item is the result);
- anything else, or annotations that cannot be resolved (a ``TypedDict`` defined inside a function
  under ``from __future__ import annotations``), is the permissive ``{"type": "object"}``.

Inside a ``TypedDict``: ``int``/``float``/``str``/``bool``, ``Literal`` (an ``enum``),
``Optional[X]`` (``anyOf`` with ``{"type": "null"}``, as pydantic writes it), other unions
(``anyOf``), ``list``/``Sequence``/``tuple``/``set`` (``array``), ``dict[str, X]``
(``additionalProperties``), ``Enum`` classes, ``datetime``/``date``/``UUID`` (formatted strings),
nested ``TypedDict``s and pydantic models (named schemas, referenced with ``$ref``); totality,
``Required``/``NotRequired``, PEP 728's ``closed``/``extra_items`` and the class docstring (its
summary, and an ``Attributes:`` section for the fields) are honoured.

pydantic is never imported here: a class is a pydantic model only if pydantic is already
imported (the app's module did it to define the model) and the class derives from its
``BaseModel``. Its own ``model_json_schema()`` is used.

Named schemas are referenced as ``#/components/schemas/<name>``, where the per-endpoint OpenAPI
document (``_model_openapi``) puts them.
"""

from __future__ import annotations

import collections.abc
import datetime
import enum
import functools
import inspect
import json
import sys
import typing
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import typing_extensions

from . import _docstrings as docstrings

Schema = Dict[str, Any]

#: Where named schemas live (OpenAPI's components).
COMPONENTS = "#/components/schemas/"

#: Where a JSON Schema document may keep its named schemas, and how its refs point at them.
_LOCAL_DEFINITIONS = ("$defs", "definitions")
_REF_PREFIXES = ("#/$defs/", "#/definitions/", COMPONENTS)


def permissive() -> Schema:
    """What an app whose schema is unknown accepts and returns: any JSON object."""
    return {"type": "object"}


@dataclass(frozen=True)
class AppSchema:
    """An app's input and output JSON schemas, with the named schemas they reference.

    Attributes:
        input: the schema of the JSON body the app accepts.
        output: the schema of its result.
        definitions: named schemas that ``input`` and ``output`` reference as
            ``#/components/schemas/<name>``.
    """

    input: Schema = field(default_factory=permissive)
    output: Schema = field(default_factory=permissive)
    definitions: Mapping[str, Schema] = field(default_factory=dict)


# --- named schemas ---------------------------------------------------------------------------


class Definitions:
    """The named schemas collected while converting, each under a unique name."""

    def __init__(self) -> None:
        self.schemas: Dict[str, Schema] = {}
        self._by_source: Dict[int, str] = {}
        # Keeps the sources alive, so their ids stay unique while this object lives.
        self._sources: List[object] = []

    def named(self, source: object) -> Optional[str]:
        """The name already given to the schema of ``source`` (a class), if any."""
        return self._by_source.get(id(source))

    def reserve(self, source: object, preferred: str) -> str:
        """A new unique name for ``source``'s schema (filled in by :meth:`define`)."""
        name = self._unique(preferred)
        self.schemas[name] = {}
        self._by_source[id(source)] = name
        self._sources.append(source)
        return name

    def define(self, name: str, schema: Schema) -> None:
        """Set the schema of a reserved name."""
        self.schemas[name] = schema

    def take(self, name: str) -> Schema:
        """Remove a named schema (its source gets a new one if it is converted again)."""
        self._by_source = {key: value for key, value in self._by_source.items() if value != name}
        return self.schemas.pop(name)

    def merge(self, local: Mapping[str, Any]) -> Dict[str, str]:
        """Adopt the named schemas of another document (``$defs`` of pydantic, of a given
        schema); returns how their names map to the names they got here. A name already taken
        by an identical schema is shared; a different one gets a suffix."""
        renames: Dict[str, str] = {}
        for name, schema in local.items():
            existing = self.schemas.get(name)
            if existing is None or existing == _with_refs(schema, {}):
                renames[name] = name
            else:
                renames[name] = self._unique(name)
        for name, schema in local.items():
            self.schemas[renames[name]] = _with_refs(schema, renames)
        return renames

    def _unique(self, preferred: str) -> str:
        name, number = preferred, 1
        while name in self.schemas:
            number += 1
            name = f"{preferred}{number}"
        return name


def _ref_name(ref: str) -> Optional[str]:
    for prefix in _REF_PREFIXES:
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return None


def _with_refs(value: Any, renames: Mapping[str, str]) -> Any:
    """A copy of ``value`` whose local ``$ref``s point at ``#/components/schemas/`` under their
    new names."""
    if isinstance(value, dict):
        copied = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                name = _ref_name(item)
                copied[key] = item if name is None else COMPONENTS + renames.get(name, name)
            else:
                copied[key] = _with_refs(item, renames)
        return copied
    if isinstance(value, list):
        return [_with_refs(item, renames) for item in value]
    return value


def hoist(schema: Mapping[str, Any], definitions: Definitions) -> Schema:
    """``schema`` with its own ``$defs``/``definitions`` moved into ``definitions`` (and its
    refs rewritten to match)."""
    body = dict(schema)
    local: Dict[str, Any] = {}
    for key in _LOCAL_DEFINITIONS:
        found = body.pop(key, None)
        if isinstance(found, Mapping):
            local.update(found)
    renames = definitions.merge(local)
    result: Schema = _with_refs(body, renames)
    return result


def _referenced(name: str, value: Any) -> bool:
    if isinstance(value, dict):
        if value.get("$ref") == COMPONENTS + name:
            return True
        return any(_referenced(name, item) for item in value.values())
    if isinstance(value, list):
        return any(_referenced(name, item) for item in value)
    return False


# --- annotations -----------------------------------------------------------------------------

_SIMPLE: Dict[Any, Schema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    None: {"type": "null"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    uuid.UUID: {"type": "string", "format": "uuid"},
}

_ANNOTATED = {typing_extensions.Annotated, getattr(typing, "Annotated", None)} - {None}
_REQUIRED = {typing_extensions.Required, getattr(typing, "Required", None)} - {None}
_NOT_REQUIRED = {typing_extensions.NotRequired, getattr(typing, "NotRequired", None)} - {None}
_LITERAL = {typing_extensions.Literal, typing.Literal}
_UNIONS: set[Any] = {typing.Union}
if sys.version_info >= (3, 10):
    import types

    _UNIONS.add(types.UnionType)
_MAPPINGS = {dict, collections.abc.Mapping, collections.abc.MutableMapping}
_ARRAYS = {
    list,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Iterable,
}
_SETS = {set, frozenset, collections.abc.Set, collections.abc.MutableSet}
#: What a streaming app's return annotation may be: its items are the results.
_ITERATORS = {
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
    collections.abc.Iterator,
    collections.abc.Generator,
}


def _pydantic_model(hint: Any) -> Optional[type]:
    # Only if pydantic is already imported: this module never imports it (it is no dependency).
    if not isinstance(hint, type):
        return None
    for module_name in ("pydantic", "pydantic.v1"):
        module = sys.modules.get(module_name)
        base = getattr(module, "BaseModel", None) if module is not None else None
        if isinstance(base, type) and issubclass(hint, base) and hint is not base:
            return hint
    return None


def _is_model(hint: Any) -> bool:
    return typing_extensions.is_typeddict(hint) or _pydantic_model(hint) is not None


def _strip(hint: Any) -> Tuple[Any, Optional[bool]]:
    """``hint`` without ``Annotated``/``Required``/``NotRequired``, and which of the last two
    it had (None: neither)."""
    required: Optional[bool] = None
    while True:
        origin = typing_extensions.get_origin(hint)
        if origin in _ANNOTATED:
            hint = typing_extensions.get_args(hint)[0]
        elif origin in _REQUIRED or origin in _NOT_REQUIRED:
            required = origin in _REQUIRED
            hint = typing_extensions.get_args(hint)[0]
        else:
            return hint, required


def _enum_schema(values: List[Any]) -> Schema:
    schema: Schema = {"enum": values}
    kinds = {type(value) for value in values}
    if len(kinds) == 1:
        kind = _SIMPLE.get(kinds.pop())
        if kind is not None and kind["type"] != "null":
            schema = {"type": kind["type"], **schema}
    return schema


class _Converter:
    def __init__(self, definitions: Optional[Definitions], strict: bool) -> None:
        self.definitions = definitions if definitions is not None else Definitions()
        self.strict = strict

    def convert(self, hint: Any) -> Schema:
        hint, _ = _strip(hint)
        if hint is Any or hint is object:
            return {}
        if hint in _SIMPLE:
            return dict(_SIMPLE[hint])
        if typing_extensions.is_typeddict(hint):
            return self._named(hint, self._typed_dict)
        if _pydantic_model(hint) is not None:
            return self._named(hint, self._pydantic)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return {"title": hint.__name__, **_enum_schema([member.value for member in hint])}
        if hint is dict:
            return {"type": "object"}
        if hint in (list, tuple):
            return {"type": "array"}
        origin = typing_extensions.get_origin(hint)
        args = typing_extensions.get_args(hint)
        if origin in _LITERAL:
            return _enum_schema(list(args))
        if origin in _UNIONS:
            options = [self.convert(arg) for arg in args if arg is not type(None)]
            if len(options) < len(args):
                options.append({"type": "null"})
            return options[0] if len(options) == 1 else {"anyOf": options}
        if origin in _MAPPINGS:
            if len(args) == 2:
                return {"type": "object", "additionalProperties": self.convert(args[1])}
            return {"type": "object"}
        if origin in _ARRAYS or origin in _SETS:
            schema: Schema = {"type": "array", "items": self.convert(args[0]) if args else {}}
            if origin in _SETS:
                schema["uniqueItems"] = True
            return schema
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.convert(args[0])}
            items = [self.convert(arg) for arg in args]
            unique = [item for index, item in enumerate(items) if item not in items[:index]]
            return {
                "type": "array",
                "items": unique[0] if len(unique) == 1 else {"anyOf": unique},
                "minItems": len(items),
                "maxItems": len(items),
            }
        if self.strict:
            raise TypeError(f"no JSON schema for {hint!r}")
        return {}  # an annotation the emulator does not know: anything

    def _named(self, cls: type, body: Callable[[type], Schema]) -> Schema:
        name = self.definitions.named(cls)
        if name is None:
            name = self.definitions.reserve(cls, cls.__name__)
            self.definitions.define(name, body(cls))
        return {"$ref": COMPONENTS + name}

    def _typed_dict(self, cls: type) -> Schema:
        hints = typing_extensions.get_type_hints(cls, include_extras=True)
        # __required_keys__ knows totality per base class; explicit Required/NotRequired
        # wrappers win (a typing.TypedDict on Python < 3.11 does not see typing_extensions').
        required_keys = set(getattr(cls, "__required_keys__", ()))
        described = docstrings.entries(cls.__doc__, "Attributes")
        properties: Schema = {}
        required: List[str] = []
        for key, hint in hints.items():
            inner, marked = _strip(hint)
            schema = self.convert(inner)
            text = described.get(key)
            if text and "$ref" not in schema:  # a $ref's siblings are ignored in OpenAPI 3.0
                schema["description"] = docstrings.markdown_code(text)
            properties[key] = schema
            if marked if marked is not None else key in required_keys:
                required.append(key)
        result: Schema = {"type": "object", "title": cls.__name__, "properties": properties}
        if required:
            result["required"] = required
        summary = docstrings.summary(cls.__doc__)
        if summary:
            result["description"] = docstrings.markdown_code(summary)
        # PEP 728 (typing_extensions >= 4.10): a closed TypedDict, or one with typed extras.
        if getattr(cls, "__closed__", None) is True:
            result["additionalProperties"] = False
        extra = getattr(cls, "__extra_items__", None)
        if extra is not None and extra is not getattr(typing_extensions, "NoExtraItems", None):
            result["additionalProperties"] = self.convert(extra)
        return result

    def _pydantic(self, cls: type) -> Schema:
        template = COMPONENTS + "{model}"
        if hasattr(cls, "model_json_schema"):  # pydantic 2
            raw = cls.model_json_schema(ref_template=template)
        else:  # pydantic 1 (or pydantic.v1)
            raw = cls.schema(ref_template=template)  # type: ignore[attr-defined]
        return hoist(json.loads(json.dumps(raw)), self.definitions)


def type_schema(
    hint: Any, definitions: Optional[Definitions] = None, *, strict: bool = False
) -> Schema:
    """The JSON schema of a type annotation.

    Args:
        hint: the annotation (resolved: no strings).
        definitions: where named schemas (``TypedDict``s, pydantic models) go; a throwaway one
            if None.
        strict: raise TypeError for an annotation it has no schema for, instead of answering
            ``{}`` (anything).
    """
    return _Converter(definitions, strict).convert(hint)


# --- apps ------------------------------------------------------------------------------------


def _hinted(fn: Callable[..., Any]) -> Tuple[Iterator[str], Dict[str, Any]]:
    """The positional parameter names of ``fn`` in order (after any ``partial``'s bound
    arguments) and its resolved annotations."""
    signature = inspect.signature(fn)
    names = (
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    )
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = type(target).__call__  # an object with a __call__ method
    return names, typing_extensions.get_type_hints(target, include_extras=True)


def _top_level(hint: Any, definitions: Definitions) -> Schema:
    """The schema of a top-level input or output: the model's own schema, not a reference to
    it (unless it refers to itself)."""
    ref = type_schema(hint, definitions)
    name = _ref_name(ref.get("$ref", ""))
    if name is None:
        return ref
    body = definitions.schemas[name]
    others = [schema for key, schema in definitions.schemas.items() if key != name]
    if _referenced(name, body) or _referenced(name, others):
        return ref
    return definitions.take(name)


def derive_schema(
    fn: Callable[..., Any], *, want: Tuple[str, ...] = ("input", "output")
) -> AppSchema:
    """An app's schemas read from its function's annotations (see the module docstring);
    the parts not in ``want`` are permissive."""
    parts: Dict[str, Schema] = {"input": permissive(), "output": permissive()}
    definitions = Definitions()
    try:
        names, hints = _hinted(fn)
        if "input" in want:
            for name in names:
                hint, _ = _strip(hints.get(name))
                if _is_model(hint):
                    parts["input"] = _top_level(hint, definitions)
                    break
        if "output" in want and "return" in hints:
            hint, _ = _strip(hints["return"])
            if typing_extensions.get_origin(hint) in _ITERATORS:
                args = typing_extensions.get_args(hint)
                hint = _strip(args[0])[0] if args else Any
            if _is_model(hint):
                parts["output"] = _top_level(hint, definitions)
    except (NameError, TypeError, ValueError, AttributeError):
        # Annotations that cannot be resolved (a name defined inside a function, under
        # ``from __future__ import annotations``; a nested TypedDict's too), no signature, or a
        # model pydantic cannot describe: registering the app must not fail for its schema.
        return AppSchema()
    return AppSchema(parts["input"], parts["output"], definitions.schemas)


def app_schema(fn: Callable[..., Any], given: Optional[Mapping[str, Any]] = None) -> AppSchema:
    """The schemas of an app: the parts of ``given`` (``{"input": ..., "output": ...}``, either
    optional), and the rest derived from ``fn``'s annotations.

    Raises:
        TypeError: if ``given`` is not a mapping of JSON schema objects (or not JSON).
        ValueError: if it has a key other than ``input`` and ``output``.
    """
    if given is None:
        return derive_schema(fn)
    if not isinstance(given, Mapping):
        raise TypeError(
            f"schema= must be a dict like {{'input': {{...}}, 'output': {{...}}}}, "
            f"got {type(given).__name__}"
        )
    unknown = sorted(set(given) - {"input", "output"})
    if unknown:
        raise ValueError(f"schema= takes the keys 'input' and 'output', not {unknown}")
    missing = tuple(part for part in ("input", "output") if given.get(part) is None)
    derived = derive_schema(fn, want=missing)
    definitions = Definitions()
    definitions.merge(derived.definitions)
    parts = {"input": derived.input, "output": derived.output}
    for part in ("input", "output"):
        value = given.get(part)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise TypeError(f"schema[{part!r}] must be a JSON schema object (a dict)")
        try:
            copied = json.loads(json.dumps(value))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"schema[{part!r}] is not JSON: {exc}") from None
        parts[part] = hoist(copied, definitions)
    return AppSchema(parts["input"], parts["output"], definitions.schemas)
