"""fal_client.webhooks against the emulator's real signed deliveries."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import fal_client
from fal_client import webhooks
from fal_client.testing import Emulator
from fal_client.webhooks import WebhookVerificationError

from ..emulator.receiver import Received, open_receiver

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    webhooks.clear_jwks_cache()
    yield
    webhooks.clear_jwks_cache()


@pytest.fixture
def jwks_url(emu: Emulator) -> str:
    return emu.env["FAL_REST_URL"] + "/.well-known/jwks.json"


def jwks_fetches(emu: Emulator) -> int:
    return sum(1 for r in emu.requests() if r.path.endswith("/.well-known/jwks.json"))


def deliver(
    client_options: dict[str, Any], emu: Emulator, arguments: Any, app: str = "fal-ai/echo"
) -> Received:
    """Submit a job with a webhook to a receiver on 127.0.0.1 and return what it received."""

    async def main() -> Received:
        async with open_receiver() as receiver, fal_client.AsyncClient(**client_options) as c:
            with anyio.fail_after(15):
                handle = await c.submit(app, arguments, webhook_url=receiver.url)
                await emu.wait_webhook_delivery_async(handle.request_id)
        [received] = receiver.received
        return received

    return anyio.run(main)


@pytest.fixture
def delivery(client_options: dict[str, Any], emu: Emulator) -> Received:
    return deliver(client_options, emu, {"hello": "world"})


def test_a_real_delivery_verifies(delivery: Received, jwks_url: str, emu: Emulator) -> None:
    hook = webhooks.verify(delivery.headers, delivery.body, jwks_url=jwks_url)
    assert hook.request_id == delivery.headers["x-fal-webhook-request-id"]
    assert hook.user_id == emu.webhook_user_id
    assert hook.body == delivery.body
    body = hook.json()
    assert body["status"] == "OK" and body["payload"] == {"hello": "world"}
    assert body["request_id"] == hook.request_id


@pytest.mark.anyio
async def test_verify_async_on_both_backends(
    client_options: dict[str, Any], emu: Emulator, jwks_url: str
) -> None:
    async with open_receiver() as receiver, fal_client.AsyncClient(**client_options) as c:
        with anyio.fail_after(15):
            handle = await c.submit("fal-ai/echo", {"n": 1}, webhook_url=receiver.url)
            await emu.wait_webhook_delivery_async(handle.request_id)
    [received] = receiver.received
    hook = await webhooks.verify_async(received.headers, received.body, jwks_url=jwks_url)
    assert hook.request_id == handle.request_id
    with pytest.raises(WebhookVerificationError) as raised:
        await webhooks.verify_async(received.headers, received.body + b" ", jwks_url=jwks_url)
    assert raised.value.code == "bad_signature"


def test_a_tampered_body_is_rejected(delivery: Received, jwks_url: str) -> None:
    tampered = delivery.body.replace(b'"world"', b'"w0rld"')
    assert tampered != delivery.body
    with pytest.raises(WebhookVerificationError) as raised:
        webhooks.verify(delivery.headers, tampered, jwks_url=jwks_url)
    assert raised.value.code == "bad_signature"
    assert raised.value.request_id == delivery.headers["x-fal-webhook-request-id"]
    assert isinstance(raised.value, fal_client.FalClientError)


def test_tampered_headers_are_rejected(delivery: Received, jwks_url: str) -> None:
    for name in ("x-fal-webhook-request-id", "x-fal-webhook-user-id"):
        headers = {**delivery.headers, name: delivery.headers[name] + "x"}
        with pytest.raises(WebhookVerificationError) as raised:
            webhooks.verify(headers, delivery.body, jwks_url=jwks_url)
        assert raised.value.code == "bad_signature"


def test_timestamps_outside_the_leeway_are_rejected(delivery: Received, jwks_url: str) -> None:
    stamp = int(delivery.headers["x-fal-webhook-timestamp"])
    for now in (stamp + 299, stamp - 299):
        webhooks.verify(delivery.headers, delivery.body, jwks_url=jwks_url, now=now)
    for now in (stamp + 301, stamp - 301):
        with pytest.raises(WebhookVerificationError) as raised:
            webhooks.verify(delivery.headers, delivery.body, jwks_url=jwks_url, now=now)
        assert raised.value.code == "stale_timestamp"
    webhooks.verify(
        delivery.headers, delivery.body, jwks_url=jwks_url, now=stamp + 900, leeway=1000
    )


def sign(key: Ed25519PrivateKey, request_id: str, user_id: str, stamp: int, body: bytes) -> str:
    message = f"{request_id}\n{user_id}\n{stamp}\n{hashlib.sha256(body).hexdigest()}"
    return key.sign(message.encode()).hex()


def test_a_signature_by_an_unknown_key_is_rejected(delivery: Received, jwks_url: str) -> None:
    headers = dict(delivery.headers)
    headers["x-fal-webhook-signature"] = sign(
        Ed25519PrivateKey.generate(),
        headers["x-fal-webhook-request-id"],
        headers["x-fal-webhook-user-id"],
        int(headers["x-fal-webhook-timestamp"]),
        delivery.body,
    )
    with pytest.raises(WebhookVerificationError) as raised:
        webhooks.verify(headers, delivery.body, jwks_url=jwks_url)
    assert raised.value.code == "bad_signature"


@pytest.mark.parametrize(
    "name",
    [
        "x-fal-webhook-request-id",
        "x-fal-webhook-user-id",
        "x-fal-webhook-timestamp",
        "x-fal-webhook-signature",
    ],
)
def test_a_missing_header_is_rejected_without_fetching_keys(
    name: str, delivery: Received, jwks_url: str, emu: Emulator
) -> None:
    headers = {k: v for k, v in delivery.headers.items() if k != name}
    before = jwks_fetches(emu)
    with pytest.raises(WebhookVerificationError) as raised:
        webhooks.verify(headers, delivery.body, jwks_url=jwks_url)
    assert raised.value.code == "missing_header"
    assert "-".join(p.capitalize() for p in name.split("-")) in str(raised.value)
    assert jwks_fetches(emu) == before


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-fal-webhook-timestamp", "soon"),
        ("x-fal-webhook-timestamp", "-5"),
        ("x-fal-webhook-signature", "zz"),
        ("x-fal-webhook-signature", "ab" * 63),
    ],
)
def test_malformed_headers_are_rejected(
    name: str, value: str, delivery: Received, jwks_url: str
) -> None:
    with pytest.raises(WebhookVerificationError) as raised:
        webhooks.verify({**delivery.headers, name: value}, delivery.body, jwks_url=jwks_url)
    assert raised.value.code == "bad_header"


def test_header_names_in_any_case_and_as_raw_pairs(delivery: Received, jwks_url: str) -> None:
    title = {k.title(): v for k, v in delivery.headers.items()}
    webhooks.verify(title, delivery.body, jwks_url=jwks_url)
    raw = [(k.encode(), v.encode()) for k, v in delivery.headers.items()]  # ASGI scope style
    webhooks.verify(raw, delivery.body, jwks_url=jwks_url)
    webhooks.verify(delivery.headers, delivery.body.decode(), jwks_url=jwks_url)


def test_the_jwks_is_cached_for_at_most_a_day(
    delivery: Received, jwks_url: str, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(webhooks, "_clock", lambda: clock[0])
    before = jwks_fetches(emu)
    for _ in range(5):
        webhooks.verify(delivery.headers, delivery.body, jwks_url=jwks_url)
    assert jwks_fetches(emu) == before + 1
    clock[0] += 24 * 3600 - 1
    webhooks.verify(delivery.headers, delivery.body, jwks_url=jwks_url)
    assert jwks_fetches(emu) == before + 1
    clock[0] += 2
    webhooks.verify(delivery.headers, delivery.body, jwks_url=jwks_url)
    assert jwks_fetches(emu) == before + 2


def test_a_rotated_key_is_picked_up_by_one_refetch(
    delivery: Received, jwks_url: str, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(webhooks, "_clock", lambda: clock[0])
    import base64

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    old = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    stale_jwks = {
        "keys": [{"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(old).decode()}]
    }
    webhooks._store(jwks_url, 200, json.dumps(stale_jwks).encode())  # cached before a rotation
    clock[0] += 120
    before = jwks_fetches(emu)
    webhooks.verify(delivery.headers, delivery.body, jwks_url=jwks_url)
    assert jwks_fetches(emu) == before + 1
    # A bad signature right after does not refetch again (at most once a minute).
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(delivery.headers, delivery.body + b"x", jwks_url=jwks_url)
    assert jwks_fetches(emu) == before + 1


def test_an_unreachable_jwks_is_reported(delivery: Received, emu: Emulator) -> None:
    with pytest.raises(WebhookVerificationError) as raised:
        webhooks.verify(
            delivery.headers, delivery.body, jwks_url=emu.env["FAL_REST_URL"] + "/no-such-jwks"
        )
    assert raised.value.code == "jwks_unavailable"
    with pytest.raises(WebhookVerificationError) as raised:
        webhooks.verify(delivery.headers, delivery.body, jwks_url="http://127.0.0.1:9/jwks.json")
    assert raised.value.code == "jwks_unavailable"


def test_verify_with_jwks_is_io_free(delivery: Received, emu: Emulator) -> None:
    jwks = json.loads(_get(emu.env["FAL_REST_URL"] + "/.well-known/jwks.json"))
    hook = webhooks.verify_with_jwks(delivery.headers, delivery.body, jwks)
    assert hook.timestamp == int(delivery.headers["x-fal-webhook-timestamp"])
    with pytest.raises(WebhookVerificationError) as raised:
        webhooks.verify_with_jwks(delivery.headers, delivery.body, {"keys": []})
    assert raised.value.code == "bad_signature"
    with pytest.raises(WebhookVerificationError) as raised:
        webhooks.verify_with_jwks(delivery.headers, delivery.body, {})
    assert raised.value.code == "jwks_unavailable"


def test_an_error_delivery_verifies_too(client_options: dict[str, Any], emu: Emulator) -> None:
    received = deliver(client_options, emu, {}, app="fal-ai/fail")
    hook = webhooks.verify(
        received.headers, received.body, jwks_url=emu.env["FAL_REST_URL"] + "/.well-known/jwks.json"
    )
    body = hook.json()
    assert body["request_id"] == hook.request_id and body["status"] == "ERROR"


def test_the_default_jwks_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAL_WEBHOOK_JWKS_URL", raising=False)
    monkeypatch.delenv("FAL_REST_URL", raising=False)
    assert webhooks.default_jwks_url() == webhooks.DEFAULT_JWKS_URL
    monkeypatch.setenv("FAL_REST_URL", "https://rest.fal.ai")
    assert webhooks.default_jwks_url() == webhooks.DEFAULT_JWKS_URL
    monkeypatch.setenv("FAL_REST_URL", "http://127.0.0.1:5/rest/")
    assert webhooks.default_jwks_url() == "http://127.0.0.1:5/rest/.well-known/jwks.json"
    monkeypatch.setenv("FAL_WEBHOOK_JWKS_URL", "https://example.test/jwks")
    assert webhooks.default_jwks_url() == "https://example.test/jwks"


def test_bad_arguments(delivery: Received, jwks_url: str) -> None:
    with pytest.raises(TypeError, match="raw bytes"):
        webhooks.verify(delivery.headers, {"a": 1}, jwks_url=jwks_url)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="leeway"):
        webhooks.verify(delivery.headers, delivery.body, jwks_url=jwks_url, leeway=-1)


def _get(url: str) -> bytes:
    import httpx

    return httpx.get(url, timeout=5).content


def test_time_is_real_by_default(delivery: Received, jwks_url: str) -> None:
    assert abs(int(delivery.headers["x-fal-webhook-timestamp"]) - time.time()) < 60
