"""An app's input and output schemas: given with ``schema=``, or read from its annotations.

Pure functions (no emulator, no event loop); the served OpenAPI documents are tested in
test_platform_api.py.
"""

from __future__ import annotations

import enum
import functools
import typing
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional, Tuple

import pytest
from typing_extensions import Literal, NotRequired, Required, TypedDict

from fal_client.testing import AppContext
from fal_client.testing._app_schema import AppSchema, app_schema, type_schema

C = "#/components/schemas/"


class Size(TypedDict):
    """A size in pixels."""

    width: int
    height: int


class Style(enum.Enum):
    PHOTO = "photo"
    SKETCH = "sketch"


class DrawInput(TypedDict, total=False):
    """What to draw.

    Attributes:
        prompt: the text to draw.
        size: ``None`` for the default.
    """

    prompt: Required[str]
    size: Optional[Size]
    mode: Literal["fast", "best"]
    tags: List[str]
    weights: Dict[str, float]
    style: Style
    pair: Tuple[int, str]
    strength: float
    safe: bool


class Image(TypedDict):
    url: str
    size: Size


class DrawOutput(TypedDict):
    images: List[Image]
    seed: NotRequired[int]


class Node(TypedDict):
    name: str
    children: List[Node]


class Plain(typing.TypedDict):
    """A typing.TypedDict (not typing_extensions')."""

    a: int
    b: typing.Optional[str]


try:  # PEP 728's closed TypedDicts need typing_extensions >= 4.10

    class Closed(TypedDict, closed=True):  # type: ignore[call-arg]
        a: int

except TypeError:  # pragma: no cover - an older typing_extensions
    Closed = None  # type: ignore[assignment, misc]


class Broken(TypedDict):
    a: Missing  # type: ignore[name-defined]  # noqa: F821 - never defined: cannot be resolved


async def draw(arguments: DrawInput, ctx: AppContext) -> DrawOutput:
    raise NotImplementedError


