"""Credentials the emulator issues and later checks (no I/O): CDN upload tokens, realtime JWTs
and the signatures of self-authenticating upload URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any, Dict, Optional, Sequence, Tuple


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenAuthority:
    """Issues and verifies every token of one emulator, all keyed by one random secret."""

    #: How long a CDN token is valid; fal's are valid about 30 days.
    CDN_TOKEN_LIFETIME = 30 * 24 * 3600.0

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._cdn_tokens: Dict[str, float] = {}

    def issue_cdn_token(self) -> Tuple[str, float, float]:
        """A new CDN bearer token.

        Returns:
            (token, created_at, expires_at) with wall-clock times.
        """
        token = secrets.token_urlsafe(24)
        created = time.time()
        expires = created + self.CDN_TOKEN_LIFETIME
        self._cdn_tokens[token] = expires
        return token, created, expires

    def cdn_token_valid(self, token: str) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        expires = self._cdn_tokens.get(token)
        return expires is not None and expires > time.time()

    def issue_realtime_token(self, allowed_apps: Sequence[str], expiration: float) -> str:
        """A JWT-shaped (HS256) token scoped to the given app aliases."""
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"allowed_apps": list(allowed_apps), "exp": int(time.time() + expiration)}
        payload = _b64url(json.dumps(claims).encode())
        signature = _b64url(self._mac(f"{header}.{payload}".encode()))
        return f"{header}.{payload}.{signature}"

    def realtime_token_claims(self, token: str) -> Optional[Dict[str, Any]]:
        """The claims of a valid, unexpired realtime token issued here, else None."""
        try:
            header, payload, signature = token.split(".")
            expected = self._mac(f"{header}.{payload}".encode())
            if not hmac.compare_digest(_b64url_decode(signature), expected):
                return None
            claims = json.loads(_b64url_decode(payload))
        except ValueError:
            return None
        if not isinstance(claims, dict) or claims.get("exp", 0) < time.time():
            return None
        return claims

    def realtime_token_allows(self, token: str, alias: str) -> bool:
        """Whether ``token`` is valid and scoped to the app alias ``alias``."""
        claims = self.realtime_token_claims(token)
        return claims is not None and alias in claims.get("allowed_apps", ())

    def sign_upload(self, upload_id: str, expires: int) -> str:
        """The signature that makes an upload URL work without an Authorization header."""
        return self._mac(f"upload:{upload_id}:{expires}".encode()).hex()

    def upload_signature_valid(self, upload_id: str, expires: str, signature: str) -> bool:
        """Check a signed upload URL's query parameters."""
        try:
            expires_at = int(expires)
        except ValueError:
            return False
        if expires_at < time.time():
            return False
        return hmac.compare_digest(self.sign_upload(upload_id, expires_at), signature)

    def _mac(self, message: bytes) -> bytes:
        return hmac.new(self._secret, message, hashlib.sha256).digest()
