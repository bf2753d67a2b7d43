"""Verify that a webhook really comes from fal: Ed25519 signatures checked against fal's JWKS.

fal signs each webhook delivery (``fal-protocol.md`` section 8). Four headers come with it:
``X-Fal-Webhook-Request-Id``, ``X-Fal-Webhook-User-Id``, ``X-Fal-Webhook-Timestamp`` (unix
seconds) and ``X-Fal-Webhook-Signature`` (hex of a 64-byte Ed25519 signature) over::

    request_id + "\\n" + user_id + "\\n" + timestamp + "\\n" + hex(sha256(raw body))

The public keys are published as a JWKS (``{"keys": [{"kty": "OKP", "crv": "Ed25519",
"x": ...}]}``); every key is tried. Use it in any web framework::

    from fal_client import webhooks

    def handle(request):                       # Flask, Django, ... (sync)
        hook = webhooks.verify(request.headers, request.get_data())
        result = hook.json()

    async def handle(request):                 # Starlette, FastAPI, ... (asyncio or trio)
        hook = await webhooks.verify_async(request.headers, await request.body())

Both variants exist because the only I/O is fetching the JWKS, and a receiver runs in whatever
model its framework has: ``verify`` would block an event loop for that fetch (rarely: the keys are
cached), and ``verify_async`` cannot be called from sync code. They share the cache and every
check; ``verify_with_jwks`` is the I/O-free core, for callers that fetch the keys themselves.

The JWKS is cached per URL for at most 24 hours. A signature no cached key verifies triggers one
refetch (at most once a minute per URL), so a key rotation is picked up at once.

Needs the ``cryptography`` package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

from ._errors import FalClientError, describe_exception

__all__ = [
    "DEFAULT_JWKS_URL",
    "JWKS_MAX_AGE_SECONDS",
    "VerifiedWebhook",
    "WebhookVerificationError",
    "clear_jwks_cache",
    "default_jwks_url",
    "verify",
    "verify_async",
    "verify_with_jwks",
]

DEFAULT_JWKS_URL = "https://rest.alpha.fal.ai/.well-known/jwks.json"
"""Where fal publishes its webhook keys."""

JWKS_MAX_AGE_SECONDS = 24 * 3600.0
"""The longest a fetched JWKS is trusted before it is fetched again."""

DEFAULT_LEEWAY_SECONDS = 300.0
_REFETCH_MIN_INTERVAL = 60.0
_FETCH_TIMEOUT = 10.0

_REQUEST_ID = "x-fal-webhook-request-id"
_USER_ID = "x-fal-webhook-user-id"
_TIMESTAMP = "x-fal-webhook-timestamp"
_SIGNATURE = "x-fal-webhook-signature"

HeadersLike = Union[Mapping[str, str], Iterable[tuple[Union[str, bytes], Union[str, bytes]]]]


class WebhookVerificationError(FalClientError):
    """A webhook failed verification: answer it with 401 and do not act on it.

    Attributes:
        code: what failed, one of ``"missing_header"``, ``"bad_header"``, ``"stale_timestamp"``,
            ``"bad_signature"`` (tampered body or headers, or signed by a key not in the JWKS),
            ``"jwks_unavailable"`` (the keys could not be fetched or read).
    """

    def __init__(self, code: str, message: str, *, request_id: Optional[str] = None):
        super().__init__(message, request_id=request_id)
        self.code = code


@dataclass(frozen=True)
class VerifiedWebhook:
    """A webhook whose signature checked out.

    Attributes:
        request_id: the fal request the webhook is about.
        user_id: the fal user it was signed for.
        timestamp: when fal signed it (unix seconds).
        body: the raw body, exactly as verified.
    """

    request_id: str
    user_id: str
    timestamp: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON: ``{"request_id", "gateway_request_id", "status", "payload", ...}``."""
        return json.loads(self.body)


def default_jwks_url() -> str:
    """The JWKS URL used when none is passed.

    ``FAL_WEBHOOK_JWKS_URL`` if set; else, when ``FAL_REST_URL`` points somewhere other than
    production (the emulator, for one), ``{FAL_REST_URL}/.well-known/jwks.json``; else
    ``DEFAULT_JWKS_URL``.
    """
    explicit = os.environ.get("FAL_WEBHOOK_JWKS_URL")
    if explicit:
        return explicit
    rest = os.environ.get("FAL_REST_URL")
    if rest and rest.rstrip("/") != "https://rest.fal.ai":
        return rest.rstrip("/") + "/.well-known/jwks.json"
    return DEFAULT_JWKS_URL


