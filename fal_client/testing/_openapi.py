"""The control API's description: endpoints as data, turned into an OpenAPI 3.1 document and
into the HTML reference page served at ``/__emulator/docs``. No I/O.

Record schemas are generated from the record dataclasses (``_records.py``): field names and
types from their annotations, descriptions from their docstrings' ``Attributes:`` sections, so
the document cannot drift from what the endpoints serve (a test validates live responses
against it).
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import typing
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import _docstrings as docstrings
from ._app_schema import type_schema
from ._listing import PAGING_DOCS, Listing

JSON = "application/json"

Schema = Dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """One operation of the control API.

    Attributes:
        method: the HTTP method.
        path: the path template, e.g. ``/__emulator/jobs/{request_id}``.
        operation_id: a unique name (OpenAPI ``operationId``).
        tag: the group it is listed under.
        summary: one line.
        description: more, in Markdown.
        response: the JSON schema of a 200 answer (or a ``$ref`` to a component).
        media_type: the 200 answer's media type.
        listing: for lists, the filters it accepts (``limit``/``cursor``/``order`` too).
        path_params: descriptions of the path template's parameters.
        request_body: the JSON schema of the request body, if it takes one.
        errors: other statuses it may answer, with what they mean.
        example: a curl command line (``{url}`` is the emulator's root URL).
    """

    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    description: str = ""
    response: Schema = dataclasses.field(default_factory=dict)
    media_type: str = JSON
    listing: Optional[Listing] = None
    path_params: Mapping[str, str] = dataclasses.field(default_factory=dict)
    request_body: Optional[Schema] = None
    errors: Mapping[int, str] = dataclasses.field(default_factory=dict)
    example: str = ""

    @property
    def segments(self) -> Tuple[str, ...]:
        """The path's segments below ``/__emulator/`` (``{name}`` for parameters)."""
        return tuple(part for part in self.path.split("/")[2:] if part)

    def match(self, segments: Sequence[str]) -> Optional[Dict[str, str]]:
        """The path parameters if ``segments`` fit the template, else None."""
        if len(segments) != len(self.segments):
            return None
        params: Dict[str, str] = {}
        for template, actual in zip(self.segments, segments):
            if template.startswith("{") and template.endswith("}"):
                params[template[1:-1]] = actual
            elif template != actual:
                return None
        return params

    @property
    def query_parameters(self) -> Tuple[str, ...]:
        """The query parameters it accepts (none but a list's)."""
        return self.listing.parameters if self.listing is not None else ()


# --- schemas from the record dataclasses -----------------------------------------------------


def record_schema(cls: type) -> Schema:
    """The JSON schema of a record dataclass's ``as_dict()``."""
    hints = typing.get_type_hints(cls)
    described = docstrings.entries(cls.__doc__, "Attributes")
    properties: Schema = {}
    for item in dataclasses.fields(cls):
        if item.name.startswith("_"):
            continue
        schema = type_schema(hints[item.name], strict=True)
        text = described.get(item.name)
        if text:
            schema["description"] = docstrings.markdown_code(text)
        properties[item.name] = schema
    return {
        "type": "object",
        "description": docstrings.markdown_code(docstrings.summary(cls.__doc__)),
        "properties": properties,
        "required": list(properties),
    }


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(name: str) -> Schema:
    """An array of a component schema."""
    return {"type": "array", "items": ref(name)}


# --- the document ----------------------------------------------------------------------------


_LIST_HEADERS: Schema = {
    "X-Total-Count": {
        "description": "How many items match the filters (on every page).",
        "schema": {"type": "integer"},
    },
    "X-Next-Cursor": {
        "description": "The `cursor` of the next page; absent on the last page.",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'The next page\'s URL as `<...>; rel="next"`; absent on the last page.',
        "schema": {"type": "string"},
    },
}

_ERROR: Schema = {
    "type": "object",
    "description": "An error answer.",
    "properties": {
        "detail": {"type": "string", "description": "What went wrong."},
        "parameter": {
            "type": "string",
            "description": "For a 400 about a query parameter: its name.",
        },
    },
    "required": ["detail"],
}


def build_document(
    endpoints: Sequence[Endpoint],
    schemas: Mapping[str, Schema],
    *,
    title: str,
    version: str,
    description: str,
    server_url: str,
    tags: Sequence[Tuple[str, str]],
) -> Schema:
    """The OpenAPI 3.1 document of ``endpoints``."""
    paths: Schema = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    components = {"Error": _ERROR, **schemas}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": server_url, "description": "this emulator"}],
        "tags": [{"name": name, "description": text} for name, text in tags],
        "paths": paths,
        "components": {"schemas": components},
    }


