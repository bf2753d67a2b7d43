"""Webhooks: fal-shaped body, signed with Ed25519 exactly as fal signs, JWKS, retries."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any, Dict

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fal_client.testing import AppContext, AppError, Emulator

from .receiver import Received, open_receiver

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


def verify_like_a_receiver(jwks: Dict[str, Any], delivery: Received) -> None:
    """Verify a delivery the way fal's docs tell webhook receivers to."""
    headers = delivery.headers
    timestamp = int(headers["x-fal-webhook-timestamp"])
    assert abs(time.time() - timestamp) <= 300
    message = "\n".join(
        [
            headers["x-fal-webhook-request-id"],
            headers["x-fal-webhook-user-id"],
            headers["x-fal-webhook-timestamp"],
            hashlib.sha256(delivery.body).hexdigest(),
        ]
    ).encode()
    signature = bytes.fromhex(headers["x-fal-webhook-signature"])
    for key in jwks["keys"]:
        assert key["kty"] == "OKP" and key["crv"] == "Ed25519"
        public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(key["x"]))
        try:
            public.verify(signature, message)
            return
        except InvalidSignature:
            continue
    raise AssertionError("no JWKS key verifies the webhook signature")


async def test_completion_webhook_is_fal_shaped_and_verifiable(
    emulator: Emulator, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    async with open_receiver() as receiver:
        submitted = await client.post(
            "/queue/fal-ai/echo", json={"hello": "world"}, params={"fal_webhook": receiver.url}
        )
        request_id = submitted.json()["request_id"]
        delivery = await emulator.wait_webhook_delivery_async(request_id)

    [received] = receiver.received
    assert received.method == "POST" and received.path == "/hook"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["x-fal-webhook-request-id"] == request_id
    assert received.body == (
        b'{"error": null, "gateway_request_id": "' + request_id.encode() + b'", '
        b'"payload": {"hello": "world"}, "request_id": "' + request_id.encode() + b'", '
        b'"status": "OK"}'
    )
    jwks = (await anonymous.get("/rest/.well-known/jwks.json")).json()
    verify_like_a_receiver(jwks, received)
    assert delivery.delivered and delivery.status_code == 200 and delivery.attempts == 1
    assert delivery.body == received.body.decode()
    assert emulator.webhooks() == [delivery]


async def test_a_tampered_body_does_not_verify(
    emulator: Emulator, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    async with open_receiver() as receiver:
        await client.post("/queue/fal-ai/echo", json={}, params={"fal_webhook": receiver.url})
        await emulator.wait_webhook_delivery_async()
    jwks = (await anonymous.get("/rest/.well-known/jwks.json")).json()
    [received] = receiver.received
    received.body = received.body.replace(b"OK", b"KO")

    with pytest.raises(AssertionError, match="no JWKS key"):
        verify_like_a_receiver(jwks, received)


async def test_failed_jobs_report_error_with_the_error_body(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    @emulator.app("me/refuses")
    async def refuses(arguments: Dict[str, Any], ctx: AppContext) -> None:
        raise AppError(422, [{"loc": ["body", "x"], "msg": "bad", "type": "value_error"}])

    async with open_receiver() as receiver:
        await client.post("/queue/me/refuses", json={}, params={"fal_webhook": receiver.url})
        await emulator.wait_webhook_delivery_async()

    body = json.loads(receiver.received[0].body)
    assert body["status"] == "ERROR"
    assert body["error"] == "Invalid status code: 422"
    assert body["payload"] == {
        "detail": [{"loc": ["body", "x"], "msg": "bad", "type": "value_error"}]
    }


async def test_delivery_is_retried_with_backoff(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    async with open_receiver() as receiver:
        receiver.script = [500, 503]
        await client.post("/queue/fal-ai/echo", json={}, params={"fal_webhook": receiver.url})
        delivery = await emulator.wait_webhook_delivery_async()

    assert [r.headers["x-fal-webhook-request-id"] for r in receiver.received] == [
        delivery.request_id
    ] * 3
    assert delivery.delivered and delivery.attempts == 3 and delivery.error is None


async def test_delivery_gives_up_after_bounded_attempts() -> None:
    async with Emulator(webhook_max_attempts=2, webhook_backoff=0.01) as emulator:
        async with (
            httpx.AsyncClient(
                base_url=emulator.url, headers={"Authorization": f"Key {emulator.key}"}
            ) as http,
            open_receiver() as receiver,
        ):
            receiver.script = [500, 500, 500]
            await http.post("/queue/fal-ai/echo", json={}, params={"fal_webhook": receiver.url})
            delivery = await emulator.wait_webhook_delivery_async()

    assert len(receiver.received) == 2
    assert not delivery.delivered and delivery.finished and delivery.status_code == 500
    assert delivery.error == "receiver answered 500"


async def test_unreachable_receivers_are_recorded() -> None:
    async with open_receiver() as receiver:
        url = receiver.url  # closed once the block ends: nothing listens there any more
    emulator_fast = Emulator(webhook_max_attempts=1)
    async with emulator_fast:
        async with httpx.AsyncClient(
            base_url=emulator_fast.url, headers={"Authorization": f"Key {emulator_fast.key}"}
        ) as http:
            await http.post("/queue/fal-ai/echo", json={}, params={"fal_webhook": url})
            delivery = await emulator_fast.wait_webhook_delivery_async()

    assert not delivery.delivered and delivery.status_code is None
    assert delivery.error is not None and "ConnectError" in delivery.error


async def test_non_loopback_webhooks_are_refused_not_sent(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    job = await client.post(
        "/queue/fal-ai/echo", json={}, params={"fal_webhook": "https://example.com/hook"}
    )

    delivery = await emulator.wait_webhook_delivery_async(job.json()["request_id"])

    assert delivery.attempts == 0 and not delivery.delivered
    assert delivery.error is not None and "loopback" in delivery.error


async def test_jwks_matches_the_python_key(
    emulator: Emulator, anonymous: httpx.AsyncClient
) -> None:
    jwks = (await anonymous.get("/rest/.well-known/jwks.json")).json()

    [key] = jwks["keys"]
    assert base64.urlsafe_b64decode(key["x"]) == emulator.webhook_public_key
    assert key["x"].endswith("=")  # padded, like fal's live JWKS
