"""App-id parsing and URL building: pure functions, no event loop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fal_client import AppId, Endpoints, parse_app_id
from fal_client._endpoints import join_path, origin_of


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("fal-ai/fast-sdxl", AppId("fal-ai", "fast-sdxl")),
        ("fal-ai/flux/dev", AppId("fal-ai", "flux", path="dev")),
        ("fal-ai/x/a/b", AppId("fal-ai", "x", path="a/b")),
        ("workflows/me/wf", AppId("me", "wf", namespace="workflows")),
        ("comfy/me/wf/run", AppId("me", "wf", path="run", namespace="comfy")),
        ("123-my-app", AppId("123", "my-app")),
        ("/fal-ai/fast-sdxl/", AppId("fal-ai", "fast-sdxl")),
    ],
)
def test_parse_app_id_accepts_every_documented_form(raw: str, expected: AppId) -> None:
    assert parse_app_id(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("fast-sdxl", "<appOwner>/<appId>"),
        ("", "empty"),
        ("https://fal.run/fal-ai/x", "not a URL"),
        ("fal-ai//x", "segment"),
        ("fal-ai/x?y=1", "not a URL"),
        ("fal-ai/../x", "segment"),
        ("fal ai/x", "segment"),
        ("workflows/only", "<appOwner>/<appId>"),
    ],
)
def test_parse_app_id_rejects_malformed_ids_naming_the_problem(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("?", r"\?")):
        parse_app_id(raw)


def test_parse_app_id_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        parse_app_id(123)  # type: ignore[arg-type]


segment = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,10}", fullmatch=True)


@given(owner=segment, alias=segment, path=st.lists(segment, max_size=3))
def test_app_id_round_trips_and_root_drops_the_path(
    owner: str, alias: str, path: list[str]
) -> None:
    raw = "/".join([owner, alias, *path])
    if owner in ("workflows", "comfy") or (
        not path and "-" in owner and owner.split("-")[0].isdigit()
    ):
        return
    app = parse_app_id(raw)
    assert app.full == raw
    assert app.root == f"{owner}/{alias}"
    assert parse_app_id(app.full) == app


def test_queue_urls_use_the_root_and_submit_keeps_the_path() -> None:
    e = Endpoints(queue_url="http://127.0.0.1:9/queue")
    app = parse_app_id("workflows/me/wf/sub")
    assert e.submit(app) == "http://127.0.0.1:9/queue/workflows/me/wf/sub"
    assert e.status(app, "r1") == "http://127.0.0.1:9/queue/workflows/me/wf/requests/r1/status"
    assert e.cancel(app, "r1").endswith("/workflows/me/wf/requests/r1/cancel")
    assert e.submit(app, webhook_url="http://h/x?a=1").endswith(
        "?fal_webhook=http%3A%2F%2Fh%2Fx%3Fa%3D1"
    )


def test_stream_path_is_not_appended_twice() -> None:
    assert join_path(parse_app_id("me/app/stream"), "/stream") == "me/app/stream"
    assert join_path(parse_app_id("me/app"), "/stream") == "me/app/stream"
    assert join_path(parse_app_id("me/app"), "") == "me/app"


def test_endpoints_from_env_prefers_full_urls_then_official_hosts() -> None:
    e = Endpoints.from_env({"FAL_RUN_HOST": "example.test"})
    assert e.run_url == "https://example.test"
    assert e.queue_url == "https://queue.example.test"
    e = Endpoints.from_env({"FAL_RUN_URL": "http://127.0.0.1:1/run/", "FAL_RUN_HOST": "x"})
    assert e.run_url == "http://127.0.0.1:1/run"
    assert Endpoints.from_env({}).rest_url == "https://rest.fal.ai"


@pytest.mark.parametrize("bad", ["fal.run", "ftp://fal.run", "https://fal.run/?x=1"])
def test_endpoints_reject_bad_base_urls(bad: str) -> None:
    with pytest.raises(ValueError, match="run_url"):
        Endpoints(run_url=bad)


def test_origin_makes_default_ports_explicit() -> None:
    assert origin_of("https://FAL.run/x") == "https://fal.run:443"
    assert origin_of("http://127.0.0.1:8000/run") == "http://127.0.0.1:8000"
    assert origin_of("https://fal.run.evil.test/") != origin_of("https://fal.run/")


def test_storage_urls_are_built_in_one_place() -> None:
    from fal_client._endpoints import (
        Endpoints,
        cdn_multipart_part,
        cdn_upload,
        signed_multipart_part,
    )

    rest = Endpoints(rest_url="http://127.0.0.1:9/rest")
    assert rest.storage_initiate(False).endswith(
        "/rest/storage/upload/initiate?storage_type=fal-cdn-v3"
    )
    assert "/storage/upload/initiate-multipart?" in rest.storage_initiate(True)
    assert (
        cdn_upload("https://v3.fal.media", multipart=False) == "https://v3.fal.media/files/upload"
    )
    assert cdn_upload("https://v3.fal.media", True) == "https://v3.fal.media/files/upload/multipart"
    assert cdn_multipart_part("https://cdn/x/", "u1", 3) == "https://cdn/x/multipart/u1/3"
    # The signature in the query survives; the part goes on the path.
    assert (
        signed_multipart_part("https://s.example/up/obj?sig=abc&exp=1", "complete")
        == "https://s.example/up/obj/complete?sig=abc&exp=1"
    )