def _operation(endpoint: Endpoint) -> Schema:
    parameters: List[Schema] = []
    for name, text in endpoint.path_params.items():
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": text,
                "schema": {"type": "string"},
            }
        )
    if endpoint.listing is not None:
        for flt in endpoint.listing.filters:
            parameters.append(
                {
                    "name": flt.name,
                    "in": "query",
                    "required": False,
                    "description": flt.description,
                    "schema": dict(flt.schema),
                }
            )
        for name, (text, schema) in PAGING_DOCS.items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": text,
                    "schema": dict(schema),
                }
            )
    ok: Schema = {
        "description": endpoint.summary,
        "content": {endpoint.media_type: {"schema": endpoint.response}},
    }
    if endpoint.listing is not None:
        ok["headers"] = _LIST_HEADERS
    responses: Schema = {"200": ok}
    errors = dict(endpoint.errors)
    errors.setdefault(400, "A query parameter it does not accept, or a value it cannot use.")
    for status, text in sorted(errors.items()):
        responses[str(status)] = {
            "description": text,
            "content": {JSON: {"schema": ref("Error")}},
        }
    operation: Schema = {
        "operationId": endpoint.operation_id,
        "tags": [endpoint.tag],
        "summary": endpoint.summary,
        "description": endpoint.description or endpoint.summary,
        "parameters": parameters,
        "responses": responses,
    }
    if endpoint.request_body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": endpoint.request_body}},
        }
    if endpoint.example:
        operation["x-curl-example"] = endpoint.example
    return operation


# --- the HTML reference ----------------------------------------------------------------------


def inline_markdown(text: str) -> str:
    """Escape ``text`` for HTML, rendering Markdown's `code` spans and [links](url)."""
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', escaped)


def _schema_type(schema: Schema) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f'<a href="#schema-{name}">{name}</a>'
    if "anyOf" in schema:
        return " or ".join(_schema_type(option) for option in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_schema_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(f"<code>{html.escape(str(v))}</code>" for v in schema["enum"])
    if isinstance(kind, list):
        return " or ".join(html.escape(str(k)) for k in kind)
    if kind == "object" and "additionalProperties" in schema:
        return f"object of {_schema_type(schema['additionalProperties']) or 'any'}"
    return html.escape(str(kind)) if kind else "any"


def render_reference(document: Schema, *, links: Sequence[Tuple[str, str]]) -> str:
    """The HTML page documenting ``document`` (no script, no external resources)."""
    info = document["info"]
    server = document["servers"][0]["url"]
    by_tag: Dict[str, List[Tuple[str, str, Schema]]] = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            by_tag.setdefault(operation["tags"][0], []).append((method.upper(), path, operation))
    out: List[str] = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(info['title'])}</title>",
        f"<style>{_REFERENCE_CSS}</style>",
        "</head><body>",
        '<nav class="side"><h2>Contents</h2><ul>',
    ]
    for tag in document["tags"]:
        out.append(f'<li><a href="#tag-{_slug(tag["name"])}">{html.escape(tag["name"])}</a><ul>')
        for method, path, operation in by_tag.get(tag["name"], []):
            out.append(
                f'<li><a href="#{operation["operationId"]}"><span class="m m-{method.lower()}">'
                f"{method}</span> {html.escape(path)}</a></li>"
            )
        out.append("</ul></li>")
    out.append('<li><a href="#schemas">Schemas</a></li></ul></nav><main>')
    out.append(f"<h1>{html.escape(info['title'])}</h1>")
    out.append(f'<p class="version">version {html.escape(info["version"])} · {server}</p>')
    out.append('<p class="links">')
    out.append(" · ".join(f'<a href="{href}">{html.escape(text)}</a>' for text, href in links))
    out.append("</p>")
    for paragraph in info["description"].split("\n\n"):
        out.append(f"<p>{inline_markdown(paragraph)}</p>")
    for tag in document["tags"]:
        out.append(f'<h2 id="tag-{_slug(tag["name"])}">{html.escape(tag["name"])}</h2>')
        out.append(f"<p>{inline_markdown(tag['description'])}</p>")
        for method, path, operation in by_tag.get(tag["name"], []):
            out.extend(_render_operation(method, path, operation, server))
    out.append('<h2 id="schemas">Schemas</h2>')
    for name, schema in document["components"]["schemas"].items():
        out.extend(_render_schema(name, schema))
    out.append("</main></body></html>")
    return "\n".join(out)


