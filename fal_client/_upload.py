"""Uploads to fal's storage: CDN v3 (token + single POST), with the REST-initiated signed upload
as the fallback. The key is never sent to a signed upload URL.

This is the first slice; streaming from disk and multipart arrive with the files work.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Union

import anyio

from ._errors import FalClientError, UnexpectedResponseError

if TYPE_CHECKING:
    from ._transport import Transport

# Lifecycle of an uploaded object, as fal's JSON: {"expiration_duration_seconds": N, ...}.
Lifecycle = Mapping[str, Any]

# Refresh the CDN token this long before it expires, so no upload starts with a dying token.
_TOKEN_MARGIN = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class CDNToken:
    """A CDN v3 upload token."""

    token: str
    token_type: str
    base_url: str
    expires_at: dt.datetime

    def __repr__(self) -> str:
        return f"CDNToken(base_url={self.base_url!r}, expires_at={self.expires_at.isoformat()})"

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        return f"{self.token_type} {self.token}"


class CDNTokenCache:
    """One token shared by all uploads of a client; one refresh shared by concurrent uploads."""

    def __init__(self) -> None:
        self._token: Optional[CDNToken] = None
        self._lock: Optional[anyio.Lock] = None

    async def get(self, transport: Transport) -> CDNToken:
        """A valid token, fetched or refreshed when needed."""
        if self._token is not None and self._token.expires_at - _TOKEN_MARGIN > _now():
            return self._token
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._token is None or self._token.expires_at - _TOKEN_MARGIN <= _now():
                self._token = await _fetch_token(transport)
            return self._token


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


async def _fetch_token(transport: Transport) -> CDNToken:
    response = await transport.request(
        "POST", transport.endpoints.cdn_token(), repeatable=True, content=b"{}"
    )
    data = response.json()
    try:
        expires = dt.datetime.fromisoformat(str(data["expires_at"]).replace("Z", "+00:00"))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.timezone.utc)
        return CDNToken(
            token=str(data["token"]),
            token_type=str(data.get("token_type") or "Bearer"),
            base_url=str(data.get("base_url") or transport.endpoints.cdn_url).rstrip("/"),
            expires_at=expires,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UnexpectedResponseError("malformed CDN token response", body=data) from exc


def lifecycle_headers(lifecycle: Optional[Lifecycle]) -> dict[str, str]:
    """The lifecycle headers fal's CDN and storage endpoints read."""
    if lifecycle is None:
        return {}
    if not isinstance(lifecycle, Mapping):
        raise TypeError(f"lifecycle must be a mapping, got {type(lifecycle).__name__}")
    seconds = lifecycle.get("expiration_duration_seconds")
    if seconds is not None and (
        not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0
    ):
        raise ValueError(f"expiration_duration_seconds must be a positive int, got {seconds!r}")
    value = json.dumps(dict(lifecycle), separators=(",", ":"))
    return {"X-Fal-Object-Lifecycle": value, "X-Fal-Object-Lifecycle-Preference": value}


async def upload_bytes(
    transport: Transport,
    tokens: CDNTokenCache,
    data: Union[bytes, bytearray, memoryview],
    content_type: str,
    file_name: Optional[str] = None,
    *,
    lifecycle: Optional[Lifecycle] = None,
) -> str:
    """Upload ``data`` and return its URL. Tries the CDN, then the signed storage upload."""
    headers = {"Content-Type": content_type, **lifecycle_headers(lifecycle)}
    if file_name:
        headers["X-Fal-File-Name"] = file_name
    body = bytes(data)
    try:
        token = await tokens.get(transport)
        response = await transport.request(
            "POST",
            f"{token.base_url}/files/upload",
            repeatable=True,
            content=body,
            headers={**headers, "Authorization": token.authorization},
        )
        url = response.json().get("access_url")
        if not isinstance(url, str):
            raise UnexpectedResponseError(
                "CDN upload response has no access_url", body=response.json()
            )
        return url
    except FalClientError as cdn_error:
        try:
            return await _upload_signed(transport, body, content_type, file_name, headers)
        except FalClientError as fallback_error:
            raise fallback_error from cdn_error


async def _upload_signed(
    transport: Transport,
    body: bytes,
    content_type: str,
    file_name: Optional[str],
    headers: Mapping[str, str],
) -> str:
    initiate = await transport.request(
        "POST",
        f"{transport.endpoints.rest_url}/storage/upload/initiate?storage_type=fal-cdn-v3",
        repeatable=True,
        content=json.dumps(
            {"content_type": content_type, "file_name": file_name or "upload.bin"}
        ).encode(),
        headers={k: v for k, v in headers.items() if k.lower().startswith("x-fal-object")},
    )
    info = initiate.json()
    if not isinstance(info, dict) or not isinstance(info.get("upload_url"), str):
        raise UnexpectedResponseError("storage initiate response has no upload_url", body=info)
    await transport.request(
        "PUT",
        info["upload_url"],
        repeatable=True,
        content=body,
        headers={"Content-Type": content_type},
        authorize=False,
    )
    return str(info["file_url"])
