"""The built-in ``fal-ai/...`` apps answer the inputs real fal apps take, the way they answer.

``fal-ai/fast-sdxl/image-to-image`` and ``fal-ai/any-llm`` are what the official client's own
end-to-end tests call (``tools/run_official_tests.py``); these tests pin what they rely on and
the errors around it, over real HTTP.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Dict, List, Tuple

import httpx
import pytest
from PIL import Image

from fal_client.testing import AppContext, Emulator
from fal_client.testing._inputs import cdn_file_id, decode_data_url

from .sse import iter_sse_json

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

I2I = "/run/fal-ai/fast-sdxl/image-to-image"


def png_data_url(size: Tuple[int, int], color: Tuple[int, int, int] = (0, 0, 0)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


async def fetch_image(client: httpx.AsyncClient, url: str) -> Image.Image:
    served = await client.get(url)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(served.content))


def error_types(response: httpx.Response) -> List[Tuple[Any, str]]:
    return [(tuple(item["loc"]), item["type"]) for item in response.json()["detail"]]


# --- fast-sdxl image-to-image -------------------------------------------------------------------


async def test_image_to_image_keeps_the_data_url_images_size_and_echoes_the_seed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        I2I, json={"image_url": png_data_url((300, 200)), "prompt": "a cat", "seed": 42}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["seed"] == 42 and body["prompt"] == "a cat"
    assert body["has_nsfw_concepts"] == [False] and "inference" in body["timings"]
    [image] = body["images"]
    assert (image["width"], image["height"]) == (300, 200)
    assert image["content_type"] == "image/png"
    assert (await fetch_image(client, image["url"])).size == (300, 200)


async def test_image_to_image_reads_a_cdn_url_through_the_queue(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    # The official test's path: text-to-image output in, result fetched by the app's root.
    first = (await client.post("/run/fal-ai/fast-sdxl", json={"prompt": "a cat"})).json()
    source = first["images"][0]
    submitted = await client.post(
        "/queue/fal-ai/fast-sdxl/image-to-image",
        json={"image_url": source["url"], "prompt": "an orange cat", "seed": 42, "num_images": 2},
    )
    request_id = submitted.json()["request_id"]
    await emulator.wait_job_status_async(request_id, status="COMPLETED")

    result = await client.get(f"/queue/fal-ai/fast-sdxl/requests/{request_id}")

    assert result.status_code == 200, result.text
    body = result.json()
    assert body["seed"] == 42 and len(body["images"]) == 2
    for image in body["images"]:
        assert (image["width"], image["height"]) == (source["width"], source["height"])


async def test_image_to_image_strength_decides_how_much_of_the_input_stays(
    client: httpx.AsyncClient,
) -> None:
    red = png_data_url((64, 64), (255, 0, 0))

    async def corner(strength: float) -> Tuple[int, int, int]:
        response = await client.post(
            I2I, json={"image_url": red, "prompt": "x", "seed": 1, "strength": strength}
        )
        assert response.status_code == 200, response.text
        image = await fetch_image(client, response.json()["images"][0]["url"])
        pixel = image.convert("RGB").getpixel((63, 63))
        assert isinstance(pixel, tuple)
        return (int(pixel[0]), int(pixel[1]), int(pixel[2]))

    faint, full = await corner(0.05), await corner(1.0)

    assert faint[0] > 230  # mostly the red input
    assert full != faint and full[0] < 230  # the input is gone


@pytest.mark.parametrize(
    ("arguments", "loc", "kind"),
    [
        ({"prompt": "x"}, ("body", "image_url"), "missing"),
        ({"image_url": "", "prompt": "x"}, ("body", "image_url"), "missing"),
        ({"image_url": "IMAGE"}, ("body", "prompt"), "missing"),
        ({"image_url": "IMAGE", "prompt": "x", "strength": 0}, ("body", "strength"), "value_error"),
        (
            {"image_url": "IMAGE", "prompt": "x", "num_images": 9},
            ("body", "num_images"),
            "value_error",
        ),
        (
            {"image_url": "data:image/png;base64,bm90IGFuIGltYWdl", "prompt": "x"},
            ("body", "image_url"),
            "image_load_error",
        ),
        (
            {"image_url": "data:image/png;base64,***", "prompt": "x"},
            ("body", "image_url"),
            "file_download_error",
        ),
        (
            {"image_url": "https://example.com/cat.png", "prompt": "x"},
            ("body", "image_url"),
            "file_download_error",
        ),
        (
            {"image_url": "CDN/files/unknown/cat.png", "prompt": "x"},
            ("body", "image_url"),
            "file_download_error",
        ),
    ],
)
async def test_image_to_image_refuses_bad_input_as_fal_does(
    emulator: Emulator,
    client: httpx.AsyncClient,
    arguments: Dict[str, Any],
    loc: Tuple[str, str],
    kind: str,
) -> None:
    if arguments.get("image_url") == "IMAGE":
        arguments = {**arguments, "image_url": png_data_url((8, 8))}
    elif str(arguments.get("image_url", "")).startswith("CDN/"):
        arguments = {**arguments, "image_url": emulator.url + "/cdn" + arguments["image_url"][3:]}

    response = await client.post(I2I, json=arguments)

    assert response.status_code == 422, response.text
    assert error_types(response) == [(loc, kind)]


async def test_fast_sdxl_answers_404_for_an_endpoint_it_does_not_have(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/run/fal-ai/fast-sdxl/no-such-endpoint", json={"prompt": "x"})

    assert response.status_code == 404


async def test_text_to_image_is_unchanged(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/run/fal-ai/fast-sdxl", json={"prompt": "a cat", "image_size": "square", "seed": 3}
    )

    body = response.json()
    assert body["seed"] == 3
    assert [(i["width"], i["height"]) for i in body["images"]] == [(128, 128)]


# --- any-llm ------------------------------------------------------------------------------------


async def test_any_llm_streams_partial_outputs_then_a_final_one(client: httpx.AsyncClient) -> None:
    arguments = {"model": "google/gemini-flash-1.5", "prompt": "Tell me a joke"}
    async with client.stream("POST", "/run/fal-ai/any-llm/stream", json=arguments) as response:
        assert response.status_code == 200
        events = [event async for event in iter_sse_json(response)]

    assert len(events) >= 2
    *partials, last = events
    assert partials and all(event["partial"] is True for event in partials)
    assert last["partial"] is False and last["error"] is None
    assert [event["output"] for event in partials][-1] == last["output"]
    outputs = [event["output"] for event in events]
    assert all(later.startswith(earlier) for earlier, later in zip(outputs, outputs[1:]))


async def test_any_llm_run_returns_the_final_output(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/run/fal-ai/any-llm", json={"prompt": "Tell me a joke", "reasoning": True}
    )

    body = response.json()
    assert body["partial"] is False and body["output"] and body["error"] is None
    assert isinstance(body["reasoning"], str)
    again = await client.post("/run/fal-ai/any-llm", json={"prompt": "Tell me a joke"})
    assert again.json()["output"] == body["output"] and again.json()["reasoning"] is None


@pytest.mark.parametrize(
    ("arguments", "field"),
    [({}, "prompt"), ({"prompt": "hi", "model": "gemini"}, "model")],
)
async def test_any_llm_refuses_bad_input(
    client: httpx.AsyncClient, arguments: Dict[str, Any], field: str
) -> None:
    response = await client.post("/run/fal-ai/any-llm", json=arguments)

    assert response.status_code == 422
    assert error_types(response)[0][0] == ("body", field)


# --- what apps can read -------------------------------------------------------------------------


async def test_apps_read_uploads_and_data_urls_but_nothing_else(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    @emulator.app("me/reader")
    def reader(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        try:
            return {"data": base64.b64encode(ctx.read_file(arguments["url"])).decode()}
        except ValueError as exc:
            return {"refused": str(exc)}

    async def read(url: str) -> Dict[str, Any]:
        body: Dict[str, Any] = (await client.post("/run/me/reader", json={"url": url})).json()
        if "data" in body:
            body["data"] = base64.b64decode(body["data"])
        return body

    saved = (await client.post("/run/fal-ai/fast-sdxl", json={"prompt": "x"})).json()
    png_url = saved["images"][0]["url"]

    assert await read("data:,hello%20world") == {"data": b"hello world"}
    assert await read("data:text/plain;base64,aGk=") == {"data": b"hi"}
    assert await read(png_url) == {"data": (await client.get(png_url)).content}
    assert (
        "only data: URLs and files on its own CDN" in (await read("http://10.0.0.1/x"))["refused"]
    )
    assert "expired" in (await read(f"{emulator.url}/cdn/files/nope/x.png"))["refused"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("data:,a%2Cb", ("text/plain;charset=US-ASCII", b"a,b")),
        ("data:image/png;base64,AAE=", ("image/png", b"\x00\x01")),
        ("DATA:image/png;name=x.png;BASE64,AAE=", ("image/png;name=x.png", b"\x00\x01")),
        ("data:text/plain;charset=utf-8,%C3%A9", ("text/plain;charset=utf-8", "\u00e9".encode())),
    ],
)
def test_decode_data_url(url: str, expected: Tuple[str, bytes]) -> None:
    assert decode_data_url(url) == expected


@pytest.mark.parametrize("url", ["data:image/png;base64", "data:;base64,A===", "http://x/y"])
def test_decode_data_url_refuses_malformed_urls(url: str) -> None:
    with pytest.raises(ValueError):
        decode_data_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:5/cdn/files/abc/cat.png", "abc"),
        ("HTTP://127.0.0.1:5/cdn/files/abc/cat.png?x=1", "abc"),
        ("http://127.0.0.1:6/cdn/files/abc/cat.png", None),
        ("http://127.0.0.1:5/cdn/files/abc", None),
        ("http://127.0.0.1:5/run/files/abc/cat.png", None),
        ("http://evil.example/cdn/files/abc/cat.png", None),
    ],
)
def test_cdn_file_id_only_for_this_emulators_files(url: str, expected: Any) -> None:
    assert cdn_file_id(url, ["http://127.0.0.1:5", ""]) == expected


async def test_the_platform_api_describes_the_built_in_apps(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    import jsonschema

    body = (await client.get("/api/v1/models", params={"expand": "openapi-3.0"})).json()
    documents = {model["endpoint_id"]: model["openapi"] for model in body["models"]}
    examples = {app.name: app.example for app in emulator.apps() if app.kind != "realtime"}
    assert set(documents) == set(examples)
    assert body["models"][0]["metadata"]["category"] == "llm"  # fal-ai/any-llm

    def validator(endpoint_id: str, part: str) -> jsonschema.Validator:
        document = documents[endpoint_id]
        name = {"input": "Input", "output": "Output"}[part]
        base = "".join(w.capitalize() for w in endpoint_id.split("/")[1].split("-"))
        ref = {"$ref": f"#/components/schemas/{base}{name}"}
        return jsonschema.Draft202012Validator({**ref, "components": document["components"]})

    # Each docstring's example is an input its schema accepts (the schemas are written by hand).
    for endpoint_id, example in examples.items():
        validator(endpoint_id, "input").validate(example)
    assert not validator("fal-ai/fast-sdxl", "input").is_valid({"prompt": "x", "num_images": 9})
    # ...and what the apps answer fits their output schemas.
    for endpoint_id in ("fal-ai/fast-sdxl", "fal-ai/any-llm"):
        result = await client.post(f"/run/{endpoint_id}", json=examples[endpoint_id])
        validator(endpoint_id, "output").validate(result.json())
