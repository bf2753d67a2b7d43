"""The TypedDict module ``fal-client types`` writes: it imports, type-checks and reads well."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typing_extensions

from fal_client._openapi_schemas import EndpointSchemas, find_endpoint_schemas
from fal_client._typegen import endpoint_type_name, render_typed_dicts
from tests.unit.openapi_documents import awkward, flux_dev

ROOT = Path(__file__).resolve().parents[2]


def _endpoints() -> list[EndpointSchemas]:
    return [
        find_endpoint_schemas(flux_dev(), "fal-ai/flux/dev"),
        find_endpoint_schemas(awkward(), "acme/awkward"),
    ]


@pytest.fixture(scope="module")
def source() -> str:
    return render_typed_dicts(_endpoints())


@pytest.fixture(scope="module")
def module(source: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    path = tmp_path_factory.mktemp("generated") / "fal_types_under_test.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("fal_types_under_test", path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded  # get_type_hints resolves forward references through it
    try:
        spec.loader.exec_module(loaded)
        yield loaded
    finally:
        del sys.modules[spec.name]


def _definition(source: str, name: str) -> str:
    """The text of one top-level definition, up to the next one."""
    match = re.search(rf"^(class {name}\(|{name} = ).*?(?=\n\n\n|\Z)", source, re.S | re.M)
    assert match, f"{name} is not defined"
    return match.group(0)


# --- the text -------------------------------------------------------------------------------


def test_a_text_to_image_endpoint_renders_as_documented(source: str) -> None:
    assert _definition(source, "FalAiFluxDevInput") == (
        "class FalAiFluxDevInput(TypedDict):\n"
        '    """Input of the fal endpoint fal-ai/flux/dev."""\n'
        "\n"
        "    # The prompt to generate an image from.\n"
        "    prompt: str\n"
        "    # The size of the generated image.\n"
        '    # Default: "landscape_4_3"\n'
        "    image_size: NotRequired[\n"
        "        Union[\n"
        "            ImageSize,\n"
        "            Literal[\n"
        '                "square_hd",\n'
        '                "square",\n'
        '                "portrait_4_3",\n'
        '                "portrait_16_9",\n'
        '                "landscape_4_3",\n'
        '                "landscape_16_9",\n'
        "            ],\n"
        "        ]\n"
        "    ]\n"
        "    # The number of inference steps to perform.\n"
        "    # Default: 28\n"
        "    num_inference_steps: NotRequired[int]\n"
        "    # The same seed and the same prompt given to the same version of the model will "
        "output the\n"
        "    # same image every time.\n"
        "    seed: NotRequired[Optional[int]]\n"
        "    # Default: 3.5\n"
        "    guidance_scale: NotRequired[float]\n"
        "    # The number of images to generate.\n"
        "    num_images: NotRequired[int]\n"
        "    # Default: true\n"
        "    enable_safety_checker: NotRequired[bool]\n"
        '    # Default: "jpeg"\n'
        '    output_format: NotRequired[Literal["jpeg", "png"]]\n'
        '    acceleration: NotRequired[Optional[Literal["none", "regular", "high"]]]\n'
        "    # The LoRAs to use for the image generation.\n"
        "    # Default: []\n"
        "    loras: NotRequired[List[LoraWeight]]"
    )
    output = _definition(source, "FalAiFluxDevOutput")
    for line in (
        "    images: List[Image]",
        "    timings: Dict[str, float]",
        "    seed: int",
        "    has_nsfw_concepts: List[bool]",
    ):
        assert f"\n{line}\n" in output + "\n"
    image = _definition(source, "Image")
    assert '"""Represents an image file."""' in image
    assert "    url: str\n" in image and "    width: NotRequired[Optional[int]]" in image


def test_unions_merges_and_free_form_objects(source: str) -> None:
    awkward_input = _definition(source, "AcmeAwkwardInput")
    for line in (
        '"mode": NotRequired[Literal["fast", "slow"]],',
        '"style": NotRequired[Optional[Style]],',  # allOf [$ref] + nullable
        '"value": NotRequired[Union[str, int, List[float]]],',
        '"strength": NotRequired[Optional[float]],',  # OpenAPI 3.1's null member
        '"crop": NotRequired[Optional[AcmeAwkwardInputCrop]],',  # inline object, named
        '"meta": NotRequired[Dict[str, Any]],',
        '"merged": NotRequired[AcmeAwkwardInputMerged],',  # allOf of two objects
        '"version": Literal[2],',
    ):
        assert f"        {line}\n" in awkward_input
    merged = _definition(source, "AcmeAwkwardInputMerged")
    assert 'color: Optional[Literal["red", "green"]]\n    weight: float' in merged
    # A comment keeps the description's own line break.
    assert "        # Free-form\n        # metadata.\n" in awkward_input


@pytest.mark.parametrize(
    ("schema", "annotation"),
    [
        ({"type": "string"}, "str"),
        ({"type": "integer"}, "int"),
        ({"type": "number"}, "float"),
        ({"type": "boolean"}, "bool"),
        ({"type": "null"}, "None"),
        ({}, "Any"),
        ({"type": "file"}, "Any"),
        ({"type": "array"}, "List[Any]"),
        ({"type": "array", "items": {"type": "integer"}}, "List[int]"),
        ({"type": "object"}, "Dict[str, Any]"),
        ({"type": "object", "additionalProperties": True}, "Dict[str, Any]"),
        ({"additionalProperties": {"type": "string"}}, "Dict[str, str]"),
        ({"enum": ["a", 1, True, None]}, 'Optional[Literal["a", 1, True]]'),
        ({"type": "number", "enum": [0.5, 1.5]}, "float"),  # Literal cannot hold a float
        ({"const": "x"}, 'Literal["x"]'),
        ({"enum": ['say "hi"', "back\\slash"]}, 'Literal["say \\"hi\\"", "back\\\\slash"]'),
        ({"anyOf": [{"type": "string"}, {}]}, "Any"),
        ({"anyOf": [{"enum": ["a"]}, {"enum": ["b", "a"]}]}, 'Literal["a", "b"]'),
        ({"oneOf": [{"type": "string"}, {"type": "string"}]}, "str"),
        ({"type": ["string", "integer", "null"]}, "Optional[Union[str, int]]"),
        ({"type": "string", "nullable": True}, "Optional[str]"),
        ({"anyOf": [{"type": "string"}, {"type": "null"}], "nullable": True}, "Optional[str]"),
        ({"allOf": [{"type": "integer"}], "description": "pydantic's wrapper"}, "int"),
        ({"allOf": [{"type": "integer"}, {"type": "string"}]}, "Any"),
        ({"$ref": "#/components/schemas/Missing"}, "Any"),  # refused by the locator anyway
    ],
)
def test_each_schema_maps_to_its_type(schema: dict[str, Any], annotation: str) -> None:
    endpoint = EndpointSchemas(
        "acme/one",
        {"type": "object", "properties": {"k": schema}, "required": ["k"]},
        None,
        {},
        "/acme/one",
    )
    source = render_typed_dicts([endpoint])
    assert f"\n    k: {annotation}\n" in source + "\n"
    compile(source, "generated.py", "exec")


def test_own_properties_beside_allof_are_merged_not_lost() -> None:
    # pydantic's model inheritance: the subclass's fields, plus allOf of its base.
    base = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    derived = {
        "type": "object",
        "properties": {"b": {"type": "integer"}},
        "allOf": [{"$ref": "#/components/schemas/Base"}],
    }
    endpoint = EndpointSchemas(
        "acme/derived",
        {"type": "object", "properties": {"k": derived}, "required": ["k"]},
        None,
        {"Base": base},
        "/acme/derived",
    )
    source = render_typed_dicts([endpoint])
    assert "    k: AcmeDerivedInputK\n" in source
    assert _definition(source, "AcmeDerivedInputK").endswith("    b: NotRequired[int]\n    a: str")


def test_keys_a_class_body_cannot_hold_use_the_functional_syntax(
    source: str, module: ModuleType
) -> None:
    assert _definition(source, "AcmeAwkwardInput").startswith(
        'AcmeAwkwardInput = TypedDict(\n    "AcmeAwkwardInput",\n    {\n'
    )
    assert _definition(source, "AcmeAwkwardOutput").startswith("AcmeAwkwardOutput = TypedDict(")
    keys = module.AcmeAwkwardInput.__required_keys__ | module.AcmeAwkwardInput.__optional_keys__
    # A keyword, a key with a dash, one a class body would have mangled: all as written.
    assert {"from", "image-url", "__private"} <= keys
    assert module.AcmeAwkwardOutput.__required_keys__ == {"class", "ok"}
    assert _definition(source, "Secret").startswith('Secret = TypedDict(\n    "Secret",')
    assert module.Secret.__optional_keys__ == {"__token"}


def test_a_recursive_component_refers_to_itself_by_a_forward_reference(
    source: str, module: ModuleType
) -> None:
    node = _definition(source, "Node")
    assert '    children: NotRequired[List["Node"]]\n    parent: NotRequired["Node"]' in node
    # typing_extensions' get_type_hints strips NotRequired on every Python (typing's keeps
    # typing_extensions' NotRequired before 3.11).
    hints = typing_extensions.get_type_hints(module.Node)
    assert hints["children"] == typing.List[module.Node]


def test_the_module_imports_and_required_keys_hold_at_runtime(module: ModuleType) -> None:
    # On 3.9 and 3.10 this is typing_extensions' TypedDict: typing's ignores NotRequired.
    assert module.FalAiFluxDevInput.__required_keys__ == {"prompt"}
    assert "seed" in module.FalAiFluxDevInput.__optional_keys__
    assert module.FalAiFluxDevOutput.__required_keys__ == {
        "images",
        "timings",
        "seed",
        "has_nsfw_concepts",
        "prompt",
    }
    assert module.LoraWeight.__required_keys__ == {"path"}


def test_docstrings_survive_quotes_backslashes_and_control_characters(
    source: str, module: ModuleType
) -> None:
    tree = ast.parse(source)
    # Read from the source's string literals: Python 3.13 rewrites a class's __doc__ itself
    # (it dedents it and expands its tabs).
    classes = {
        n.name: ast.get_docstring(n, clean=False) for n in tree.body if isinstance(n, ast.ClassDef)
    }
    # A functional TypedDict's docstring is the string after it, as for any attribute.
    docs = {
        node.targets[0].id: ast.literal_eval(after.value)
        for node, after in zip(tree.body, tree.body[1:])
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(after, ast.Expr)
    }
    description = awkward()["components"]["schemas"]["Node"]["description"]
    node_doc = classes["Node"]
    assert node_doc is not None
    assert node_doc.split("\n") == [
        *[line if i == 0 else f"    {line}" for i, line in enumerate(description.splitlines())],
        "    ",
    ]
    assert docs["AcmeAwkwardInput"].split("\n") == [
        "Input of the fal endpoint acme/awkward.",
        "",
        'Tricky text: a """triple""" quote, a back\\slash, and a "last quote"',
        "",
    ]
    assert docs["AcmeAwkwardOutput"] == "Output of the fal endpoint acme/awkward."
    assert module.Node.__doc__ is not None  # and the module imported with them


def test_the_header_names_the_command_and_the_endpoints(source: str) -> None:
    assert source.startswith(
        "# Generated from fal's OpenAPI documents by:\n"
        "#   fal-client types fal-ai/flux/dev acme/awkward\n"
        "# for the endpoints:\n"
        "#   acme/awkward: AcmeAwkwardInput, AcmeAwkwardOutput\n"
        "#   fal-ai/flux/dev: FalAiFluxDevInput, FalAiFluxDevOutput\n"
    )
    custom = render_typed_dicts(
        _endpoints()[:1], command="fal-client types -o t.py fal-ai/flux/dev"
    )
    assert "#   fal-client types -o t.py fal-ai/flux/dev\n" in custom


def test_only_what_the_module_uses_is_imported() -> None:
    plain = EndpointSchemas(
        "acme/plain",
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        None,
        {},
        "/acme/plain",
    )
    source = render_typed_dicts([plain])
    assert "\nfrom typing import" not in source and "Any" not in source
    assert "    from typing import TypedDict\n" in source
    assert "#   acme/plain: AcmePlainInput (the document has no output)\n" in source


def test_the_output_is_deterministic(source: str) -> None:
    assert render_typed_dicts(_endpoints()) == source
    # The order the endpoints are given in changes only the command line in the header.
    command = "fal-client types fal-ai/flux/dev acme/awkward"
    assert render_typed_dicts(list(reversed(_endpoints())), command=command) == source
    # Nor does the process's string hashing (set order) change anything.
    script = (
        "from tests.unit.test_typegen import _endpoints;"
        "from fal_client._typegen import render_typed_dicts;"
        "print(render_typed_dicts(_endpoints()), end='')"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == source


def test_a_formatter_and_a_linter_leave_the_module_alone(source: str, tmp_path: Path) -> None:
    path = tmp_path / "generated.py"
    path.write_text(source, encoding="utf-8")
    common = ["--isolated", "--line-length", "100", "--target-version", "py39"]
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--diff", *common, str(path)],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "E,F,W", *common, str(path)],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint_id", "name"),
    [
        ("fal-ai/flux/dev", "FalAiFluxDev"),
        ("fal-ai/flux-pro/v1.1-ultra", "FalAiFluxProV11Ultra"),
        ("fal-ai/fast-sdxl", "FalAiFastSdxl"),
        ("workflows/me/my_flow", "WorkflowsMeMyFlow"),
        ("fal-ai/kling-video/v1.6/pro/image-to-video", "FalAiKlingVideoV16ProImageToVideo"),
        ("123-my-app", "Fal123MyApp"),
        ("fal-ai/recraftV3", "FalAiRecraftV3"),
    ],
)
def test_endpoint_names(endpoint_id: str, name: str) -> None:
    assert endpoint_type_name(endpoint_id) == name
    assert name.isidentifier()


def _endpoint(
    endpoint_id: str, input_schema: dict[str, Any], components: dict[str, Any]
) -> EndpointSchemas:
    return EndpointSchemas(endpoint_id, input_schema, None, components, f"/{endpoint_id}")


def _defined_names(source: str) -> list[str]:
    tree = ast.parse(source)
    names = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            names.append(node.targets[0].id)
    return names


def test_names_are_unique_and_stable() -> None:
    image = {"type": "object", "properties": {"url": {"type": "string"}}}
    other_image = {"type": "object", "properties": {"path": {"type": "string"}}}
    uses_image = {"type": "object", "properties": {"image": {"$ref": "#/components/schemas/Image"}}}
    endpoints = [
        _endpoint("acme/a", uses_image, {"Image": image}),
        _endpoint("acme/b", uses_image, {"Image": other_image}),  # same name, other schema
        _endpoint("acme/c", uses_image, {"Image": dict(image)}),  # same as acme/a's
        # Both PascalCase to AcmeD: the second in sorted order gets a number.
        _endpoint("acme/d", {"type": "object", "properties": {"x": {"type": "string"}}}, {}),
        _endpoint("acme-d", {"type": "object", "properties": {"y": {"type": "string"}}}, {}),
        # Components whose names the module needs for itself, or the endpoints' own names.
        _endpoint(
            "acme/e",
            {
                "type": "object",
                "properties": {
                    "a": {"$ref": "#/components/schemas/List"},
                    "b": {"$ref": "#/components/schemas/AcmeAInput"},
                    "c": {"$ref": "#/components/schemas/9lives"},
                    "d": {"type": "object", "properties": {"z": {"type": "integer"}}},
                },
            },
            {"List": image, "AcmeAInput": other_image, "9lives": {"type": "string"}},
        ),
    ]
    source = render_typed_dicts(endpoints)
    names = _defined_names(source)
    assert len(names) == len(set(names)), names
    assert all(name.isidentifier() for name in names)
    assert names == [
        "AcmeDInput",  # acme-d: "-" sorts before "/"
        "Image",
        "AcmeAInput",
        "Image2",
        "AcmeBInput",
        "AcmeCInput",
        "AcmeD2Input",
        "List2",
        "AcmeAInput2",
        "Schema9lives",
        "AcmeEInputD",
        "AcmeEInput",
    ]
    assert "    image: NotRequired[Image2]" in _definition(source, "AcmeBInput")
    assert "    image: NotRequired[Image]" in _definition(source, "AcmeCInput")  # shared
    assert "    a: NotRequired[List2]" in _definition(source, "AcmeEInput")


def test_endpoints_with_the_same_input_schema_share_one_class() -> None:
    document = flux_dev()
    first = find_endpoint_schemas(document, "fal-ai/flux/dev")
    second = EndpointSchemas(
        "fal-ai/flux/dev/again", first.input, None, first.components, "/fal-ai/flux/dev/again"
    )
    source = render_typed_dicts([first, second])
    assert "\nFalAiFluxDevAgainInput = FalAiFluxDevInput\n" in source
    assert source.count("class LoraWeight(") == 1


def test_no_endpoints_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one endpoint"):
        render_typed_dicts([])


# --- mypy -----------------------------------------------------------------------------------
# A program that uses the generated types: the valid part must pass `mypy --strict`, and every
# line marked `# E: <code>` must be reported, with that code, and nothing else. Two mypy
# runs in all (they are the slow part): the interpreter's own version, and one on the other
# side of the 3.11 line, so both branches of the generated imports are checked.

USAGE = """\
from generated import (
    AcmeAwkwardInput,
    AcmeAwkwardOutput,
    FalAiFluxDevInput,
    FalAiFluxDevOutput,
    ImageSize,
    LoraWeight,
    Node,
)

