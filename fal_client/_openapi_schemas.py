"""An endpoint's input and output schemas, read out of fal's OpenAPI document: pure, no I/O.

fal's platform API describes each endpoint with an OpenAPI 3.0 document. The input is the JSON
request body of ``POST /{endpoint_id}`` (usually a ``$ref`` to ``#/components/schemas/XInput``),
the output the 200 JSON answer of ``GET /{endpoint_id}/requests/{request_id}``, and the schemas
live in ``components.schemas``, referring to each other with ``$ref``. This module finds them
(`find_endpoint_schemas`), keeps the components they reach, and turns them into a JSON Schema a
standard validator resolves on its own (`validation_schema`, translating OpenAPI 3.0's
``nullable``). The HTTP side fetches the document; `fal_client._typegen` and
`fal_client._schema_example` read what this module returns.

Only local references (``#/components/schemas/...``) are followed: a document that points
elsewhere, or at a component it does not define, is refused with `SchemaNotFoundError` here,
rather than by a validator's traceback later.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import unquote

from ._endpoints import parse_app_id

#: The draft whose ``$ref`` semantics `validation_schema` relies on: from 2019-09 on, keywords
#: beside a ``$ref`` apply too, which is how OpenAPI documents use ``$ref`` + ``nullable``.
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_COMPONENT_PREFIX = "#/components/schemas/"

# Where a schema keeps its subschemas. A schema-aware walk, not a walk of every dict, so that
# data (a `default`, an `example`, an `enum` value) that happens to hold "$ref" or "nullable" is
# left alone.
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA_ONE = (
    "items",
    "additionalItems",
    "additionalProperties",
    "unevaluatedItems",
    "unevaluatedProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
)
# Keywords that constrain a value beyond its type: a nullable schema holding one of them cannot
# just add "null" to its `type` (the keyword would still reject null), so it is wrapped instead.
_APPLICATORS = ("$ref", "allOf", "anyOf", "oneOf", "not", "const", "if")


class SchemaNotFoundError(ValueError):
    """The OpenAPI document lacks what an endpoint's schemas need.

    Raised when there is no input schema for the endpoint, or when a schema refers to a
    component the document does not define (or to another document). ``endpoint_id`` names the
    endpoint and ``missing`` says what was not there.
    """

    def __init__(self, endpoint_id: str, missing: str) -> None:
        """``missing`` says what the document lacks, as the end of a sentence."""
        self.endpoint_id = endpoint_id
        self.missing = missing
        super().__init__(f"cannot read the schemas of {endpoint_id!r}: {missing}")


@dataclass(frozen=True)
class EndpointSchemas:
    """One endpoint's schemas, as found in its OpenAPI document.

    ``input`` and ``output`` are the schemas exactly as the document has them (usually one
    ``$ref`` each); ``output`` is ``None`` when the document has none. ``components`` holds
    every ``components.schemas`` entry they reach, directly or through each other, by name, so
    ``#/components/schemas/<name>`` resolves in it. ``input_path`` and ``output_path`` are the
    document paths they were read from.
    """

    endpoint_id: str
    input: dict[str, Any]
    output: Optional[dict[str, Any]]
    components: dict[str, Any]
    input_path: str
    output_path: Optional[str] = None


def component_name(ref: str) -> Optional[str]:
    """The component a local ``$ref`` points into (``#/components/schemas/Image`` -> ``Image``).

    ``None`` for any other reference. The name is unescaped as a JSON pointer token (``~1`` is
    ``/``, ``~0`` is ``~``) after URI percent-decoding, as RFC 6901 reads a fragment.
    """
    tokens = _pointer_tokens(ref)
    if tokens is None or len(tokens) < 3 or tokens[:2] != ["components", "schemas"]:
        return None
    return tokens[2]


def resolve_ref(ref: str, components: Mapping[str, Any]) -> Optional[Any]:
    """What a local ``$ref`` points at in ``components`` (``components.schemas``), or ``None``.

    Pointers into a component (``#/components/schemas/A/properties/b``) are followed too.
    """
    tokens = _pointer_tokens(ref)
    if tokens is None or len(tokens) < 3 or tokens[:2] != ["components", "schemas"]:
        return None
    node: Any = components
    for token in tokens[2:]:
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def subschemas(schema: Any) -> Iterator[Any]:
    """The schemas directly inside ``schema`` (properties, items, anyOf members and so on)."""
    if not isinstance(schema, Mapping):
        return
    for key in _SUBSCHEMA_MAPS:
        value = schema.get(key)
        if isinstance(value, Mapping):
            yield from value.values()
    for key in _SUBSCHEMA_LISTS:
        value = schema.get(key)
        if isinstance(value, list):
            yield from value
    for key in _SUBSCHEMA_ONE:
        value = schema.get(key)
        if isinstance(value, list):  # `items` as a list: the pre-2020 tuple form
            yield from value
        elif value is not None:
            yield value


def refs_in(schema: Any) -> list[str]:
    """Every ``$ref`` in ``schema`` and its subschemas (not in data), in document order."""
    refs = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            refs.append(node["$ref"])
        stack.extend(reversed(list(subschemas(node))))
    return refs


def find_endpoint_schemas(document: Mapping[str, Any], endpoint_id: str) -> EndpointSchemas:
    """Find ``endpoint_id``'s input and output schemas in its OpenAPI ``document``.

    The input is the JSON request body of a POST operation, chosen by the first rule that
    matches (see `_find_input_operation`): the path equal to the endpoint id, then the path of
    the id's sub-path alone, then the one POST below the id, then the document's only POST with
    a JSON body. The output is the 200 JSON answer of the matching
    ``GET .../requests/{request_id}`` or, failing that, the input operation's own 200 answer.

    Raises:
        SchemaNotFoundError: no input schema can be found, or a schema refers to a component the
            document does not define.
    """
    if not isinstance(document, Mapping):
        raise SchemaNotFoundError(endpoint_id, "the OpenAPI document is not a JSON object")
    all_components = _all_component_schemas(document)
    input_path, input_operation = _find_input_operation(document, endpoint_id)
    input_schema = _json_body_schema(document, input_operation.get("requestBody"))
    if input_schema is None:
        raise SchemaNotFoundError(
            endpoint_id, f"POST {input_path} has no application/json request body schema"
        )
    output_path, output_schema = _find_output_schema(
        document, endpoint_id, input_path, input_operation
    )
    roots = [("the input schema", input_schema)]
    if output_schema is not None:
        roots.append(("the output schema", output_schema))
    components = _reachable_components(endpoint_id, roots, all_components)
    return EndpointSchemas(
        endpoint_id=endpoint_id,
        input=copy.deepcopy(input_schema),
        output=copy.deepcopy(output_schema),
        components=copy.deepcopy(components),
        input_path=input_path,
        output_path=output_path,
    )


def validation_schema(schema: Mapping[str, Any], components: Mapping[str, Any]) -> dict[str, Any]:
    """A self-contained JSON Schema (draft 2020-12) for ``schema``, for a standard validator.

    ``components`` (name -> schema, as `EndpointSchemas.components`) is embedded at the root
    under ``components.schemas``, exactly where the OpenAPI document had it, so every
    ``#/components/schemas/...`` pointer resolves against the schema itself: ``jsonschema``
    (with ``referencing``) needs no registry. Every schema is first translated from OpenAPI 3.0
    (`to_json_schema`).
    """
    root = to_json_schema(dict(schema))
    assert isinstance(root, dict)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        **root,
        "components": {"schemas": {name: to_json_schema(s) for name, s in components.items()}},
    }


def to_json_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 schema translated to JSON Schema 2020-12, recursively; a new object.

    - ``nullable: true`` also accepts ``null``. A schema whose ``type`` alone decides gets
      ``"null"`` added to ``type`` (``{"type": "integer", "nullable": true}`` becomes
      ``{"type": ["integer", "null"]}``), and to ``enum`` when it has one (an enum rejects
      values it does not list, whatever the type says). A schema with a ``$ref``, ``allOf``,
      ``anyOf``, ``oneOf``, ``not``, ``const`` or ``if`` is wrapped instead, as
      ``{"anyOf": [<schema>, {"type": "null"}]}``, because those keywords would still reject
      ``null``. ``nullable`` on a ``$ref`` is outside OpenAPI 3.0 (a ``$ref``'s siblings are
      ignored there), but pydantic-era generators write it and mean "or null", so it is honoured.
      ``nullable: false`` is dropped.
    - 3.0's boolean ``exclusiveMinimum``/``exclusiveMaximum`` become the numeric form.

    Anything already in JSON Schema form (an OpenAPI 3.1 document) passes through unchanged.
    """
    if not isinstance(schema, Mapping):
        return copy.deepcopy(schema)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SUBSCHEMA_MAPS and isinstance(value, Mapping):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [to_json_schema(sub) for sub in value]
        elif key in _SUBSCHEMA_ONE:
            if isinstance(value, list):
                out[key] = [to_json_schema(sub) for sub in value]
            else:
                out[key] = to_json_schema(value)
        else:
            out[key] = copy.deepcopy(value)
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        flag = out.get(exclusive)
        if isinstance(flag, bool):
            del out[exclusive]
            if flag and bound in out:
                out[exclusive] = out.pop(bound)
    if out.pop("nullable", False) is not True:
        return out
    if any(key in out for key in _APPLICATORS):
        return {"anyOf": [out, {"type": "null"}]}
    if "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = types if "null" in types else [*types, "null"]
    if isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


# --- locating the operations ----------------------------------------------------------------


def _find_input_operation(
    document: Mapping[str, Any], endpoint_id: str
) -> tuple[str, Mapping[str, Any]]:
    """``(path, POST operation)`` of the endpoint's input, by the first rule that matches."""
    paths = document.get("paths")
    if not isinstance(paths, Mapping) or not paths:
        raise SchemaNotFoundError(endpoint_id, "the OpenAPI document has no paths")
    posts = {
        path: item["post"]
        for path, item in paths.items()
        if isinstance(path, str)
        and isinstance(item, Mapping)
        and isinstance(item.get("post"), Mapping)
    }
    wanted = endpoint_id.strip().strip("/")
    # 1. The path is the endpoint id. fal's documents write it with a leading slash, but not
    # every copy does (and some end in one), so slashes at either end do not count.
    for path, operation in posts.items():
        if path.strip("/") == wanted:
            return path, operation
    with_body = {
        path: op
        for path, op in posts.items()
        if _json_body_schema(document, op.get("requestBody")) is not None
    }
    # 2. An app's own document is relative to the app: its root is "/" and a sub-path is
    # "/<sub-path>", without the owner and app name (fal-ai/flux/dev is "/dev" there).
    try:
        app = parse_app_id(wanted)
    except ValueError:
        app = None
    if app is not None:
        for path, operation in with_body.items():
            if path.strip("/") == (app.path or ""):
                return path, operation
    # 3. The id names the app and the document only has its sub-paths: the one POST below it
    # (fal-ai/flux asked, /fal-ai/flux/dev documented).
    below = [path for path in with_body if path.strip("/").startswith(wanted + "/")]
    if len(below) == 1:
        return below[0], with_body[below[0]]
    # 4. A document for one endpoint whose path is spelt some other way: its only POST.
    if len(with_body) == 1:
        ((path, operation),) = with_body.items()
        return path, operation
    if not with_body:
        missing = "no POST operation with an application/json request body"
    else:
        listed = ", ".join(sorted(below or with_body))
        missing = f"no POST /{wanted}, and several others to choose from ({listed})"
    raise SchemaNotFoundError(endpoint_id, f"the OpenAPI document has {missing}")


def _find_output_schema(
    document: Mapping[str, Any],
    endpoint_id: str,
    input_path: str,
    input_operation: Mapping[str, Any],
) -> tuple[Optional[str], Optional[dict[str, Any]]]:
    """``(path, schema)`` of the endpoint's output, or ``(None, None)`` without one."""
    paths = document.get("paths")
    assert isinstance(paths, Mapping)
    results: dict[str, tuple[str, dict[str, Any]]] = {}  # prefix -> (path, schema)
    for path, item in paths.items():
        if not isinstance(path, str) or not isinstance(item, Mapping):
            continue
        prefix, separator, last = path.rstrip("/").rpartition("/requests/")
        if not separator or not (last.startswith("{") and last.endswith("}")):
            continue
        operation = item.get("get")
        if not isinstance(operation, Mapping):
            continue
        schema = _ok_response_schema(document, operation)
        if schema is not None:
            results[prefix.strip("/")] = (path, schema)
    # The result of a request sits below the endpoint's own path, or below the app's root:
    # fal's queue reads results by the app id without its sub-path.
    candidates = [input_path.strip("/"), endpoint_id.strip().strip("/")]
    try:
        candidates.append(parse_app_id(endpoint_id).root)
    except ValueError:
        pass
    for prefix in candidates:
        if prefix in results:
            return results[prefix]
    if len(results) == 1:
        ((path, schema),) = results.values()
        return path, schema
    # An app's own document has no queue paths: the POST answers with the output itself.
    schema = _ok_response_schema(document, input_operation)
    return (input_path, schema) if schema is not None else (None, None)


def _ok_response_schema(
    document: Mapping[str, Any], operation: Mapping[str, Any]
) -> Optional[dict[str, Any]]:
    """The JSON schema of an operation's 200 answer, if it has one."""
    responses = operation.get("responses")
    if not isinstance(responses, Mapping):
        return None
    # YAML documents read back with integer status keys.
    response = responses.get("200", responses.get(200))
    return _json_body_schema(document, response)


def _json_body_schema(document: Mapping[str, Any], body: Any) -> Optional[dict[str, Any]]:
    """The ``application/json`` schema of a request body or response object, if any."""
    body = _deref_document(document, body)
    if not isinstance(body, Mapping):
        return None
    content = body.get("content")
    if not isinstance(content, Mapping):
        return None
    for media_type, entry in content.items():
        # "application/json; charset=utf-8" is JSON too.
        if isinstance(media_type, str) and media_type.split(";")[0].strip() == "application/json":
            schema = entry.get("schema") if isinstance(entry, Mapping) else None
            if isinstance(schema, dict):
                return schema
    return None


def _deref_document(document: Mapping[str, Any], node: Any) -> Any:
    """``node``, or what its local ``$ref`` points at in the document (requestBodies, responses).

    Followed a few times at most: a reference to a reference is legal, a circle is not.
    """
    for _ in range(8):
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
            return node
        tokens = _pointer_tokens(node["$ref"])
        if tokens is None:
            return None
        target: Any = document
        for token in tokens:
            target = target.get(token) if isinstance(target, Mapping) else None
        node = target
    return None


# --- components -----------------------------------------------------------------------------


def _all_component_schemas(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The document's ``components.schemas`` (empty when it has none)."""
    components = document.get("components")
    schemas = components.get("schemas") if isinstance(components, Mapping) else None
    return schemas if isinstance(schemas, Mapping) else {}


def _reachable_components(
    endpoint_id: str, roots: list[tuple[str, Any]], all_components: Mapping[str, Any]
) -> dict[str, Any]:
    """Every component the roots reach, in the order first reached (so output is stable)."""
    found: dict[str, Any] = {}
    pending = list(reversed(roots))
    while pending:
        where, schema = pending.pop()
        for ref in refs_in(schema):
            name = component_name(ref)
            if name is None:
                raise SchemaNotFoundError(
                    endpoint_id,
                    f"{where} refers to {ref!r}; only #/components/schemas/... is followed",
                )
            if name in found:
                continue
            if name not in all_components or resolve_ref(ref, all_components) is None:
                raise SchemaNotFoundError(
                    endpoint_id,
                    f"{where} refers to {ref!r}, which the document's components do not define",
                )
            found[name] = all_components[name]
            pending.append((f"the schema {name!r}", all_components[name]))
    return found


def _pointer_tokens(ref: str) -> Optional[list[str]]:
    """A local reference's JSON pointer tokens (``#/a/b`` -> ``["a", "b"]``), else ``None``."""
    if not ref.startswith("#/"):
        return None
    return [unquote(token).replace("~1", "/").replace("~0", "~") for token in ref[2:].split("/")]
