"""An endpoint's input and output schemas, found in its OpenAPI document: pure, no I/O."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

__all__ = ["EndpointSchemas", "endpoint_schemas", "validation_schema"]


@dataclass(frozen=True)
class EndpointSchemas:
    """The schemas of one endpoint, as its document has them."""

    input: Mapping[str, Any]
    output: Optional[Mapping[str, Any]]
    components: Mapping[str, Any]


def _json_schema(content: Any) -> Optional[Mapping[str, Any]]:
    if not isinstance(content, Mapping):
        return None
    body = content.get("application/json")
    schema = body.get("schema") if isinstance(body, Mapping) else None
    return schema if isinstance(schema, Mapping) else None


def endpoint_schemas(openapi: Mapping[str, Any], endpoint_id: str) -> EndpointSchemas:
    """Find ``endpoint_id``'s input (the POST body) and output (the result's 200 body).

    Raises ``ValueError`` naming what is missing.
    """
    paths = openapi.get("paths")
    if not isinstance(paths, Mapping):
        raise ValueError(f"the OpenAPI document of {endpoint_id!r} has no paths")
    wanted = "/" + endpoint_id.strip("/")
    posts = {
        str(p).rstrip("/") or "/": ops["post"]
        for p, ops in paths.items()
        if isinstance(ops, Mapping) and isinstance(ops.get("post"), Mapping)
    }
    post = posts.get(wanted)
    if post is None and len(posts) == 1:
        post = next(iter(posts.values()))
    body = post.get("requestBody") if isinstance(post, Mapping) else None
    input_schema = _json_schema(body.get("content")) if isinstance(body, Mapping) else None
    if input_schema is None:
        raise ValueError(f"no JSON request body for POST {wanted} in the document")
    output_schema = None
    result = paths.get(f"{wanted}/requests/{{request_id}}")
    get = result.get("get") if isinstance(result, Mapping) else None
    responses = get.get("responses") if isinstance(get, Mapping) else None
    ok = responses.get("200") if isinstance(responses, Mapping) else None
    if isinstance(ok, Mapping):
        output_schema = _json_schema(ok.get("content"))
    components = openapi.get("components")
    schemas = components.get("schemas") if isinstance(components, Mapping) else None
    return EndpointSchemas(input_schema, output_schema, schemas or {})


def _translate(node: Any) -> Any:
    """OpenAPI 3.0's dialect into JSON Schema: ``nullable``, boolean exclusive bounds."""
    if isinstance(node, list):
        return [_translate(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _translate(v) for k, v in node.items()}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), bool):
            if out.pop(bound) and limit in out:
                out[bound] = out.pop(limit)
    if out.pop("nullable", False) is True:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def validation_schema(input_schema: Mapping[str, Any], openapi: Mapping[str, Any]) -> Any:
    """A self-contained JSON Schema of the input: the document's ``components`` ride along at
    the root, so ``#/components/schemas/...`` references resolve as they are written."""
    schema = _translate(copy.deepcopy(dict(input_schema)))
    components = openapi.get("components")
    if isinstance(components, Mapping):
        schema["components"] = _translate(copy.deepcopy(dict(components)))
    return schema