size: ImageSize = {"width": 1024, "height": 768}
lora: LoraWeight = {"path": "https://example.com/lora.safetensors"}
good: FalAiFluxDevInput = {
    "prompt": "a cat",
    "image_size": size,
    "num_images": 2,
    "seed": None,
    "output_format": "png",
    "acceleration": None,
    "loras": [lora, {"path": "x", "scale": 0.5}],
}
named_size: FalAiFluxDevInput = {"prompt": "a cat", "image_size": "square_hd"}
tree: Node = {"name": "root", "children": [{"name": "leaf", "children": []}]}
awkward: AcmeAwkwardInput = {
    "from": "here",
    "image-url": "https://example.com/a.png",
    "tree": tree,
    "version": 2,
    "style": None,
    "crop": {"x": 1, "y": 2},
    "value": [1.5],
    "meta": {"anything": [1, "two"]},
}


def first_url(result: FalAiFluxDevOutput) -> str:
    seconds: float = result["timings"]["inference"]
    flagged: bool = result["has_nsfw_concepts"][0]
    return result["images"][0]["url"] if not flagged and seconds else ""


def klass(result: AcmeAwkwardOutput) -> str:
    return result["class"]


misspelt: FalAiFluxDevInput = {"prompt": "a cat", "num_image": 2}  # E: typeddict-unknown-key
bad_enum: FalAiFluxDevInput = {"prompt": "a cat", "output_format": "gif"}  # E: typeddict-item
bad_size: FalAiFluxDevInput = {"prompt": "a cat", "image_size": "huge"}  # E: typeddict-item
no_prompt: FalAiFluxDevInput = {"num_images": 1}  # E: typeddict-item
bad_seed: FalAiFluxDevInput = {"prompt": "a cat", "seed": "7"}  # E: typeddict-item
t = tree
v3: AcmeAwkwardInput = {"from": "", "image-url": "", "tree": t, "version": 3}  # E: typeddict-item
bad_child: Node = {"name": "r", "children": [{"name": "c", "kids": []}]}  # E: typeddict-unknown-key


