"""The emulator's I/O-free pieces, tested without an event loop."""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest

from fal_client.testing._app_ids import (
    normalize_app_name,
    parse_queue_request_path,
    split_endpoint,
)
from fal_client.testing._faults import FaultSet, make_rule
from fal_client.testing._responses import error, start_timeout, success
from fal_client.testing._scheduler import AppQueue
from fal_client.testing._tokens import TokenAuthority
from fal_client.testing._webhooks import WebhookSigner, is_loopback_target, webhook_body


def test_queue_positions_and_removal_renumbering() -> None:
    queue: AppQueue[str] = AppQueue(workers=1)
    for name in "abcd":
        queue.push(name)
    queue.push("low", priority="low")

    assert [queue.position(name) for name in ("a", "b", "c", "d", "low")] == [0, 1, 2, 3, 4]
    assert queue.remove("b") and not queue.remove("b")
    assert [queue.position(name) for name in ("a", "c", "d", "low")] == [0, 1, 2, 3]
    assert queue.take() == "a" and queue.take() is None  # one worker, busy
    assert [queue.position(name) for name in ("c", "d", "low")] == [0, 1, 2]
    queue.push("e")
    assert queue.position("e") == 2 and queue.position("low") == 3
    queue.release()
    assert [queue.take() for _ in range(1)] == ["c"]
    assert queue.waiting() == ["d", "e", "low"]
    assert queue.position("gone") is None


def test_queue_needs_a_worker() -> None:
    with pytest.raises(ValueError):
        AppQueue(workers=0)


@pytest.mark.parametrize(
    ("segments", "root", "alias", "rest"),
    [
        (["fal-ai", "flux"], "fal-ai/flux", "flux", ()),
        (["fal-ai", "flux", "dev"], "fal-ai/flux", "flux", ("dev",)),
        (["workflows", "me", "flow", "x"], "workflows/me/flow", "flow", ("x",)),
        (["123-alias"], "123/alias", "alias", ()),
        (["123-alias", "requests", "id"], "123/alias", "alias", ("requests", "id")),
    ],
)
def test_split_endpoint(segments: list[str], root: str, alias: str, rest: tuple[str, ...]) -> None:
    endpoint = split_endpoint(segments)

    assert endpoint is not None
    assert (endpoint.root, endpoint.alias, endpoint.rest) == (root, alias, rest)


@pytest.mark.parametrize("segments", [[], ["fast-sdxl"], ["workflows", "me"], [""]])
def test_split_endpoint_rejects_non_ids(segments: list[str]) -> None:
    assert split_endpoint(segments) is None


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("a/b/requests/id", "result"),
        ("a/b/requests/id/status", "status"),
        ("a/b/requests/id/status/stream", "status_stream"),
        ("a/b/requests/id/cancel", "cancel"),
        ("a/b/sub/requests/id/status", "with_subpath"),
        ("a/b/requests/id/other", "unknown"),
        ("a/b/sub", None),
    ],
)
def test_parse_queue_request_path(path: str, action: Optional[str]) -> None:
    endpoint = split_endpoint(path.split("/"))
    assert endpoint is not None

    parsed = parse_queue_request_path(endpoint)

    assert (parsed.action if parsed else None) == action


def test_normalize_app_name() -> None:
    assert normalize_app_name("/me/app/") == "me/app"
    assert normalize_app_name("42-thing") == "42/thing"
    for bad in ("", "lonely", "workflows/me"):
        with pytest.raises(ValueError):
            normalize_app_name(bad)


def test_fault_counts_and_targets() -> None:
    faults = FaultSet()
    faults.add(make_rule("rate_limit", app="me/x", count=1))
    faults.add(make_rule("latency", params={"seconds": 0.5}))

    other = faults.choose("run", ("me/y",))
    first = faults.choose("run", ("me/x",))
    second = faults.choose("run", ("me/x",))

    assert (other.kind, other.delay) == (None, 0.5)
    assert (first.kind, first.delay) == ("rate_limit", 0.5)
    assert second.kind is None


def test_kind_specific_faults_stay_on_their_operations() -> None:
    faults = FaultSet()
    faults.add(make_rule("sse_cut"))

    assert faults.choose("run", ()).kind is None
    assert faults.choose("stream", ()).kind == "sse_cut"
    assert faults.choose("status_stream", ()).kind == "sse_cut"


def test_error_responses_carry_fal_fields() -> None:
    timeout = start_timeout()
    validation = error(422, [{"loc": ["body"], "msg": "x", "type": "y"}])

    assert dict(timeout.headers)["x-fal-request-timeout-type"] == "user"
    assert timeout.json() == {"detail": "Request timed out", "error_type": "request_timeout"}
    assert validation.error == "Invalid status code: 422" and validation.error_type is None
    assert not success({"ok": 1}).failed


def test_webhook_body_is_python_style_json_with_keys_sorted_at_every_level() -> None:
    body = webhook_body("rid", success({"b": 1, "a": [1, 2]}))

    assert body == (
        b'{"error": null, "gateway_request_id": "rid", "payload": {"a": [1, 2], "b": 1}, '
        b'"request_id": "rid", "status": "OK"}'
    )


def test_webhook_headers_are_hex_ed25519() -> None:
    signer = WebhookSigner()

    headers = signer.headers("rid", b"{}", timestamp=1700000000)

    assert headers["X-Fal-Webhook-Timestamp"] == "1700000000"
    assert len(bytes.fromhex(headers["X-Fal-Webhook-Signature"])) == 64


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:9/x", True),
        ("http://localhost/x", True),
        ("http://[::1]:80/x", True),
        ("https://example.com/x", False),
        ("http://10.0.0.1/x", False),
        ("ftp://127.0.0.1/x", False),
        ("not a url", False),
    ],
)
def test_only_loopback_webhook_targets(url: str, allowed: bool) -> None:
    assert is_loopback_target(url) is allowed


def test_tokens_round_trip_and_reject_forgeries() -> None:
    authority = TokenAuthority()
    token = authority.issue_realtime_token(["echo"], 60)
    header, payload, _ = token.split(".")

    assert authority.realtime_token_allows(token, "echo")
    assert not authority.realtime_token_allows(token, "other")
    assert not authority.realtime_token_allows(f"{header}.{payload}.AAAA", "echo")
    assert not authority.realtime_token_allows("garbage", "echo")
    expired = authority.issue_realtime_token(["echo"], -1)
    assert not authority.realtime_token_allows(expired, "echo")
    cdn, _, _ = authority.issue_cdn_token()
    assert authority.cdn_token_valid(cdn) and not authority.cdn_token_valid("nope")
    signature = authority.sign_upload("u1", 2_000_000_000)
    assert authority.upload_signature_valid("u1", "2000000000", signature)
    assert not authority.upload_signature_valid("u2", "2000000000", signature)
    assert not authority.upload_signature_valid("u1", "1", authority.sign_upload("u1", 1))


def test_json_helper_shapes(tmp_path: Any) -> None:
    assert json.loads(success([1, 2]).body) == [1, 2]
