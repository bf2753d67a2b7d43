"""Webhook payloads, signatures and delivery.

fal POSTs a JSON body to the ``fal_webhook`` URL when a queued request completes. The body is
Python-style JSON (``", "`` and ``": "`` separators, keys sorted). Four ``X-Fal-Webhook-*``
headers carry an Ed25519 signature over ``request_id\\nuser_id\\ntimestamp\\nsha256_hex(body)``;
receivers verify it against the keys published as a JWKS. The emulator signs with its own key
and publishes it at ``/rest/.well-known/jwks.json``.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import time
from typing import Any, Callable, Dict, Optional
from urllib.parse import urlsplit

import anyio
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ._records import WebhookDelivery
from ._responses import StoredResponse
from ._sequence import next_seq

#: The user id the emulator signs webhooks as.
USER_ID = "fal-emulator-user"


class WebhookSigner:
    """An Ed25519 key pair that signs webhooks and is published as a JWKS."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        self.user_id = USER_ID

    @property
    def public_key_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def jwks(self) -> Dict[str, Any]:
        """The JWKS document; ``x`` keeps its ``=`` padding, as fal's live JWKS reportedly does."""
        x = base64.urlsafe_b64encode(self.public_key_bytes).decode()
        kid = hashlib.sha256(self.public_key_bytes).hexdigest()[:16]
        return {
            "keys": [
                {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA"}
            ]
        }

    def headers(
        self, request_id: str, body: bytes, timestamp: Optional[int] = None
    ) -> Dict[str, str]:
        """The four signature headers for a delivery of ``body``."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        message = "\n".join(
            [request_id, self.user_id, stamp, hashlib.sha256(body).hexdigest()]
        ).encode()
        return {
            "X-Fal-Webhook-Request-Id": request_id,
            "X-Fal-Webhook-User-Id": self.user_id,
            "X-Fal-Webhook-Timestamp": stamp,
            "X-Fal-Webhook-Signature": self._key.sign(message).hex(),
        }


def webhook_body(request_id: str, response: StoredResponse) -> bytes:
    """The body fal POSTs for a completed request (Python-style JSON, keys sorted)."""
    payload = response.json()
    body: Dict[str, Any] = {
        "error": response.error if response.failed else None,
        "gateway_request_id": request_id,
        "payload": payload,
        "request_id": request_id,
        "status": "ERROR" if response.failed else "OK",
    }
    if payload is None and response.body:
        body["payload_error"] = "Response payload is not JSON serializable"
    return json.dumps(body, sort_keys=True).encode()


def is_loopback_target(url: str) -> bool:
    """Whether ``url`` is an http(s) URL whose host is a loopback address or ``localhost``.

    The emulator never sends traffic off the machine: names other than ``localhost`` are not
    resolved, only literal loopback addresses pass.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


class Delivery:
    """The mutable state of one webhook delivery (the event loop thread updates it)."""

    def __init__(
        self, url: str, request_id: str, body: bytes, headers: Dict[str, str], *, app: str = ""
    ) -> None:
        self.url = url
        self.app = app
        self.created_at = time.time()
        self.seq = next_seq()
        self.request_id = request_id
        self.body = body
        self.headers = headers
        self.status_code: Optional[int] = None
        self.error: Optional[str] = None
        self.attempts = 0
        self.delivered = False
        self.finished = False

    def info(self) -> WebhookDelivery:
        """An immutable snapshot."""
        return WebhookDelivery(
            url=self.url,
            request_id=self.request_id,
            status_code=self.status_code,
            error=self.error,
            attempts=self.attempts,
            body=self.body.decode(),
            headers=dict(self.headers),
            delivered=self.delivered,
            finished=self.finished,
            app=self.app,
            created_at=self.created_at,
        )


async def deliver(
    client: httpx.AsyncClient,
    delivery: Delivery,
    *,
    max_attempts: int,
    backoff: float,
    timeout: float,
    on_change: Callable[[Delivery], None],
) -> None:
    """POST ``delivery`` until a 2xx answer or ``max_attempts`` tries, doubling the backoff."""
    headers = {"Content-Type": "application/json", **delivery.headers}
    for attempt in range(max_attempts):
        if attempt:
            await anyio.sleep(backoff * 2 ** (attempt - 1))
        delivery.attempts += 1
        try:
            response = await client.post(
                delivery.url, content=delivery.body, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            delivery.status_code = None
            delivery.error = f"{type(exc).__name__}: {exc}"
        else:
            delivery.status_code = response.status_code
            if response.is_success:
                delivery.error = None
                delivery.delivered = True
                break
            delivery.error = f"receiver answered {response.status_code}"
        on_change(delivery)
    delivery.finished = True
    on_change(delivery)
