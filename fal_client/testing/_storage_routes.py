"""Storage: the CDN (``/cdn`` = v3.fal.media) and REST storage endpoints (``/rest/storage``).

Three upload flows, as the fal clients use them:

* CDN v3 with a bearer token from ``/rest/storage/auth/token``: a single ``POST
  /cdn/files/upload``, or multipart (create, part PUTs answered with an ``ETag`` header *and* a
  JSON ``{partNumber, etag}`` body, complete).
* REST initiate (``/rest/storage/upload/initiate[-multipart]``) returning a signed
  ``upload_url`` whose PUTs need no Authorization (the signature is in the query string).
* Every stored file is served back by GET at its URL.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote

import anyio
from starlette.responses import FileResponse, Response, StreamingResponse

from ._exchange import BadRequest, Exchange, detail_response, json_response
from ._routing import Route
from ._storage import (
    ZERO_LENGTH_PART_MESSAGE,
    Part,
    PendingUpload,
    StoredFile,
    write_body,
)

CDN_V3 = "fal-cdn-v3"
LEGACY_GCS = "gcs"
#: How long a signed upload URL stays valid.
SIGNED_URL_LIFETIME = 3600
# Bytes read per step when serving a multipart file's segments.
_SERVE_BLOCK = 1024 * 1024


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


def _lifecycle(ex: Exchange) -> Optional[Mapping[str, Any]]:
    raw = ex.header("x-fal-object-lifecycle") or ex.header("x-fal-object-lifecycle-preference")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise BadRequest(detail_response(400, f"Invalid object lifecycle header: {raw!r}"))
    return value


def _content_type(ex: Exchange) -> str:
    return ex.header("content-type") or "application/octet-stream"


def _file_url(ex: Exchange, upload: PendingUpload) -> str:
    return f"{ex.base_url}/cdn/files/{upload.file_id}/{quote(upload.file_name)}"


# --- REST -------------------------------------------------------------------------------------


async def storage_token(ex: Exchange, route: Route) -> Optional[Response]:
    """``POST /rest/storage/auth/token?storage_type=fal-cdn-v3``: a CDN bearer token."""
    storage_type = ex.query.get("storage_type", CDN_V3)
    if storage_type != CDN_V3:
        return detail_response(400, "Invalid storage type")
    token, created, expires = ex.state.tokens.issue_cdn_token()
    return json_response(
        200,
        {
            "token": token,
            "token_type": "Bearer",
            "base_url": f"{ex.base_url}/cdn",
            "expires_at": _iso(expires),
            "created_at": _iso(created),
        },
    )


async def initiate_upload(ex: Exchange, route: Route) -> Optional[Response]:
    """``POST /rest/storage/upload/initiate[-multipart]?storage_type=...``: a signed upload URL.

    ``storage_type=gcs`` (the Python client's legacy fallback) is accepted, or answered with
    the 400 that production reportedly gives, depending on ``Emulator.legacy_storage``.
    """
    storage_type = ex.query.get("storage_type", CDN_V3)
    if storage_type not in (CDN_V3, LEGACY_GCS) or (
        storage_type == LEGACY_GCS and ex.state.config.legacy_storage != "accept"
    ):
        return detail_response(400, "Invalid storage type")
    body = await ex.json_body(default={})
    if not isinstance(body, dict):
        return detail_response(422, "Expected a JSON object with content_type and file_name")
    multipart = route.params == ("multipart",)
    upload = ex.state.files.begin_upload(
        file_name=body.get("file_name"),
        content_type=str(body.get("content_type") or "application/octet-stream"),
        lifecycle=_lifecycle(ex),
        source="signed-multipart" if multipart else "signed",
        multipart=multipart,
    )
    expires = int(time.time()) + SIGNED_URL_LIFETIME
    signature = ex.state.tokens.sign_upload(upload.upload_id, expires)
    upload_url = (
        f"{ex.base_url}/cdn/signed/{upload.upload_id}?expires={expires}&signature={signature}"
    )
    return json_response(200, {"upload_url": upload_url, "file_url": _file_url(ex, upload)})


# --- CDN v3 -----------------------------------------------------------------------------------


async def cdn_upload(ex: Exchange, route: Route) -> Optional[Response]:
    """``POST /cdn/files/upload``: store the raw body; answers ``{access_url, uploaded}``."""
    files = ex.state.files
    lifecycle = _lifecycle(ex)
    content_type = _content_type(ex)
    upload = files.begin_upload(
        file_name=ex.header("x-fal-file-name"),
        content_type=content_type,
        lifecycle=lifecycle,
        source="cdn",
        multipart=False,
    )
    try:
        url = await _store_whole_body(ex, upload)
    finally:
        files.finish_upload(upload.upload_id)
    return json_response(200, {"access_url": url, "uploaded": True})


async def cdn_multipart_create(ex: Exchange, route: Route) -> Optional[Response]:
    """``POST /cdn/files/upload/multipart``: answers ``{access_url, uploadId}``."""
    upload = ex.state.files.begin_upload(
        file_name=ex.header("x-fal-file-name") or "upload.bin",
        content_type=_content_type(ex),
        lifecycle=_lifecycle(ex),
        source="cdn-multipart",
        multipart=True,
    )
    return json_response(200, {"access_url": _file_url(ex, upload), "uploadId": upload.upload_id})


def _cdn_upload(ex: Exchange, route: Route) -> Tuple[Optional[PendingUpload], Optional[Response]]:
    file_id, upload_id = route.params[0], route.params[1]
    upload = ex.state.files.upload(upload_id)
    if upload is None or upload.file_id != file_id or not upload.multipart:
        return None, detail_response(404, "Upload not found")
    return upload, None


async def cdn_part(ex: Exchange, route: Route) -> Optional[Response]:
    """``PUT {access_url}/multipart/{uploadId}/{partNumber}``."""
    upload, error = _cdn_upload(ex, route)
    if upload is None:
        return error
    return await _store_part(ex, upload, route.params[2])


async def cdn_complete(ex: Exchange, route: Route) -> Optional[Response]:
    """``POST {access_url}/multipart/{uploadId}/complete`` with ``{"parts": [...]}``."""
    upload, error = _cdn_upload(ex, route)
    if upload is None:
        return error
    return await _complete(ex, upload)


# --- signed URLs (no Authorization) -----------------------------------------------------------


def _signed_upload(
    ex: Exchange, route: Route
) -> Tuple[Optional[PendingUpload], Optional[Response]]:
    upload_id = route.params[0]
    if not ex.state.tokens.upload_signature_valid(
        upload_id, ex.query.get("expires", ""), ex.query.get("signature", "")
    ):
        return None, detail_response(403, "Invalid or expired upload signature")
    upload = ex.state.files.upload(upload_id)
    if upload is None:
        return None, detail_response(404, "Upload not found")
    return upload, None


async def signed_put(ex: Exchange, route: Route) -> Optional[Response]:
    """``PUT {upload_url}``: the body of a single signed upload."""
    upload, error = _signed_upload(ex, route)
    if upload is None:
        return error
    if upload.multipart:
        return detail_response(400, "This upload is multipart: PUT parts to {upload_url}/{n}")
    if ex.header("content-type"):
        upload.content_type = _content_type(ex)
    try:
        url = await _store_whole_body(ex, upload)
    finally:
        ex.state.files.finish_upload(upload.upload_id)
    return json_response(200, {"file_url": url})


async def signed_part(ex: Exchange, route: Route) -> Optional[Response]:
    """``PUT {upload_url path}/{partNumber}{query}``: one part of a signed multipart upload."""
    upload, error = _signed_upload(ex, route)
    if upload is None:
        return error
    if not upload.multipart:
        return detail_response(400, "This upload is not multipart")
    return await _store_part(ex, upload, route.params[1])


async def signed_complete(ex: Exchange, route: Route) -> Optional[Response]:
    """``POST {upload_url path}/complete{query}`` with ``{"parts": [...]}``."""
    upload, error = _signed_upload(ex, route)
    if upload is None:
        return error
    if not upload.multipart:
        return detail_response(400, "This upload is not multipart")
    return await _complete(ex, upload)


# --- shared steps -----------------------------------------------------------------------------


async def _store_whole_body(ex: Exchange, upload: PendingUpload) -> str:
    files = ex.state.files
    written = await write_body(ex.request.stream(), files.file_path(upload.file_id))
    stored = files.add(
        file_id=upload.file_id,
        file_name=upload.file_name,
        written_size=written.size,
        sha256=written.digest,
        content_type=upload.content_type,
        lifecycle=upload.lifecycle,
        source=upload.source,
    )
    return ex.base_url + stored.url_path


async def _store_part(ex: Exchange, upload: PendingUpload, raw_number: str) -> Optional[Response]:
    try:
        number = int(raw_number)
    except ValueError:
        number = 0
    if number < 1:
        return detail_response(400, f"Invalid part number: {raw_number!r}")
    if ex.fault.kind == "part_fail":
        await _discard_body(ex)
        return detail_response(500, "Injected part failure")
    path = ex.state.files.part_path(upload.upload_id, number)
    written = await write_body(ex.request.stream(), path, "md5")  # S3-style ETag: the part's md5
    if written.size == 0:
        path.unlink(missing_ok=True)
        return detail_response(400, ZERO_LENGTH_PART_MESSAGE)
    etag = f'"{written.digest}"'
    previous = upload.parts.get(number)
    if previous is not None:
        previous.path.unlink(missing_ok=True)  # a retried part replaces the earlier attempt
    upload.parts[number] = Part(number, path, written.size, etag)
    return json_response(200, {"partNumber": number, "etag": etag}, headers={"ETag": etag})


def _listed_parts(body: Any) -> List[Tuple[int, str]]:
    if not isinstance(body, dict) or not isinstance(body.get("parts"), list):
        raise BadRequest(detail_response(422, 'Expected {"parts": [{partNumber, etag}, ...]}'))
    listed = []
    for item in body["parts"]:
        if not isinstance(item, dict) or not isinstance(item.get("partNumber"), int):
            raise BadRequest(detail_response(422, f"Invalid part entry: {item!r}"))
        listed.append((item["partNumber"], str(item.get("etag", ""))))
    return listed


async def _complete(ex: Exchange, upload: PendingUpload) -> Optional[Response]:
    listed = _listed_parts(await ex.json_body(default=None))
    if not listed:
        return detail_response(400, "No parts to complete")
    chosen: List[Part] = []
    # Assemble by part number, whatever order the client listed them in.
    for number, etag in sorted(listed):
        part = upload.parts.get(number)
        if part is None:
            return detail_response(400, f"Part {number} was not uploaded")
        if etag.strip('"') != part.etag.strip('"'):
            return detail_response(400, f"ETag mismatch for part {number}")
        chosen.append(part)
    files = ex.state.files
    # The parts become the file's segments as they are: no copy, and the sha256 is computed
    # when someone inspects the file (emulator.files()), not while the client waits.
    stored = files.add(
        file_id=upload.file_id,
        file_name=upload.file_name,
        written_size=sum(part.size for part in chosen),
        sha256=None,
        content_type=upload.content_type,
        lifecycle=upload.lifecycle,
        source=upload.source,
        segments=[part.path for part in chosen],
    )
    files.finish_upload(upload.upload_id, keep={part.number for part in chosen})
    url = ex.base_url + stored.url_path
    return json_response(200, {"access_url": url, "file_url": url, "uploaded": True})


async def _discard_body(ex: Exchange) -> None:
    async for _ in ex.request.stream():
        pass


# --- serving files ----------------------------------------------------------------------------


async def get_file(ex: Exchange, route: Route) -> Optional[Response]:
    """``GET /cdn/files/{id}/{name}``: the stored bytes, with their Content-Type."""
    stored = ex.state.files.get(route.params[0])
    if stored is None:
        return detail_response(404, "File not found")
    return stored_file_response(stored, head=ex.method == "HEAD")


def stored_file_response(
    stored: StoredFile, *, head: bool = False, headers: Optional[Dict[str, str]] = None
) -> Response:
    """A response serving ``stored``'s bytes with its Content-Type (and extra ``headers``)."""
    extra = dict(headers or {})
    if len(stored.segments) == 1:
        return FileResponse(stored.segments[0], headers=extra, media_type=stored.content_type)
    extra["Content-Length"] = str(stored.size)
    if head:
        return Response(headers=extra, media_type=stored.content_type)
    return StreamingResponse(_read_segments(stored), headers=extra, media_type=stored.content_type)


async def _read_segments(stored: StoredFile) -> AsyncIterator[bytes]:
    for segment in stored.segments:
        async with await anyio.open_file(segment, "rb") as file:
            while block := await file.read(_SERVE_BLOCK):
                yield block
