"""The example argument dict ``fal-client schema`` prints, made from an input schema."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from fal_client._openapi_schemas import find_endpoint_schemas, validation_schema
from fal_client._schema_example import example_input
from tests.unit.openapi_documents import awkward, flux_dev


def _example_of(properties: dict[str, Any], required: list[str], **components: Any) -> Any:
    schema = {"type": "object", "properties": properties, "required": required}
    return example_input(schema, components)


def test_a_text_to_image_example_uses_what_the_schema_offers() -> None:
    found = find_endpoint_schemas(flux_dev(), "fal-ai/flux/dev")
    example = example_input(found.input, found.components)

    # The required prompt from its examples; optional keys only where a default is offered
    # (not seed, num_images or the nullable acceleration, which have none).
    assert example == {
        "prompt": "Extreme close-up of a single tiger eye, direct frontal view",
        "image_size": "landscape_4_3",
        "num_inference_steps": 28,
        "guidance_scale": 3.5,
        "enable_safety_checker": True,
        "output_format": "jpeg",
        "loras": [],
    }
    jsonschema.Draft202012Validator(validation_schema(found.input, found.components)).validate(
        example
    )


def test_a_recursive_schema_ends_and_the_example_validates() -> None:
    found = find_endpoint_schemas(awkward(), "acme/awkward")
    example = example_input(found.input, found.components)

    assert example == {
        "from": "",
        "image-url": "",
        "tree": {"name": ""},  # children and parent are optional and offer nothing
        "mode": "fast",
        "version": 2,
    }
    jsonschema.Draft202012Validator(validation_schema(found.input, found.components)).validate(
        example
    )


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "integer", "minimum": 1, "maximum": 4}, 1),
        ({"type": "integer", "minimum": 0, "exclusiveMinimum": True}, 1),  # OpenAPI 3.0
        ({"type": "integer", "exclusiveMinimum": 0}, 1),  # OpenAPI 3.1
        ({"type": "integer", "minimum": 0.5}, 1),
        ({"type": "integer", "maximum": 10}, 10),
        ({"type": "integer", "exclusiveMaximum": 10}, 9),
        ({"type": "integer"}, 0),
        ({"type": "number", "minimum": 0.25, "maximum": 4}, 0.25),
        ({"type": "number", "exclusiveMinimum": 0, "maximum": 1}, 0.5),
        ({"type": "number", "exclusiveMinimum": 2}, 3),
        ({"type": "number"}, 0),
        ({"type": "string", "enum": ["jpeg", "png"]}, "jpeg"),
        ({"type": "string", "enum": [None, "b"], "nullable": True}, "b"),
        ({"const": "fixed"}, "fixed"),
        (
            {"type": "string", "examples": ["an example"], "example": "x", "default": "d"},
            "an example",
        ),
        ({"type": "string", "example": "x", "default": "d"}, "x"),
        ({"type": "string", "default": "d"}, "d"),
        ({"type": "integer", "nullable": True, "default": None}, None),
        ({"type": "string"}, ""),
        ({"type": "string", "minLength": 3}, "aaa"),
        ({"type": "string", "format": "uri"}, "https://example.com/"),
        ({"type": "boolean"}, False),
        ({"type": ["null", "integer"]}, 0),
        ({"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 3}]}, 3),
        ({"oneOf": [{"type": "string", "enum": ["a"]}, {"type": "integer"}]}, "a"),
        ({"type": "array", "items": {"type": "integer", "minimum": 2}}, [2]),
        ({"type": "array", "items": {"type": "boolean"}, "minItems": 2}, [False, False]),
        ({"type": "array", "items": {"type": "boolean"}, "maxItems": 0}, []),
        ({"type": "array"}, []),
        ({"type": "object", "additionalProperties": {"type": "number"}}, {}),
        (
            {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                    {"type": "object", "properties": {"b": {"type": "string"}}, "required": ["b"]},
                ]
            },
            {"a": 0, "b": ""},
        ),
        (
            {
                "type": "object",
                "properties": {"own": {"type": "boolean"}},
                "required": ["own"],
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
                ],
            },
            {"own": False, "a": 0},
        ),
        ({}, None),
    ],
)
def test_a_required_value_is_offered_or_made_from_its_type(schema: Any, value: Any) -> None:
    assert _example_of({"key": schema}, ["key"]) == {"key": value}


@pytest.mark.parametrize(
    ("schema", "present"),
    [
        ({"type": "integer", "default": 3}, True),
        ({"type": "integer", "default": 0}, True),
        ({"type": "boolean", "default": False}, True),
        ({"type": "string", "examples": ["x"]}, True),
        ({"type": "string", "example": "x"}, True),
        ({"type": "string", "examples": []}, False),
        ({"type": "integer", "nullable": True, "default": None}, False),  # null says nothing
        ({"type": "integer", "minimum": 1}, False),
        ({"$ref": "#/components/schemas/WithDefault"}, True),  # offered by the component
        ({"allOf": [{"$ref": "#/components/schemas/WithDefault"}]}, True),
        ({"$ref": "#/components/schemas/Plain"}, False),
    ],
)
def test_an_optional_key_is_present_only_when_a_value_is_offered(
    schema: Any, present: bool
) -> None:
    example = _example_of(
        {"key": schema},
        [],
        WithDefault={"type": "string", "default": "from the component"},
        Plain={"type": "string"},
    )
    assert ("key" in example) is present


def test_recursion_through_required_keys_and_arrays_ends() -> None:
    components = {
        "Chain": {
            "type": "object",
            "properties": {
                "next": {"$ref": "#/components/schemas/Chain"},
                "n": {"type": "integer"},
            },
            "required": ["next", "n"],
        },
        "Tree": {
            "type": "object",
            "properties": {
                "leaves": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}},
                "one": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Tree"},
                    "minItems": 1,
                },
            },
            "required": ["leaves", "one"],
        },
    }
    chain = example_input({"$ref": "#/components/schemas/Chain"}, components)
    tree = example_input({"$ref": "#/components/schemas/Tree"}, components)
    # Met again inside itself, a $ref is not expanded: an empty value of its type.
    assert chain == {"next": {}, "n": 0}
    assert tree == {"leaves": [], "one": [{}]}


def test_the_example_is_a_copy() -> None:
    found = find_endpoint_schemas(flux_dev(), "fal-ai/flux/dev")
    example_input(found.input, found.components)["loras"].append({"path": "x"})
    assert found.components["FluxDevInput"]["properties"]["loras"]["default"] == []


def test_a_schema_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="does not describe an object"):
        example_input({"type": "string"}, {})
