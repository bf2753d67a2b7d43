"""The platform API under /api/v1 (fal's api.fal.ai/v1): model search with OpenAPI documents,
prices and cost estimates, over plain httpx against a running emulator on both backends.

The request history (/api/v1/models/requests/by-endpoint) is in test_request_history.py.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Dict, Iterator, List, Optional

import httpx
import jsonschema
import pytest
from typing_extensions import Literal, NotRequired, TypedDict

from fal_client.testing import AppContext, Emulator, Price

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


class Size(TypedDict):
    width: int
    height: int


class DrawInput(TypedDict):
    """What to draw.

    Attributes:
        prompt: the text to draw.
    """

    prompt: str
    size: Optional[Size]
    style: NotRequired[Literal["photo", "sketch"]]


class DrawOutput(TypedDict):
    images: List[Size]


async def draw(arguments: DrawInput, ctx: AppContext) -> DrawOutput:
    """Draws the prompt."""
    return {"images": []}


async def plain(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
    return arguments


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """An emulator with a known set of apps only."""
    with Emulator(builtin_apps=False) as emulator:
        emulator.add_app(
            "me/draw",
            draw,
            price=Price(0.025, unit="image", call_price=0.05),
            metadata={"category": "text-to-image", "tags": ["fast"]},
        )
        emulator.add_app("me/echo", plain, price=0.01)
        emulator.add_app("me/old", plain, price=(2.0, "second"), metadata={"status": "deprecated"})
        emulator.add_app(
            "me/video/pro",
            plain,
            metadata={"category": "text-to-video", "display_name": "Video Pro"},
        )
        emulator.add_app("me/free", plain)
        emulator.add_app("me/live", plain, realtime=True)
        yield emulator


@pytest.fixture
async def api(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the platform API, sending the key."""
    async with httpx.AsyncClient(
        base_url=emu.env["FAL_API_URL"], headers={"Authorization": f"Key {emu.key}"}, timeout=10
    ) as http:
        yield http


@pytest.fixture
async def keyless(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """The same, without credentials."""
    async with httpx.AsyncClient(base_url=emu.env["FAL_API_URL"], timeout=10) as http:
        yield http


MODELS = ["me/draw", "me/echo", "me/free", "me/old", "me/video/pro"]  # not the realtime app


def _ids(body: Dict[str, Any]) -> List[str]:
    return [model["endpoint_id"] for model in body["models"]]


# --- GET /models ---------------------------------------------------------------------------------


async def test_the_env_points_at_the_platform_api(emu: Emulator) -> None:
    assert emu.env["FAL_API_URL"] == f"{emu.url}/api/v1"


async def test_models_lists_every_app_but_realtime_ones_in_pages(
    keyless: httpx.AsyncClient,
) -> None:
    # No key: the model search works without one, as on fal.
    everything = (await keyless.get("/models")).json()
    assert _ids(everything) == MODELS
    assert everything["next_cursor"] is None and everything["has_more"] is False

    pages, cursors, params = [], [], {"limit": "2"}
    while True:
        body = (await keyless.get("/models", params=params)).json()
        pages.append(_ids(body))
        assert body["has_more"] is (body["next_cursor"] is not None)
        if body["next_cursor"] is None:
            break
        cursors.append(body["next_cursor"])
        params = {"limit": "2", "cursor": body["next_cursor"]}

    assert pages == [MODELS[0:2], MODELS[2:4], MODELS[4:]]
    assert cursors == ["Mg==", "Mw=="]  # base64 page numbers, as fal's


async def test_model_metadata_defaults_and_what_the_app_was_registered_with(
    emu: Emulator, keyless: httpx.AsyncClient
) -> None:
    body = (await keyless.get("/models", params={"endpoint_id": "me/draw,me/free"})).json()

    draw_model, free_model = body["models"]
    assert draw_model == {
        "endpoint_id": "me/draw",
        "metadata": {
            "display_name": "me/draw",
            "category": "text-to-image",
            "description": "Draws the prompt.",
            "status": "active",
            "tags": ["fast"],
            "model_url": f"{emu.url}/run/me/draw",
        },
    }
    assert free_model["metadata"]["category"] == "other"
    assert free_model["metadata"]["tags"] == [] and "openapi" not in free_model


async def test_endpoint_ids_repeated_or_comma_separated_in_order_unknown_ones_absent(
    api: httpx.AsyncClient,
) -> None:
    repeated = await api.get(
        "/models", params=[("endpoint_id", "me/old"), ("endpoint_id", "me/nope,me/draw")]
    )
    again = await api.get("/models", params={"endpoint_id": "me/draw,me/draw,me/live"})

    assert _ids(repeated.json()) == ["me/old", "me/draw"]
    assert _ids(again.json()) == ["me/draw"]  # once; the realtime app is no model


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ([("endpoint_id", f"me/app{n}") for n in range(51)], "endpoint_id"),
        ({"endpoint_id": "not-an-id"}, "endpoint_id"),
        ({"status": "retired"}, "status"),
        ({"expand": "everything"}, "expand"),
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not a cursor"}, "cursor"),
        ({"cursor": "MA=="}, "cursor"),  # page 0
        ({"sort": "name"}, "sort"),  # a parameter it does not take
    ],
)
async def test_models_refuses_bad_parameters_naming_them(
    keyless: httpx.AsyncClient, params: Any, named: str
) -> None:
    response = await keyless.get("/models", params=params)

    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{named}: ")