# --- the I/O-free core ---------------------------------------------------------------------------
def verify_with_jwks(
    headers: HeadersLike,
    body: Union[bytes, str],
    jwks: Mapping[str, Any],
    *,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    now: Optional[float] = None,
) -> VerifiedWebhook:
    """Verify a delivery against a JWKS document you already have.

    Args:
        headers: the request headers (any mapping or list of pairs; names in any case).
        body: the raw request body, byte for byte as received (do not re-serialise the JSON).
        jwks: the JWKS document, ``{"keys": [...]}``.
        leeway: the largest accepted difference in seconds between the timestamp and ``now``.
        now: the current unix time (default ``time.time()``).

    Raises:
        WebhookVerificationError: see its ``code``.
    """
    signed = _parse(headers, body, leeway=leeway, now=now)
    if not _any_key_verifies(_public_keys(jwks), signed):
        raise _bad_signature(signed)
    return signed.webhook


@dataclass(frozen=True)
class _Signed:
    webhook: VerifiedWebhook
    message: bytes
    signature: bytes


def _parse(
    headers: HeadersLike, body: Union[bytes, str], *, leeway: float, now: Optional[float]
) -> _Signed:
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    if not isinstance(body, bytes):
        raise TypeError(f"body must be the raw bytes of the request, got {type(body).__name__}")
    if isinstance(leeway, bool) or not isinstance(leeway, (int, float)) or leeway < 0:
        raise ValueError(f"leeway must be a number of seconds >= 0, got {leeway!r}")
    found = _lower_headers(headers)
    missing = [
        name for name in (_REQUEST_ID, _USER_ID, _TIMESTAMP, _SIGNATURE) if not found.get(name)
    ]
    request_id = found.get(_REQUEST_ID) or None
    if missing:
        raise WebhookVerificationError(
            "missing_header",
            "webhook is missing " + ", ".join(_title(m) for m in missing),
            request_id=request_id,
        )
    stamp = found[_TIMESTAMP].strip()
    if not stamp.isdigit():
        raise WebhookVerificationError(
            "bad_header",
            f"{_title(_TIMESTAMP)} is not unix seconds: {stamp[:40]!r}",
            request_id=request_id,
        )
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > leeway:
        raise WebhookVerificationError(
            "stale_timestamp",
            f"webhook timestamp is {current - timestamp:+.0f}s from now (more than {leeway:g}s): "
            "a replay, or a clock out of sync",
            request_id=request_id,
        )
    try:
        signature = bytes.fromhex(found[_SIGNATURE].strip())
    except ValueError:
        signature = b""
    if len(signature) != 64:
        raise WebhookVerificationError(
            "bad_header", f"{_title(_SIGNATURE)} is not 64 hex-encoded bytes", request_id=request_id
        )
    message = "\n".join(
        [found[_REQUEST_ID], found[_USER_ID], stamp, hashlib.sha256(body).hexdigest()]
    ).encode("utf-8")
    webhook = VerifiedWebhook(request_id or "", found[_USER_ID], timestamp, body)
    return _Signed(webhook, message, signature)


def _lower_headers(headers: HeadersLike) -> dict[str, str]:
    items: Iterable[tuple[Any, Any]]
    if isinstance(headers, Mapping):
        items = headers.items()
    else:
        items = headers
    out: dict[str, str] = {}
    for name, value in items:
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        out[str(name).lower()] = str(value)
    return out


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _public_keys(jwks: Mapping[str, Any]) -> list[Any]:
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError as exc:  # pragma: no cover - cryptography is needed for this module
        raise ImportError(
            "fal_client.webhooks needs the cryptography package: pip install cryptography"
        ) from exc
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise WebhookVerificationError("jwks_unavailable", "the JWKS has no 'keys' list")
    public = []
    for key in keys:
        if not isinstance(key, Mapping) or key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
            continue
        x = key.get("x")
        if not isinstance(x, str):
            continue
        try:
            # fal's live JWKS reportedly keeps the "=" padding; standard JWKs drop it.
            raw = base64.urlsafe_b64decode(x.rstrip("=") + "=" * (-len(x.rstrip("=")) % 4))
            public.append(Ed25519PublicKey.from_public_bytes(raw))
        except (ValueError, binascii.Error):
            continue
    return public


def _any_key_verifies(keys: list[Any], signed: _Signed) -> bool:
    from cryptography.exceptions import InvalidSignature

    for key in keys:
        try:
            key.verify(signed.signature, signed.message)
            return True
        except InvalidSignature:
            continue
    return False


def _bad_signature(signed: _Signed) -> WebhookVerificationError:
    return WebhookVerificationError(
        "bad_signature",
        "webhook signature does not verify with any key of the JWKS "
        "(the body or headers were altered, or it was not signed by fal)",
        request_id=signed.webhook.request_id,
    )


