"""Uploads to fal's storage, streamed from their source and never held whole in memory.

Repositories are tried in order (``fal_v3`` then ``fal`` by default):

* ``fal_v3``: fal's CDN v3 with a cached token (one refresh shared by concurrent uploads, five
  minutes before expiry): a single ``POST {base_url}/files/upload``, or CDN multipart above the
  threshold.
* ``fal``: the REST-initiated signed upload (``/storage/upload/initiate[-multipart]``, the route
  fal's JS client uses); the signed URL is PUT to without ``Authorization``, so the API key never
  reaches the storage host.

Only fal errors (HTTP, connection, malformed answers) move on to the next repository; bad input,
a file that changes under us, and cancellation end the upload at once. A failed upload never
returns a URL.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Union

import anyio

from . import _multipart as multipart
from ._endpoints import cdn_upload
from ._errors import FalClientError, UnexpectedResponseError
from ._lifecycle import StorageSettings, lifecycle_headers, lifecycle_payload
from ._upload_options import UploadOptions
from ._upload_source import (
    BytesSource,
    ProgressCallback,
    ProgressReporter,
    RangeBody,
    UploadSource,
)

if TYPE_CHECKING:
    from ._transport import Transport

logger = logging.getLogger("fal_client")

#: The lifecycle of an uploaded object: a ``StorageSettings``, or fal's raw JSON
#: (``{"expiration_duration_seconds": N, "initial_acl": {...}}``).
Lifecycle = Union[StorageSettings, Mapping[str, Any]]

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
    data = _json(response, "CDN token")
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


def _json(response: Any, what: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise UnexpectedResponseError(f"{what} response is not JSON") from exc


def _url_field(data: Any, key: str, what: str) -> str:
    if not isinstance(data, dict) or not isinstance(data.get(key), str):
        raise UnexpectedResponseError(f"{what} response has no {key}", body=data)
    return str(data[key])


@dataclass(frozen=True)
class UploadRequest:
    """One upload, checked: what to send, as what, where to try, and how to cut it."""

    source: UploadSource
    content_type: str
    file_name: Optional[str]
    repositories: list[str]
    lifecycle: Optional[dict[str, Any]]
    options: UploadOptions

    @property
    def is_multipart(self) -> bool:
        """Whether the body goes in parts (strictly above the threshold, as fal's clients do)."""
        return self.source.size > self.options.multipart_threshold


async def upload(
    transport: Transport,
    tokens: CDNTokenCache,
    request: UploadRequest,
    progress: Optional[ProgressCallback] = None,
) -> str:
    """Upload ``request.source`` and return its URL, trying each repository in turn."""
    reporter = ProgressReporter(request.source.size, progress)
    await reporter.start()
    previous: Optional[FalClientError] = None
    for index, repository in enumerate(request.repositories):
        try:
            if repository == "fal_v3":
                return await _upload_cdn(transport, tokens, request, reporter)
            return await _upload_signed(transport, request, reporter)
        except FalClientError as exc:
            if index == len(request.repositories) - 1:
                if previous is not None:
                    raise exc from previous
                raise
            logger.warning(
                "upload to %s failed, trying %s: %s",
                repository,
                request.repositories[index + 1],
                exc,
            )
            previous = exc
    raise AssertionError("no upload repository")  # pragma: no cover - never empty


def _body(request: UploadRequest, reporter: ProgressReporter) -> tuple[Any, dict[str, str]]:
    size = request.source.size
    if size == 0:
        return b"", {}

    async def sent(n: int) -> None:
        await reporter.update(0, n)

    body = RangeBody(request.source, 0, size, sent)
    # An explicit length keeps the body from going out chunked; a re-iterable body lets the
    # transport retry without holding the bytes.
    return body, {"Content-Length": str(size)}


async def _upload_cdn(
    transport: Transport, tokens: CDNTokenCache, request: UploadRequest, reporter: ProgressReporter
) -> str:
    token = await tokens.get(transport)
    headers = {
        "Content-Type": request.content_type,
        "Authorization": token.authorization,
        **lifecycle_headers(request.lifecycle),
    }
    if request.is_multipart:
        created = await transport.request(
            "POST",
            cdn_upload(token.base_url, multipart=True),
            repeatable=True,
            headers={
                **headers,
                "Accept": "application/json",
                "X-Fal-File-Name": request.file_name or "upload.bin",
            },
        )
        info = _json(created, "CDN multipart create")
        access_url = _url_field(info, "access_url", "CDN multipart create")
        upload_id = _url_field(info, "uploadId", "CDN multipart create")
        target = multipart.cdn_target(
            access_url, upload_id, token.authorization, request.content_type
        )
        return await _send_parts(transport, request, target, reporter)
    if request.file_name:
        headers["X-Fal-File-Name"] = request.file_name
    body, length = _body(request, reporter)
    response = await transport.request(
        "POST",
        cdn_upload(token.base_url, multipart=False),
        repeatable=True,  # a repeated upload only stores an unused copy
        retry_server_errors=True,
        content=body,
        headers={**headers, **length},
    )
    return _url_field(_json(response, "CDN upload"), "access_url", "CDN upload")


async def _upload_signed(
    transport: Transport, request: UploadRequest, reporter: ProgressReporter
) -> str:
    initiate = await transport.request(
        "POST",
        transport.endpoints.storage_initiate(request.is_multipart),
        repeatable=True,
        content=json.dumps(
            {"content_type": request.content_type, "file_name": request.file_name or "upload.bin"}
        ).encode(),
        headers={"Content-Type": "application/json", **lifecycle_headers(request.lifecycle)},
    )
    info = _json(initiate, "storage initiate")
    upload_url = _url_field(info, "upload_url", "storage initiate")
    file_url = _url_field(info, "file_url", "storage initiate")
    if request.is_multipart:
        target = multipart.signed_target(upload_url, file_url)
        return await _send_parts(transport, request, target, reporter)
    body, length = _body(request, reporter)
    await transport.request(
        "PUT",
        upload_url,
        repeatable=True,
        retry_server_errors=True,
        content=body,
        headers={"Content-Type": request.content_type, **length},
        authorize=False,  # the signature is in the URL; the key must never go there
    )
    return file_url


async def _send_parts(
    transport: Transport,
    request: UploadRequest,
    target: multipart.MultipartTarget,
    reporter: ProgressReporter,
) -> str:
    etags = await multipart.upload_parts(
        transport,
        request.source,
        target,
        chunk_size=request.options.chunk_size,
        max_concurrency=request.options.max_concurrency,
        progress=reporter,
    )
    return await multipart.complete(transport, target, etags)


def bytes_request(
    data: Union[bytes, bytearray, memoryview],
    content_type: str,
    file_name: Optional[str],
    *,
    repositories: list[str],
    lifecycle: Optional[Lifecycle],
    options: UploadOptions,
) -> UploadRequest:
    """An ``UploadRequest`` for bytes in memory."""
    return UploadRequest(
        BytesSource(data),
        content_type,
        file_name,
        repositories,
        lifecycle_payload(lifecycle),
        options,
    )