async def test_fifty_endpoint_ids_are_allowed(keyless: httpx.AsyncClient) -> None:
    ids = ["me/draw", *[f"me/app{n}" for n in range(49)]]

    response = await keyless.get("/models", params=[("endpoint_id", i) for i in ids])

    assert response.status_code == 200 and _ids(response.json()) == ["me/draw"]


async def test_search_by_text_category_and_status(keyless: httpx.AsyncClient) -> None:
    async def found(**params: str) -> List[str]:
        response = await keyless.get("/models", params=params)
        assert response.status_code == 200, response.text
        return _ids(response.json())

    assert await found(q="draws prompt") == ["me/draw"]  # every word, in any field
    assert await found(q="FAST") == ["me/draw"]  # a tag, case-insensitively
    assert await found(q="video pro") == ["me/video/pro"]
    assert await found(category="Text-to-Video") == ["me/video/pro"]
    assert await found(status="deprecated") == ["me/old"]
    assert await found(status="active", category="other") == ["me/echo", "me/free"]
    assert await found(endpoint_id="me/old,me/echo", status="active") == ["me/echo"]
    assert await found(q="nothing like it") == []


async def test_a_wrong_key_is_refused_even_where_none_is_needed(emu: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emu.env["FAL_API_URL"], timeout=10) as http:
        response = await http.get("/models", headers={"Authorization": "Key wrong"})

    assert response.status_code == 403


async def test_unknown_platform_paths_and_methods(keyless: httpx.AsyncClient) -> None:
    assert (await keyless.get("/models/nope")).status_code == 404
    assert (await keyless.post("/models", json={})).status_code == 405
    assert (await keyless.get("/models/pricing/estimate")).status_code == 405


# --- the OpenAPI documents -------------------------------------------------------------------


def _resolve(document: Dict[str, Any], ref: Dict[str, Any]) -> Dict[str, Any]:
    prefix = "#/components/schemas/"
    assert set(ref) == {"$ref"} and ref["$ref"].startswith(prefix), ref
    schema: Dict[str, Any] = document["components"]["schemas"][ref["$ref"][len(prefix) :]]
    return schema


def _validator(document: Dict[str, Any], ref: Dict[str, Any]) -> jsonschema.Validator:
    # The components travel with the schema, so the $refs resolve inside it.
    schema = {**ref, "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


async def test_expand_openapi_gives_each_model_a_fal_shaped_document(
    emu: Emulator, keyless: httpx.AsyncClient
) -> None:
    body = (
        await keyless.get("/models", params={"endpoint_id": "me/draw", "expand": "openapi-3.0"})
    ).json()
    document = body["models"][0]["openapi"]

    assert document["openapi"].startswith("3.0")
    assert document["servers"] == [{"url": f"{emu.url}/queue"}]
    submit = document["paths"]["/me/draw"]["post"]
    result = document["paths"]["/me/draw/requests/{request_id}"]["get"]
    input_ref = submit["requestBody"]["content"]["application/json"]["schema"]
    output_ref = result["responses"]["200"]["content"]["application/json"]["schema"]
    assert input_ref == {"$ref": "#/components/schemas/DrawInput"}
    assert output_ref == {"$ref": "#/components/schemas/DrawOutput"}

    # The input schema is the TypedDict's, with the nested one as a component of its own.
    inputs = _resolve(document, input_ref)
    assert inputs["required"] == ["prompt", "size"]
    assert inputs["properties"]["prompt"] == {"type": "string", "description": "the text to draw."}
    assert inputs["properties"]["style"] == {"type": "string", "enum": ["photo", "sketch"]}
    size_ref = inputs["properties"]["size"]["anyOf"][0]
    assert _resolve(document, size_ref)["required"] == ["width", "height"]
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)

    # ...and it describes what the app takes: valid inputs pass, invalid ones do not.
    validate_input = _validator(document, input_ref)
    validate_input.validate({"prompt": "a cat", "size": {"width": 8, "height": 8}})
    validate_input.validate({"prompt": "a cat", "size": None, "style": "photo"})
    assert not validate_input.is_valid({"prompt": "a cat", "size": None, "style": "oil"})
    assert not validate_input.is_valid({"size": None})
    assert _validator(document, output_ref).is_valid({"images": [{"width": 1, "height": 2}]})
    assert not _validator(document, output_ref).is_valid({"images": [{"width": "1"}]})


