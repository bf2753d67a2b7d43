"""The platform resource and ``validate=True`` against a fake platform API (no server).

What the client asks (paths, repeated ids, cursors, the key), how it reads the answers, and
that validation refuses bad input before anything is sent, fetches a schema once, and never
blocks a call when there is no schema.
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest

import fal_client
from fal_client._schema_cache import SCHEMAS

from .fake_platform import API, FakePlatform, async_client, sync_client, text_to_image_openapi

APP = "fal-ai/flux/dev"

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def fresh_schema_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The store is process-wide and keyed by the platform URL, which every fake shares.
    SCHEMAS.clear()
    monkeypatch.setenv("FAL_SCHEMA_CACHE_DIR", "")


def only_file(directory: Path) -> Path:
    (path,) = directory.iterdir()
    return path


def read_entry(path: Path) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(path.read_text())
    return entry


def write_text(path: Path, text: str) -> None:
    path.write_text(text)


def fake_with_model() -> FakePlatform:
    return FakePlatform(docs={APP: text_to_image_openapi(APP)}, prices={APP: (0.025, "image")})


async def test_models_asks_fifty_ids_at_a_time_in_the_order_given() -> None:
    ids = [f"owner/app-{i}" for i in range(120)]
    fake = FakePlatform(docs={i: text_to_image_openapi(i) for i in ids})
    async with async_client(fake) as client:
        models = await client.platform.models([*reversed(ids), ids[0]], openapi=True)
    assert [m.endpoint_id for m in models] == list(reversed(ids))
    asked = [r.url.params.get_list("endpoint_id") for r in fake.platform_requests()]
    assert [len(a) for a in asked] == [50, 50, 20]
    assert all(r.url.params.get("expand") == "openapi-3.0" for r in fake.platform_requests())
    assert models[0].display_name == ids[-1].upper() and models[0].openapi is not None


async def test_platform_requests_carry_the_key_to_the_platform_origin() -> None:
    fake = fake_with_model()
    async with async_client(fake) as client:
        await client.platform.prices(APP)
    (request,) = fake.platform_requests()
    assert str(request.url).startswith(f"{API}/models/pricing?")
    assert request.headers["authorization"] == "Key secret-key"


async def test_model_of_an_unlisted_endpoint_raises_naming_it() -> None:
    async with async_client(fake_with_model()) as client:
        with pytest.raises(fal_client.UnknownEndpointError, match="fal-ai/flux/deb") as info:
            await client.platform.model("fal-ai/flux/deb")
    assert info.value.app == "fal-ai/flux/deb"
    assert isinstance(info.value, LookupError)


async def test_prices_and_estimates() -> None:
    fake = fake_with_model()
    async with async_client(fake) as client:
        prices = await client.platform.prices([APP, "fal-ai/unpriced"])
        estimate = await client.platform.estimate({APP: 100})
        by_units = await client.platform.estimate(units={APP: 3.5})
    assert prices == {APP: fal_client.Price(APP, 0.025, "image", "USD")}
    assert estimate.total_cost == pytest.approx(2.5) and estimate.currency == "USD"
    assert estimate.estimate_type == "historical_api_price"
    sent = json.loads(fake.platform_requests()[-1].content)
    assert sent == {"estimate_type": "unit_price", "endpoints": {APP: {"unit_quantity": 3.5}}}
    assert by_units.total_cost == pytest.approx(0.0875)


@pytest.mark.parametrize(
    ("calls", "units", "message"),
    [
        (None, None, "exactly one"),
        ({APP: 1}, {APP: 1}, "exactly one"),
        ({}, None, "non-empty"),
        ({APP: -1}, None, r"calls\['fal-ai/flux/dev'\] must be a whole number"),
        ({APP: 1.5}, None, "whole number"),
        ({"not an id": 1}, None, "app id"),
    ],
)
async def test_bad_estimate_requests_are_refused_before_sending(
    calls: Any, units: Any, message: str
) -> None:
    fake = fake_with_model()
    async with async_client(fake) as client:
        with pytest.raises((ValueError, TypeError), match=message):
            await client.platform.estimate(calls, units=units)
    assert fake.requests == []


async def test_history_follows_the_cursor_and_reads_times() -> None:
    items = [
        {
            "request_id": f"req-{i}",
            "endpoint_id": APP,
            "sent_at": f"2026-11-30T10:00:0{i}.123456789Z",
            "started_at": None,
            "ended_at": "2026-11-30T10:00:09+00:00",
            "status_code": 200,
            "duration": "1.5",
            "json_input": {"prompt": str(i)},
        }
        for i in range(5)
    ]
    fake = FakePlatform(history=items)
    since = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
    async with async_client(fake) as client:
        got = [
            item
            async for item in client.platform.history(
                APP, since=since, status="success", payloads=True, page_size=2
            )
        ]
    assert [g.request_id for g in got] == [f"req-{i}" for i in range(5)]
    assert len(fake.platform_requests()) == 3
    first = fake.platform_requests()[0].url.params
    assert first["start"] == "2026-11-30T09:00:00.000Z"
    assert first["status"] == "success" and first["expand"] == "payloads"
    assert first["limit"] == "2"
    assert got[0].sent_at == datetime(2026, 11, 30, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert got[0].started_at is None and got[0].duration == 1.5 and got[0].succeeded
    assert got[3].json_input == {"prompt": "3"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"status": "failed"}, "status must be one of"),
        ({"since": "yesterday"}, "since must be a datetime or a timedelta"),
        ({"since": timedelta(hours=-1)}, "that long ago"),
        ({"page_size": 500}, "page_size must be an int from 1 to 100"),
        ({"sort_by": "sent_at"}, "sort_by"),
    ],
)
def test_bad_history_filters_raise_when_called(options: dict[str, Any], message: str) -> None:
    fake = FakePlatform()
    client = async_client(fake)
    with pytest.raises((ValueError, TypeError), match=message):
        client.platform.history(APP, **options)
    assert fake.requests == []


async def test_validate_lists_every_problem_with_its_path() -> None:
    async with async_client(fake_with_model()) as client:
        with pytest.raises(fal_client.InputValidationError) as info:
            await client.platform.validate(
                APP,
                {
                    "promt": "a cat",
                    "num_images": 9,
                    "image_size": {"width": 9000},
                    "output_format": "gif",
                    "guidance_scale": 0,
                    "seed": "x",
                },
            )
    problems = {p.path: p for p in info.value.problems}
    assert set(problems) == {
        "$.promt",
        "$.prompt",
        "$.num_images",
        "$.image_size.width",
        "$.output_format",
        "$.guidance_scale",
        "$.seed",
    }
    assert "did you mean 'prompt'?" in problems["$.promt"].message
    assert problems["$.prompt"].message == "required key is missing"
    assert problems["$.output_format"].allowed == ("jpeg", "png")
    assert "at most 4" in problems["$.num_images"].message
    assert "at most 4096" in problems["$.image_size.width"].message
    assert "more than 0" in problems["$.guidance_scale"].message
    assert "expected integer" in problems["$.seed"].message
    text = str(info.value)
    assert "7 problems" in text and "nothing was sent" in text and APP in text
    assert isinstance(info.value, ValueError) and isinstance(info.value, fal_client.FalClientError)


async def test_valid_arguments_pass_nullable_and_union_branches() -> None:
    async with async_client(fake_with_model()) as client:
        for arguments in (
            {"prompt": "a"},
            {"prompt": "a", "seed": None, "image_size": "square"},
            {"prompt": "a", "image_size": {"width": 512, "height": 512}, "sync_mode": True},
        ):
            await client.platform.validate(APP, arguments)


async def test_validate_true_refuses_before_anything_is_sent_and_fetches_once() -> None:
    fake = fake_with_model()
    async with async_client(fake) as client:
        with pytest.raises(fal_client.InputValidationError):
            await client.submit(APP, {"prompt": "a", "num_images": 0}, validate=True)
        assert fake.queue_requests() == []
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(lambda: client.submit(APP, {"prompt": "ok"}, validate=True))
    assert len(fake.queue_requests()) == 20
    assert len(fake.platform_requests()) == 1


async def test_validate_true_uses_the_sub_path_endpoint() -> None:
    fake = fake_with_model()
    async with async_client(fake) as client:
        with pytest.raises(fal_client.InputValidationError):
            await client.run("fal-ai/flux", {"prompt": 1}, path="dev", validate=True)
    assert fake.platform_requests()[0].url.params["endpoint_id"] == APP


async def test_no_schema_warns_once_and_sends_unvalidated() -> None:
    fake = fake_with_model()
    fake.platform_status = 503
    async with async_client(fake) as client:
        with pytest.warns(fal_client.SchemaUnavailableWarning, match="unvalidated"):
            await client.submit(APP, {"anything": 1}, validate=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            await client.submit(APP, {"anything": 2}, validate=True)
    assert len(fake.queue_requests()) == 2
    # The failure is remembered: the second call did not ask again.
    assert len(fake.platform_requests()) == 1


async def test_unknown_endpoint_sends_unvalidated_with_a_warning() -> None:
    fake = fake_with_model()
    async with async_client(fake) as client:
        with pytest.warns(fal_client.SchemaUnavailableWarning, match="me/private"):
            await client.submit("me/private", {"x": 1}, validate=True)
    assert len(fake.queue_requests()) == 1


async def test_validation_sees_files_to_upload_as_urls() -> None:
    fake = fake_with_model()
    async with async_client(fake, auto_upload=True) as client:
        with pytest.raises(fal_client.InputValidationError) as info:
            await client.submit(APP, {"prompt": 3, "image_url": b"png bytes"}, validate=True)
    assert [p.path for p in info.value.problems] == ["$.prompt"]
    assert fake.queue_requests() == []


async def test_bad_validate_flag_is_refused() -> None:
    async with async_client(fake_with_model()) as client:
        with pytest.raises(TypeError, match="validate must be True or False"):
            await client.submit(APP, {"prompt": "a"}, validate="yes")  # type: ignore[arg-type]


async def test_schemas_are_kept_on_disk_and_reused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAL_SCHEMA_CACHE_DIR", str(tmp_path))
    fake = fake_with_model()
    async with async_client(fake) as client:
        first = await client.platform.schema(APP)
        SCHEMAS.clear()  # as a new process would start
        second = await client.platform.schema(APP)
    assert len(fake.platform_requests()) == 1
    assert first.input == second.input == {"$ref": "#/components/schemas/TextToImageInput"}
    assert second.output == {"$ref": "#/components/schemas/TextToImageOutput"}
    assert read_entry(only_file(tmp_path))["endpoint_id"] == APP


async def test_a_stale_or_broken_disk_entry_is_fetched_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAL_SCHEMA_CACHE_DIR", str(tmp_path))
    fake = fake_with_model()
    async with async_client(fake) as client:
        await client.platform.schema(APP)
        cached = only_file(tmp_path)
        entry = read_entry(cached)
        entry["fetched_at"] -= 2 * 24 * 3600
        write_text(cached, json.dumps(entry))
        SCHEMAS.clear()
        await client.platform.schema(APP)
        write_text(cached, "{half a file")
        SCHEMAS.clear()
        await client.platform.schema(APP)
    assert len(fake.platform_requests()) == 3


def test_the_sync_client_has_the_same_platform_api() -> None:
    fake = fake_with_model()
    fake.history = [{"request_id": "a", "status_code": 500}, {"request_id": "b"}]
    with sync_client(fake) as client:
        assert client.platform is client.platform
        assert [m.endpoint_id for m in client.platform.models(APP)] == [APP]
        assert client.platform.prices(APP)[APP].unit == "image"
        items = list(client.platform.history(APP))
        with pytest.raises(fal_client.InputValidationError):
            client.submit(APP, {"prompt": 1}, validate=True)
    assert [i.request_id for i in items] == ["a", "b"]
    assert items[0].endpoint_id == APP and not items[0].succeeded
