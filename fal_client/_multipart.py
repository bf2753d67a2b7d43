"""Multipart uploads: parts sent concurrently in one task group, completed in part order.

Two flavours share this engine: fal's CDN v3 (token auth, part URLs under the ``access_url``)
and the REST-initiated signed upload (no auth, the part number goes into the signed path).

* At most ``max_concurrency`` parts are in flight. Workers take the next part number from one
  shared plan only when they are free, so a part is read from its source when its turn comes and
  memory stays at about ``max_concurrency`` read buffers, whatever the file size.
* Each part PUT is retried on its own by the transport's policy (it is idempotent).
* The complete call lists parts in ascending part number.
* On failure or cancellation no complete call is sent: the upload is abandoned and the server
  discards its parts; nothing half-assembled is ever published.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ._endpoints import cdn_multipart_part, signed_multipart_part
from ._errors import UnexpectedResponseError
from ._tasks import until_first_failure
from ._upload_options import plan_parts
from ._upload_source import ProgressReporter, RangeBody, UploadSource

if TYPE_CHECKING:
    from ._transport import Transport


@dataclass(frozen=True)
class MultipartTarget:
    """Where the parts of one upload go and how they are completed."""

    part_url: Callable[[int], str]
    complete_url: str
    headers: Mapping[str, str]
    authorize: bool
    result_url: str


def cdn_target(
    access_url: str, upload_id: str, authorization: str, content_type: str
) -> MultipartTarget:
    """The CDN v3 flavour: ``PUT {access_url}/multipart/{uploadId}/{n}`` with the CDN token."""
    return MultipartTarget(
        part_url=lambda n: cdn_multipart_part(access_url, upload_id, n),
        complete_url=cdn_multipart_part(access_url, upload_id, "complete"),
        headers={
            "Authorization": authorization,
            "Content-Type": content_type,
            # So the ETag header survives any transfer encoding.
            "Accept-Encoding": "identity",
        },
        authorize=False,
        result_url=access_url,
    )


def signed_target(upload_url: str, file_url: str) -> MultipartTarget:
    """The REST flavour: ``PUT {origin}{path}/{n}{?query}`` with no Authorization."""
    return MultipartTarget(
        part_url=lambda n: signed_multipart_part(upload_url, n),
        complete_url=signed_multipart_part(upload_url, "complete"),
        headers={"Content-Type": "application/octet-stream", "Accept-Encoding": "identity"},
        authorize=False,
        result_url=file_url,
    )


def _etag(response: Any, number: int) -> str:
    etag = response.headers.get("etag")
    if not etag:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("etag"), str):
            etag = body["etag"]
    if not etag:
        raise UnexpectedResponseError(f"part {number} was accepted without an ETag")
    return str(etag)


async def upload_parts(
    transport: Transport,
    source: UploadSource,
    target: MultipartTarget,
    *,
    chunk_size: int,
    max_concurrency: int,
    progress: ProgressReporter,
) -> list[tuple[int, str]]:
    """Send every part; returns ``(part_number, etag)`` in ascending part order."""
    plan = iter(plan_parts(source.size, chunk_size))
    etags: dict[int, str] = {}

    async def send_part(number: int, offset: int, length: int) -> None:
        async def sent(n: int) -> None:
            await progress.update(number, n)

        body = RangeBody(source, offset, length, sent)
        response = await transport.request(
            "PUT",
            target.part_url(number),
            repeatable=True,
            retry_server_errors=True,  # a part PUT is idempotent; a 5xx is worth another try
            content=body,  # a re-iterable async body (see _upload_source)
            headers={**target.headers, "Content-Length": str(length)},
            authorize=target.authorize,
        )
        etags[number] = _etag(response, number)

    async def worker() -> None:
        # ``plan`` is shared: each free worker takes the next part, so parts are read from
        # the source only when one of the ``max_concurrency`` slots is theirs.
        for number, offset, length in plan:
            await send_part(number, offset, length)

    await until_first_failure(worker for _ in range(max_concurrency))
    return sorted(etags.items())


async def complete(
    transport: Transport, target: MultipartTarget, etags: list[tuple[int, str]]
) -> str:
    """Ask the server to assemble the parts; returns the file's URL."""
    body = {"parts": [{"partNumber": n, "etag": e} for n, e in etags]}
    response = await transport.request(
        "POST",
        target.complete_url,
        repeatable=True,
        content=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **{k: v for k, v in target.headers.items() if k.lower() == "authorization"},
        },
        authorize=target.authorize,
    )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        for key in ("access_url", "file_url"):
            if isinstance(answer.get(key), str):
                return str(answer[key])
    return target.result_url