async def test_given_schemas_win_and_unannotated_apps_are_permissive(
    emu: Emulator, keyless: httpx.AsyncClient
) -> None:
    emu.add_app(
        "me/given",
        plain,
        schema={
            "input": {
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 8}},
                "required": ["n"],
                "additionalProperties": False,
            }
        },
    )

    body = (
        await keyless.get(
            "/models", params={"endpoint_id": "me/given,me/echo", "expand": "openapi-3.0"}
        )
    ).json()
    given, echo = (model["openapi"] for model in body["models"])

    schemas = given["components"]["schemas"]
    assert schemas["GivenInput"]["properties"]["n"]["maximum"] == 8
    assert schemas["GivenInput"]["additionalProperties"] is False
    assert schemas["GivenOutput"] == {"type": "object"}  # no annotation to read
    assert echo["components"]["schemas"]["EchoInput"] == {"type": "object"}
    assert "/me/echo" in echo["paths"]


async def test_a_pydantic_model_annotation_becomes_the_input_schema(
    emu: Emulator, keyless: httpx.AsyncClient
) -> None:
    pydantic = pytest.importorskip("pydantic", minversion="2")

    class Upscale(pydantic.BaseModel):  # type: ignore[name-defined, misc]
        image_url: str
        scale: int = pydantic.Field(2, ge=1, le=4)

    async def upscale(arguments, ctx):  # type: ignore[no-untyped-def]
        return {}

    upscale.__annotations__ = {"arguments": Upscale, "ctx": AppContext}
    emu.add_app("me/upscale", upscale)

    body = (
        await keyless.get("/models", params={"endpoint_id": "me/upscale", "expand": "openapi-3.0"})
    ).json()
    schema = body["models"][0]["openapi"]["components"]["schemas"]["UpscaleInput"]

    assert schema["required"] == ["image_url"]
    assert schema["properties"]["scale"]["maximum"] == 4


