"""Finding an endpoint's schemas in its OpenAPI document, and validating against them."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from fal_client._openapi_schemas import (
    EndpointSchemas,
    SchemaNotFoundError,
    find_endpoint_schemas,
    to_json_schema,
    validation_schema,
)
from tests.unit.openapi_documents import app_document, awkward, flux_dev

FLUX = "fal-ai/flux/dev"


def _rename_path(document: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    document["paths"] = {(new if p == old else p): item for p, item in document["paths"].items()}
    return document


def _validator(schemas: EndpointSchemas) -> jsonschema.protocols.Validator:
    schema = validation_schema(schemas.input, schemas.components)
    # The schema names its own dialect: a validator picked from it must be 2020-12's.
    cls = jsonschema.validators.validator_for(schema)
    assert cls is jsonschema.Draft202012Validator
    cls.check_schema(schema)
    return cls(schema)


# --- locating -------------------------------------------------------------------------------


def test_finds_the_input_the_output_and_only_the_components_they_reach() -> None:
    found = find_endpoint_schemas(flux_dev(), FLUX)

    assert found.endpoint_id == FLUX
    assert found.input == {"$ref": "#/components/schemas/FluxDevInput"}
    assert found.output == {"$ref": "#/components/schemas/FluxDevOutput"}
    assert found.input_path == "/fal-ai/flux/dev"
    assert found.output_path == "/fal-ai/flux/dev/requests/{request_id}"
    # The queue's own QueueStatus (the POST's answer, the status path) and an unused model are
    # not this endpoint's schemas.
    assert list(found.components) == [
        "FluxDevInput",
        "ImageSize",
        "LoraWeight",
        "FluxDevOutput",
        "Image",
    ]


def test_the_returned_schemas_are_copies() -> None:
    document = flux_dev()
    found = find_endpoint_schemas(document, FLUX)
    found.components["Image"]["properties"].clear()
    assert document["components"]["schemas"]["Image"]["properties"]


@pytest.mark.parametrize(
    ("document_path", "endpoint_id"),
    [
        ("/fal-ai/flux/dev", "fal-ai/flux/dev"),
        ("fal-ai/flux/dev", "fal-ai/flux/dev"),  # no leading slash
        ("/fal-ai/flux/dev/", "fal-ai/flux/dev"),
        ("/fal-ai/flux/dev", "/fal-ai/flux/dev"),
        ("/fal-ai/flux/dev", "fal-ai/flux"),  # the id without the sub-path the document has
        ("/something/else", "fal-ai/flux/dev"),  # the document's only POST
    ],
)
def test_the_input_path_may_be_spelt_several_ways(document_path: str, endpoint_id: str) -> None:
    document = _rename_path(flux_dev(), "/fal-ai/flux/dev", document_path)
    found = find_endpoint_schemas(document, endpoint_id)
    assert found.input_path == document_path
    assert found.input == {"$ref": "#/components/schemas/FluxDevInput"}


def test_the_exact_path_wins_over_others() -> None:
    document = flux_dev()
    document["paths"]["/fal-ai/flux/dev/other"] = {
        "post": {
            "requestBody": {
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Image"}}}
            }
        }
    }
    assert find_endpoint_schemas(document, FLUX).input_path == "/fal-ai/flux/dev"
    assert find_endpoint_schemas(document, "fal-ai/flux/dev/other").input == {
        "$ref": "#/components/schemas/Image"
    }


@pytest.mark.parametrize(
    ("endpoint_id", "path", "field"),
    [("fal-ai/flux", "/", "url"), ("fal-ai/flux/image-to-image", "/image-to-image", "mask_url")],
)
def test_an_apps_own_document_is_read_relative_to_the_app(
    endpoint_id: str, path: str, field: str
) -> None:
    # Paths without owner and app name; the POST answers with the output (no queue paths).
    found = find_endpoint_schemas(app_document(), endpoint_id)
    assert found.input_path == path
    assert found.output_path == path
    assert found.output is not None
    assert list(found.components[found.output["$ref"].rsplit("/", 1)[1]]["properties"]) == [field]


def test_the_output_may_sit_below_the_apps_root() -> None:
    # fal's queue reads results by the app id without its sub-path.
    document = _rename_path(
        flux_dev(),
        "/fal-ai/flux/dev/requests/{request_id}",
        "/fal-ai/flux/requests/{request_id}",
    )
    found = find_endpoint_schemas(document, FLUX)
    assert found.output_path == "/fal-ai/flux/requests/{request_id}"
    assert found.output == {"$ref": "#/components/schemas/FluxDevOutput"}


def test_a_document_without_an_output_gives_none() -> None:
    document = flux_dev()
    del document["paths"]["/fal-ai/flux/dev/requests/{request_id}"]
    del document["paths"]["/fal-ai/flux/dev"]["post"]["responses"]
    found = find_endpoint_schemas(document, FLUX)
    assert (found.output, found.output_path) == (None, None)
    assert "FluxDevOutput" not in found.components


def test_references_through_request_bodies_and_escaped_names_resolve() -> None:
    document = flux_dev()
    schemas = document["components"]["schemas"]
    schemas["a/b"] = {"type": "object", "properties": {"x": {"$ref": "#/components/schemas/C%20D"}}}
    schemas["C D"] = {"type": "string"}
    document["components"]["requestBodies"] = {
        "Body": {
            "content": {
                "application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/a~1b"}}
            }
        }
    }
    document["paths"]["/fal-ai/flux/dev"]["post"]["requestBody"] = {
        "$ref": "#/components/requestBodies/Body"
    }
    found = find_endpoint_schemas(document, FLUX)
    assert found.input == {"$ref": "#/components/schemas/a~1b"}
    assert list(found.components)[:2] == ["a/b", "C D"]
    _validator(found).validate({"x": "y"})


def _multipart(document: dict[str, Any]) -> dict[str, Any]:
    body = document["paths"]["/fal-ai/flux/dev"]["post"]["requestBody"]
    body["content"] = {"multipart/form-data": body["content"]["application/json"]}
    return document


def _ambiguous(document: dict[str, Any]) -> dict[str, Any]:
    post = document["paths"].pop("/fal-ai/flux/dev")
    document["paths"]["/a/one"] = post
    document["paths"]["/a/two"] = post
    return document


def _dangling(document: dict[str, Any]) -> dict[str, Any]:
    del document["components"]["schemas"]["LoraWeight"]
    return document


def _external(document: dict[str, Any]) -> dict[str, Any]:
    document["components"]["schemas"]["Image"] = {"$ref": "other.json#/Image"}
    return document


@pytest.mark.parametrize(
    ("break_it", "missing"),
    [
        (lambda d: {**d, "paths": {}}, "has no paths"),
        (lambda d: {k: v for k, v in d.items() if k != "paths"}, "has no paths"),
        (_multipart, "POST /fal-ai/flux/dev has no application/json request body"),
        (
            _ambiguous,
            "no POST /fal-ai/flux/dev, and several others to choose from (/a/one, /a/two)",
        ),
        (
            lambda d: _rename_path(_multipart(d), "/fal-ai/flux/dev", "/x"),
            "no POST operation with an application/json request body",
        ),
        (
            _dangling,
            "the schema 'FluxDevInput' refers to '#/components/schemas/LoraWeight', "
            "which the document's components do not define",
        ),
        (_external, "refers to 'other.json#/Image'; only #/components/schemas/... is followed"),
        (lambda d: [d], "the OpenAPI document is not a JSON object"),
    ],
    ids=[
        "empty-paths",
        "no-paths",
        "multipart",
        "ambiguous",
        "no-json",
        "dangling",
        "external",
        "list",
    ],
)
def test_a_document_without_an_input_schema_is_refused_naming_what_is_missing(
    break_it: Any, missing: str
) -> None:
    with pytest.raises(SchemaNotFoundError) as caught:
        find_endpoint_schemas(break_it(flux_dev()), FLUX)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.endpoint_id == FLUX
    assert str(error).startswith(f"cannot read the schemas of {FLUX!r}: ")
    assert missing in error.missing


# --- validation and nullable ----------------------------------------------------------------


def test_validation_schema_accepts_valid_input_and_rejects_invalid() -> None:
    validator = _validator(find_endpoint_schemas(flux_dev(), FLUX))
    valid = [
        {"prompt": "a cat"},
        {"prompt": "a cat", "seed": None, "acceleration": None},  # nullable
        {"prompt": "a cat", "seed": 7, "acceleration": "high", "num_images": 4},
        {"prompt": "a cat", "image_size": {"width": 1, "height": 14142}},
        {"prompt": "a cat", "image_size": "square_hd", "loras": [{"path": "x", "scale": 0.5}]},
    ]
    invalid = [
        {},  # prompt is required
        {"prompt": "a cat", "seed": "7"},
        {"prompt": "a cat", "num_images": 5},
        {"prompt": "a cat", "image_size": "huge"},
        # 3.0's boolean exclusiveMinimum: a width of 0 is out of range.
        {"prompt": "a cat", "image_size": {"width": 0}},
        {"prompt": "a cat", "loras": [{"scale": 1}]},
        {"prompt": "a cat", "output_format": None},  # not nullable
    ]
    assert [validator.is_valid(v) for v in valid] == [True] * len(valid)
    assert [validator.is_valid(v) for v in invalid] == [False] * len(invalid)


def test_without_the_translation_a_validator_would_reject_null() -> None:
    # The check above must be able to fail: the document's own schemas refuse a null seed.
    found = find_endpoint_schemas(flux_dev(), FLUX)
    raw = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **found.input,
        "components": {"schemas": found.components},
    }
    assert not jsonschema.Draft202012Validator(raw).is_valid({"prompt": "a", "seed": None})


def test_nullable_references_enums_and_31_nulls_accept_null() -> None:
    validator = _validator(find_endpoint_schemas(awkward(), "acme/awkward"))
    base = {"from": "a", "image-url": "u", "tree": {"name": "root"}, "version": 2}
    assert validator.is_valid({**base, "style": None})  # allOf [$ref] + nullable
    assert validator.is_valid({**base, "style": {"color": None}})  # enum listing null
    assert validator.is_valid({**base, "strength": None, "crop": None})  # 3.1's type: null
    assert validator.is_valid({**base, "tree": {"name": "r", "children": [{"name": "c"}]}})
    assert not validator.is_valid({**base, "style": {"color": "blue"}})
    assert not validator.is_valid({**base, "strength": 0})  # 3.1's numeric exclusiveMinimum
    assert not validator.is_valid({**base, "version": 3})
    assert not validator.is_valid({**base, "tree": {"children": []}})


@pytest.mark.parametrize(
    ("openapi", "json_schema"),
    [
        ({"type": "integer", "nullable": True}, {"type": ["integer", "null"]}),
        ({"type": "integer", "nullable": False}, {"type": "integer"}),
        (
            {"type": "string", "enum": ["a", "b"], "nullable": True},
            {"type": ["string", "null"], "enum": ["a", "b", None]},
        ),
        (
            {"$ref": "#/components/schemas/X", "nullable": True},
            {"anyOf": [{"$ref": "#/components/schemas/X"}, {"type": "null"}]},
        ),
        (
            {"allOf": [{"$ref": "#/c"}], "description": "d", "nullable": True},
            {"anyOf": [{"allOf": [{"$ref": "#/c"}], "description": "d"}, {"type": "null"}]},
        ),
        ({"description": "anything", "nullable": True}, {"description": "anything"}),
        ({"type": ["string", "null"], "nullable": True}, {"type": ["string", "null"]}),
        (
            {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1},
            {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        ),
        (
            {"type": "number", "maximum": 1, "exclusiveMaximum": False},
            {"type": "number", "maximum": 1},
        ),
        (
            {
                "type": "object",
                "properties": {
                    "a": {"type": "array", "items": {"type": "string", "nullable": True}}
                },
                "additionalProperties": {"anyOf": [{"type": "integer", "nullable": True}]},
            },
            {
                "type": "object",
                "properties": {"a": {"type": "array", "items": {"type": ["string", "null"]}}},
                "additionalProperties": {"anyOf": [{"type": ["integer", "null"]}]},
            },
        ),
        # Data is not schema: a default or an enum value holding "nullable" stays as it is,
        # and so does a property that happens to be called "nullable".
        (
            {
                "type": "object",
                "default": {"nullable": True},
                "properties": {"nullable": {"type": "boolean"}},
            },
            {
                "type": "object",
                "default": {"nullable": True},
                "properties": {"nullable": {"type": "boolean"}},
            },
        ),
        # OpenAPI 3.1 (already JSON Schema) passes through.
        (
            {"anyOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "null"}]},
            {"anyOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "null"}]},
        ),
    ],
)
def test_to_json_schema_translates_openapi_30(openapi: Any, json_schema: Any) -> None:
    before = repr(openapi)
    assert to_json_schema(openapi) == json_schema
    assert repr(openapi) == before  # a new object; the input is untouched