def test_a_typed_dict_input_and_output_become_object_schemas() -> None:
    schema = app_schema(draw)

    assert schema.input == {
        "type": "object",
        "title": "DrawInput",
        "description": "What to draw.",
        "properties": {
            "prompt": {"type": "string", "description": "the text to draw."},
            "size": {
                "anyOf": [{"$ref": C + "Size"}, {"type": "null"}],
                "description": "`None` for the default.",
            },
            "mode": {"type": "string", "enum": ["fast", "best"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "weights": {"type": "object", "additionalProperties": {"type": "number"}},
            "style": {"title": "Style", "type": "string", "enum": ["photo", "sketch"]},
            "pair": {
                "type": "array",
                "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                "minItems": 2,
                "maxItems": 2,
            },
            "strength": {"type": "number"},
            "safe": {"type": "boolean"},
        },
        "required": ["prompt"],  # total=False, with one Required[...]
    }
    assert schema.output == {
        "type": "object",
        "title": "DrawOutput",
        "properties": {
            "images": {"type": "array", "items": {"$ref": C + "Image"}},
            "seed": {"type": "integer"},
        },
        "required": ["images"],  # NotRequired[...] in a total TypedDict
    }
    # Nested TypedDicts are named schemas, each once, shared by input and output.
    assert dict(schema.definitions) == {
        "Size": {
            "type": "object",
            "title": "Size",
            "description": "A size in pixels.",
            "properties": {"width": {"type": "integer"}, "height": {"type": "integer"}},
            "required": ["width", "height"],
        },
        "Image": {
            "type": "object",
            "title": "Image",
            "properties": {"url": {"type": "string"}, "size": {"$ref": C + "Size"}},
            "required": ["url", "size"],
        },
    }


def test_typing_typed_dicts_closed_ones_and_self_reference() -> None:
    if Closed is None:  # pragma: no cover
        pytest.skip("typing_extensions < 4.10 has no closed TypedDicts")

    def app(arguments: Plain, ctx: AppContext) -> Closed:
        raise NotImplementedError

    schema = app_schema(app)
    assert schema.input["properties"] == {
        "a": {"type": "integer"},
        "b": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    }
    assert schema.input["required"] == ["a", "b"]
    assert schema.output["additionalProperties"] is False

    def tree(arguments: Node, ctx: AppContext) -> Dict[str, Any]:
        raise NotImplementedError

    # A TypedDict that contains itself stays a reference to its named schema.
    recursive = app_schema(tree)
    assert recursive.input == {"$ref": C + "Node"}
    assert recursive.definitions["Node"]["properties"]["children"] == {
        "type": "array",
        "items": {"$ref": C + "Node"},
    }
    assert recursive.output == {"type": "object"}


def test_a_streaming_app_s_output_is_its_item_type() -> None:
    async def stream(arguments: Size, ctx: AppContext) -> AsyncIterator[Image]:
        yield {"url": "", "size": arguments}

    def sync_stream(arguments: Size, ctx: AppContext) -> Iterator[Size]:
        yield arguments

    assert app_schema(stream).output["title"] == "Image"
    assert app_schema(sync_stream).output["title"] == "Size"


def test_without_usable_annotations_the_schema_is_permissive() -> None:
    def bare(arguments, ctx):  # type: ignore[no-untyped-def]
        return arguments

    def dicts(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        return arguments

    class Local(TypedDict):  # unresolvable: this module has `from __future__ import annotations`
        a: int

    def local(arguments: Local, ctx: AppContext) -> Local:
        return arguments

    def broken(arguments: Broken, ctx: AppContext) -> Size:
        raise NotImplementedError

    for fn in (bare, dicts, local, broken):
        assert app_schema(fn) == AppSchema({"type": "object"}, {"type": "object"}, {})


def test_the_first_typed_dict_parameter_counts_even_behind_a_partial_or_object() -> None:
    def app(ctx: AppContext, arguments: Size) -> Size:
        raise NotImplementedError

    class App:
        async def __call__(self, arguments: Size, ctx: AppContext) -> Image:
            raise NotImplementedError

    def bound(prefix: str, arguments: Image, ctx: AppContext) -> Size:
        raise NotImplementedError

    assert app_schema(app).input["title"] == "Size"
    assert app_schema(App()).output["title"] == "Image"
    assert app_schema(functools.partial(bound, "x")).input["title"] == "Image"


def test_a_given_schema_wins_and_the_missing_part_is_derived() -> None:
    given = {
        "input": {
            "type": "object",
            "properties": {"size": {"$ref": "#/$defs/Size"}},
            "$defs": {"Size": {"type": "string", "enum": ["small", "large"]}},
        }
    }

    schema = app_schema(draw, given)

    # The given $defs move into the components, renamed where a derived one has the name.
    assert schema.input == {
        "type": "object",
        "properties": {"size": {"$ref": C + "Size2"}},
    }
    assert schema.definitions["Size2"] == {"type": "string", "enum": ["small", "large"]}
    assert schema.output["title"] == "DrawOutput"  # derived
    assert schema.definitions["Size"]["title"] == "Size"
    # The caller's dict is copied, not kept.
    assert "$defs" in given["input"]


@pytest.mark.parametrize(
    ("given", "error", "match"),
    [
        ([], TypeError, "must be a dict"),
        ({"inputs": {}}, ValueError, "'inputs'"),
        ({"input": "string"}, TypeError, r"schema\['input'\] must be a JSON schema object"),
        ({"output": {"default": object()}}, TypeError, r"schema\['output'\] is not JSON"),
    ],
)
def test_a_malformed_given_schema_is_refused(given: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        app_schema(draw, given)


def test_pydantic_models_use_their_own_schema() -> None:
    pydantic = pytest.importorskip("pydantic", minversion="2")

    class Inner(pydantic.BaseModel):  # type: ignore[name-defined, misc]
        x: int

    class Request(pydantic.BaseModel):  # type: ignore[name-defined, misc]
        prompt: str
        count: int = pydantic.Field(1, ge=1, le=8, description="How many.")
        inner: Optional[Inner] = None

    hints = {"arguments": Request, "ctx": AppContext, "return": Request}

    def app(arguments, ctx):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    app.__annotations__ = hints  # real classes, as a module-level model would resolve

    schema = app_schema(app)
    assert schema.input["title"] == "Request"
    assert schema.input["required"] == ["prompt"]
    assert schema.input["properties"]["count"] == {
        "default": 1,
        "description": "How many.",
        "maximum": 8,
        "minimum": 1,
        "title": "Count",
        "type": "integer",
    }
    assert schema.input["properties"]["inner"]["anyOf"] == [
        {"$ref": C + "Inner"},
        {"type": "null"},
    ]
    assert schema.output == schema.input
    assert schema.definitions["Inner"]["properties"] == {"x": {"title": "X", "type": "integer"}}
    assert "$defs" not in schema.input


def test_a_record_annotation_without_a_schema_is_an_error_only_when_strict() -> None:
    class Opaque:
        pass

    assert type_schema(Opaque) == {}
    with pytest.raises(TypeError, match="no JSON schema"):
        type_schema(Opaque, strict=True)
    assert type_schema(Optional[float], strict=True) == {
        "anyOf": [{"type": "number"}, {"type": "null"}]
    }