async def test_bad_schema_price_or_metadata_is_refused_at_registration(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="'inputs'"):
        emu.add_app("me/x", plain, schema={"inputs": {}})
    with pytest.raises(ValueError, match="unit_price must be a finite number >= 0"):
        emu.add_app("me/x", plain, price=-1)
    with pytest.raises(TypeError, match="price="):
        emu.add_app("me/x", plain, price="cheap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="status"):
        emu.add_app("me/x", plain, metadata={"status": "retired"})
    with pytest.raises(TypeError, match="tags"):
        emu.add_app("me/x", plain, metadata={"tags": "fast"})
    assert "me/x" not in [app.name for app in emu.apps()]


# --- GET /models/pricing -------------------------------------------------------------------


async def test_pricing_of_the_named_endpoints(api: httpx.AsyncClient) -> None:
    response = await api.get(
        "/models/pricing",
        params=[("endpoint_id", "me/draw,me/echo"), ("endpoint_id", "me/old,me/free,me/nope")],
    )

    assert response.status_code == 200
    assert response.json() == {
        "prices": [
            {"endpoint_id": "me/draw", "unit_price": 0.025, "unit": "image", "currency": "USD"},
            {"endpoint_id": "me/echo", "unit_price": 0.01, "unit": "request", "currency": "USD"},
            {"endpoint_id": "me/old", "unit_price": 2.0, "unit": "second", "currency": "USD"},
            # Registered without a price: free, per request.
            {"endpoint_id": "me/free", "unit_price": 0.0, "unit": "request", "currency": "USD"},
        ],
        "next_cursor": None,
        "has_more": False,
    }


async def test_pricing_needs_the_key_and_an_endpoint(
    api: httpx.AsyncClient, keyless: httpx.AsyncClient
) -> None:
    missing = await keyless.get("/models/pricing", params={"endpoint_id": "me/draw"})
    wrong = await keyless.get(
        "/models/pricing", params={"endpoint_id": "me/draw"}, headers={"Authorization": "Key no"}
    )
    none = await api.get("/models/pricing")
    too_many = await api.get(
        "/models/pricing", params={"endpoint_id": ",".join(f"me/a{n}" for n in range(51))}
    )

    assert missing.status_code == 401 and wrong.status_code == 403
    assert none.status_code == 422 and none.json()["detail"].startswith("endpoint_id: ")
    assert too_many.status_code == 422 and "at most 50" in too_many.json()["detail"]


# --- POST /models/pricing/estimate -------------------------------------------------------------


async def test_estimates_by_calls_and_by_units(api: httpx.AsyncClient) -> None:
    by_calls = await api.post(
        "/models/pricing/estimate",
        json={
            "estimate_type": "historical_api_price",
            # me/draw's call_price 0.05; me/echo has none: one unit per call (0.01).
            "endpoints": {"me/draw": {"call_quantity": 100}, "me/echo": {"call_quantity": 50}},
        },
    )
    by_units = await api.post(
        "/models/pricing/estimate",
        json={
            "estimate_type": "unit_price",
            "endpoints": {"me/draw": {"unit_quantity": 40}, "me/old": {"unit_quantity": 1.5}},
        },
    )

    assert by_calls.status_code == 200, by_calls.text
    assert by_calls.json() == {
        "estimate_type": "historical_api_price",
        "total_cost": 5.5,  # 100 * 0.05 + 50 * 0.01
        "currency": "USD",
    }
    assert by_units.json() == {
        "estimate_type": "unit_price",
        "total_cost": 4.0,  # 40 * 0.025 + 1.5 * 2.0
        "currency": "USD",
    }


async def test_estimates_need_the_key(keyless: httpx.AsyncClient) -> None:
    response = await keyless.post(
        "/models/pricing/estimate",
        json={"estimate_type": "unit_price", "endpoints": {"me/draw": {"unit_quantity": 1}}},
    )

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ([], "body"),
        ({"endpoints": {"me/draw": {"call_quantity": 1}}}, "estimate_type"),
        ({"estimate_type": "guess", "endpoints": {}}, "estimate_type"),
        ({"estimate_type": "unit_price"}, "endpoints"),
        ({"estimate_type": "unit_price", "endpoints": {}}, "endpoints"),
        ({"estimate_type": "unit_price", "endpoints": ["me/draw"]}, "endpoints"),
        (
            {"estimate_type": "unit_price", "endpoints": {"me/draw": {"call_quantity": 1}}},
            "endpoints.me/draw.unit_quantity",
        ),
        (
            {"estimate_type": "historical_api_price", "endpoints": {"me/draw": {}}},
            "endpoints.me/draw.call_quantity",
        ),
        (
            {"estimate_type": "unit_price", "endpoints": {"me/draw": {"unit_quantity": -1}}},
            "endpoints.me/draw.unit_quantity",
        ),
        (
            {"estimate_type": "unit_price", "endpoints": {"me/draw": {"unit_quantity": True}}},
            "endpoints.me/draw.unit_quantity",
        ),
        (
            {"estimate_type": "unit_price", "endpoints": {"me/nope": {"unit_quantity": 1}}},
            "endpoints.me/nope",
        ),
        (
            {"estimate_type": "unit_price", "endpoints": {"me/live": {"unit_quantity": 1}}},
            "endpoints.me/live",  # realtime: no model endpoint
        ),
        (
            {"estimate_type": "unit_price", "endpoints": {"x": {"unit_quantity": 1}}},
            "endpoints.x",
        ),
        (
            {
                "estimate_type": "unit_price",
                "endpoints": {"me/draw": {"unit_quantity": 1}},
                "currency": "EUR",
            },
            "currency",
        ),
    ],
)
async def test_a_bad_estimate_body_is_a_422_naming_the_field(
    api: httpx.AsyncClient, body: Any, named: str
) -> None:
    response = await api.post("/models/pricing/estimate", json=body)

    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{named}: "), response.json()


async def test_an_estimate_body_that_is_not_json(api: httpx.AsyncClient) -> None:
    response = await api.post("/models/pricing/estimate", content=b"{not json")

    assert response.status_code == 422 and "JSON" in response.json()["detail"]


# --- faults and the request log ----------------------------------------------------------------


async def test_platform_requests_are_recorded_and_can_be_faulted(
    emu: Emulator, api: httpx.AsyncClient
) -> None:
    emu.faults("ingress_503", operation="pricing", count=1)

    faulted = await api.get("/models/pricing", params={"endpoint_id": "me/draw"})
    served = await api.get("/models/pricing", params={"endpoint_id": "me/draw"})
    models = await api.get("/models")

    assert (faulted.status_code, served.status_code, models.status_code) == (503, 200, 200)
    assert [(r.operation, r.fault) for r in emu.requests()] == [
        ("pricing", "ingress_503"),
        ("pricing", None),
        ("models", None),
    ]