# --- the JWKS cache ------------------------------------------------------------------------------
@dataclass
class _Entry:
    jwks: Mapping[str, Any]
    keys: list[Any]
    fetched_at: float


_cache: dict[str, _Entry] = {}
_clock = time.monotonic  # the cache's clock (tests move it)
_cache_lock = threading.Lock()


def clear_jwks_cache() -> None:
    """Forget every cached JWKS (the next verification fetches again)."""
    with _cache_lock:
        _cache.clear()


def _cached(url: str, *, fresh_within: float) -> Optional[_Entry]:
    with _cache_lock:
        entry = _cache.get(url)
    if entry is None or _clock() - entry.fetched_at > fresh_within:
        return None
    return entry


def _store(url: str, status: int, content: bytes) -> _Entry:
    if status != 200:
        raise WebhookVerificationError(
            "jwks_unavailable", f"fetching the JWKS {url} answered HTTP {status}"
        )
    try:
        jwks = json.loads(content)
    except ValueError as exc:
        raise WebhookVerificationError(
            "jwks_unavailable", f"the JWKS at {url} is not JSON"
        ) from exc
    if not isinstance(jwks, Mapping):
        raise WebhookVerificationError("jwks_unavailable", f"the JWKS at {url} is not an object")
    entry = _Entry(jwks, _public_keys(jwks), _clock())
    with _cache_lock:
        _cache[url] = entry
    return entry


def _fetch_failed(url: str, exc: Exception) -> WebhookVerificationError:
    # The one description of a network error (the TLS reason included, under trio too).
    return WebhookVerificationError(
        "jwks_unavailable", f"could not fetch the JWKS {url}: {describe_exception(exc)}"
    )


def _fetch(url: str) -> _Entry:
    import httpx

    try:
        response = httpx.get(url, timeout=_FETCH_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise _fetch_failed(url, exc) from exc
    return _store(url, response.status_code, response.content)


async def _fetch_async(url: str) -> _Entry:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=_FETCH_TIMEOUT, follow_redirects=False) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        raise _fetch_failed(url, exc) from exc
    return _store(url, response.status_code, response.content)


# --- the public verifiers ------------------------------------------------------------------------
def verify(
    headers: HeadersLike,
    body: Union[bytes, str],
    *,
    jwks_url: Optional[str] = None,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    now: Optional[float] = None,
) -> VerifiedWebhook:
    """Verify a webhook delivery; return it, or raise ``WebhookVerificationError``.

    Headers and timestamp are checked before any key is fetched, so malformed or replayed
    deliveries cost no network. The JWKS is fetched (blocking, 10 s timeout) only when it is not
    cached, older than 24 hours, or no cached key verifies the signature.

    Args:
        headers: the request headers (any mapping or list of pairs; names in any case).
        body: the raw request body, byte for byte as received.
        jwks_url: where the keys are published (default ``default_jwks_url()``).
        leeway: the largest accepted clock difference in seconds (fal's docs: 300).
        now: the current unix time, for tests (default ``time.time()``).

    Raises:
        WebhookVerificationError: with ``code`` ``missing_header``, ``bad_header``,
            ``stale_timestamp``, ``bad_signature`` or ``jwks_unavailable``.
    """
    signed = _parse(headers, body, leeway=leeway, now=now)
    url = jwks_url or default_jwks_url()
    entry = _cached(url, fresh_within=JWKS_MAX_AGE_SECONDS) or _fetch(url)
    if _any_key_verifies(entry.keys, signed):
        return signed.webhook
    if _cached(url, fresh_within=_REFETCH_MIN_INTERVAL) is None:
        if _any_key_verifies(_fetch(url).keys, signed):  # the keys may have rotated
            return signed.webhook
    raise _bad_signature(signed)


async def verify_async(
    headers: HeadersLike,
    body: Union[bytes, str],
    *,
    jwks_url: Optional[str] = None,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    now: Optional[float] = None,
) -> VerifiedWebhook:
    """``verify`` for async receivers (asyncio or trio): the JWKS is fetched without blocking.

    Same arguments, result and errors as ``verify``; the two share one cache.
    """
    signed = _parse(headers, body, leeway=leeway, now=now)
    url = jwks_url or default_jwks_url()
    entry = _cached(url, fresh_within=JWKS_MAX_AGE_SECONDS) or await _fetch_async(url)
    if _any_key_verifies(entry.keys, signed):
        return signed.webhook
    if _cached(url, fresh_within=_REFETCH_MIN_INTERVAL) is None:
        if _any_key_verifies((await _fetch_async(url)).keys, signed):
            return signed.webhook
    raise _bad_signature(signed)