def _render_operation(method: str, path: str, operation: Schema, server: str) -> List[str]:
    out = [
        f'<section class="op" id="{operation["operationId"]}">',
        f'<h3><span class="m m-{method.lower()}">{method}</span> '
        f"<code>{html.escape(path)}</code></h3>",
    ]
    for paragraph in operation["description"].split("\n\n"):
        out.append(f"<p>{inline_markdown(paragraph)}</p>")
    if operation["parameters"]:
        out.append("<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Meaning</th></tr>")
        for param in operation["parameters"]:
            out.append(
                f"<tr><td><code>{html.escape(param['name'])}</code></td><td>{param['in']}</td>"
                f"<td>{_schema_type(param['schema'])}</td>"
                f"<td>{inline_markdown(param.get('description', ''))}</td></tr>"
            )
        out.append("</table>")
    body = operation.get("requestBody")
    if body is not None:
        schema = body["content"][JSON]["schema"]
        out.append(f"<p><b>Body</b> (JSON): {_schema_type(schema)}</p>")
    out.append("<p><b>Answers</b></p><ul>")
    for status, answer in operation["responses"].items():
        content = answer.get("content", {})
        kinds = ", ".join(
            f"{html.escape(media)}: {_schema_type(value.get('schema', {}))}"
            for media, value in content.items()
        )
        out.append(
            f"<li><code>{status}</code> {inline_markdown(answer['description'])}"
            f"{' — ' + kinds if kinds else ''}</li>"
        )
    out.append("</ul>")
    example = operation.get("x-curl-example")
    if example:
        out.append(f"<pre>{html.escape(example.replace('{url}', server))}</pre>")
    out.append("</section>")
    return out


def _render_schema(name: str, schema: Schema) -> List[str]:
    out = [f'<section class="schema" id="schema-{name}"><h3>{html.escape(name)}</h3>']
    if schema.get("description"):
        out.append(f"<p>{inline_markdown(schema['description'])}</p>")
    properties = schema.get("properties", {})
    if properties:
        out.append("<table><tr><th>Field</th><th>Type</th><th>Meaning</th></tr>")
        for field_name, field_schema in properties.items():
            out.append(
                f"<tr><td><code>{html.escape(field_name)}</code></td>"
                f"<td>{_schema_type(field_schema)}</td>"
                f"<td>{inline_markdown(field_schema.get('description', ''))}</td></tr>"
            )
        out.append("</table>")
    out.append("</section>")
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def pretty_json(value: Any) -> str:
    """Indented JSON text (for examples)."""
    return json.dumps(value, indent=2)


_REFERENCE_CSS = """
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #dde2ea; --accent: #4b3fd6; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); display: flex; }
nav.side { position: sticky; top: 0; height: 100vh; overflow: auto; width: 300px;
  flex: none; padding: 16px; border-right: 1px solid var(--line); background: #f7f8fb;
  font-size: 13px; }
nav.side ul { list-style: none; padding-left: 8px; margin: 4px 0; }
nav.side a { color: var(--fg); text-decoration: none; }
nav.side h2 { font-size: 14px; margin: 0 0 8px; }
main { padding: 24px 40px; max-width: 1000px; }
h1 { margin-top: 0; } h2 { border-bottom: 1px solid var(--line); padding-bottom: 4px; }
a { color: var(--accent); }
code, pre { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: #f3f4f8; padding: 10px 12px; border-radius: 6px; overflow: auto; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f8; }
.op, .schema { margin: 20px 0 28px; }
.m { display: inline-block; min-width: 56px; text-align: center; border-radius: 4px;
  font: 600 12px/20px ui-monospace, monospace; color: #fff; background: #3a7bd5; }
.m-post { background: #1f9d55; } .m-delete { background: #cc3b3b; } .m-put { background: #c77c02; }
.version, .links { color: var(--muted); }
"""