def wrong_type(result: FalAiFluxDevOutput) -> int:
    return result["images"][0]["url"]  # E: return-value
"""


def _expected_errors() -> set[tuple[int, str]]:
    expected = set()
    for number, line in enumerate(USAGE.splitlines(), start=1):
        marker = re.search(r"# E: ([\w-]+)$", line)
        if marker:
            expected.add((number, marker.group(1)))
    return expected


@pytest.mark.timeout(180)
@pytest.mark.parametrize("python_version", ["own", "other"])
def test_mypy_strict_accepts_valid_input_and_rejects_mistakes(
    source: str, tmp_path: Path, python_version: str
) -> None:
    from mypy import api

    (tmp_path / "generated.py").write_text(source, encoding="utf-8")
    (tmp_path / "usage.py").write_text(USAGE, encoding="utf-8")
    args = [
        "--strict",
        "--config-file=",  # not the project's: a user's file, checked on its own
        "--cache-dir",
        str(tmp_path / ".mypy_cache"),
        "--show-error-codes",
        "--no-error-summary",
        "--no-pretty",
    ]
    if python_version == "other":
        args += ["--python-version", "3.10" if sys.version_info >= (3, 11) else "3.12"]
    stdout, stderr, _ = api.run([*args, str(tmp_path / "generated.py"), str(tmp_path / "usage.py")])

    reported = set()
    for line in stdout.splitlines():
        match = re.match(r"(.+?):(\d+): error: .*\[([\w-]+)\]$", line)
        assert match, f"unexpected mypy output: {line}\n{stdout}{stderr}"
        assert Path(match.group(1)).name == "usage.py", f"the generated module fails:\n{stdout}"
        reported.add((int(match.group(2)), match.group(3)))
    assert reported == _expected_errors(), stdout + stderr
