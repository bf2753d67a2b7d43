"""Storage: CDN token, CDN v3 single and multipart uploads, REST-initiated signed uploads,
legacy storage, serving files back."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from typing import Any, AsyncIterator, Dict, Tuple

import httpx
import pytest

from fal_client.testing import Emulator

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def cdn_token(client: httpx.AsyncClient) -> Dict[str, Any]:
    response = await client.post(
        "/rest/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, json={}
    )
    assert response.status_code == 200, response.text
    token: Dict[str, Any] = response.json()
    return token


def bearer(token: Dict[str, Any]) -> Dict[str, str]:
    return {"Authorization": f"{token['token_type']} {token['token']}"}


async def test_cdn_token_has_fal_shape(emulator: Emulator, client: httpx.AsyncClient) -> None:
    token = await cdn_token(client)

    assert token["token_type"] == "Bearer" and token["token"]
    assert token["base_url"] == f"{emulator.url}/cdn"
    expires = datetime.fromisoformat(token["expires_at"])
    created = datetime.fromisoformat(token["created_at"])
    assert expires.tzinfo is not None and expires > created


async def test_cdn_token_rejects_other_storage_types(client: httpx.AsyncClient) -> None:
    response = await client.post("/rest/storage/auth/token", params={"storage_type": "s3"})

    assert response.status_code == 400


async def test_single_upload_round_trip(emulator: Emulator, client: httpx.AsyncClient) -> None:
    token = await cdn_token(client)
    data = os.urandom(300_000)
    lifecycle = {"expiration_duration_seconds": 3600}

    response = await client.post(
        f"{token['base_url']}/files/upload",
        content=data,
        headers={
            **bearer(token),
            "Content-Type": "application/x-custom",
            "X-Fal-File-Name": "my data.bin",
            "X-Fal-Object-Lifecycle": json.dumps(lifecycle),
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["uploaded"] is True
    url = body["access_url"]
    assert url.startswith(f"{emulator.url}/cdn/files/") and url.endswith("/my_data.bin")
    served = await client.get(url, headers={"Authorization": ""})
    assert served.content == data
    assert served.headers["content-type"].startswith("application/x-custom")
    [info] = emulator.files()
    assert info.url == url and info.size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.lifecycle == lifecycle and info.source == "cdn"
    head = await client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))


async def test_upload_without_a_name_gets_one_from_its_type(client: httpx.AsyncClient) -> None:
    token = await cdn_token(client)

    response = await client.post(
        f"{token['base_url']}/files/upload",
        content=b"\x89PNG",
        headers={**bearer(token), "Content-Type": "image/png"},
    )

    assert response.json()["access_url"].endswith(".png")


@pytest.mark.parametrize(
    ("authorization", "code"), [(None, 401), ("Bearer wrong", 403), ("Key fal-emulator-key", 403)]
)
async def test_cdn_upload_needs_the_cdn_token(
    anonymous: httpx.AsyncClient, authorization: Any, code: int
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = await anonymous.post("/cdn/files/upload", content=b"x", headers=headers)

    assert response.status_code == code


async def test_big_upload_is_streamed_to_disk(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    token = await cdn_token(client)
    chunk = os.urandom(1024 * 1024)
    expected = hashlib.sha256()
    for _ in range(40):
        expected.update(chunk)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield chunk

    response = await client.post(
        f"{token['base_url']}/files/upload",
        content=body(),
        headers={**bearer(token), "Content-Type": "application/octet-stream"},
    )

    assert response.status_code == 200
    [info] = emulator.files()
    assert info.size == 40 * len(chunk) and info.sha256 == expected.hexdigest()


async def cdn_multipart(
    client: httpx.AsyncClient, token: Dict[str, Any], name: str = "big.bin"
) -> Tuple[str, str]:
    created = await client.post(
        f"{token['base_url']}/files/upload/multipart",
        headers={**bearer(token), "Content-Type": "application/zip", "X-Fal-File-Name": name},
    )
    assert created.status_code == 200, created.text
    return created.json()["access_url"], created.json()["uploadId"]


async def test_cdn_multipart_assembles_parts_by_number(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    token = await cdn_token(client)
    access_url, upload_id = await cdn_multipart(client, token)
    parts = [os.urandom(100_000), os.urandom(100_000), os.urandom(5)]
    etags = {}

    for number in (3, 1, 2):  # out of order, as parallel uploads finish
        response = await client.put(
            f"{access_url}/multipart/{upload_id}/{number}",
            content=parts[number - 1],
            headers={**bearer(token), "Accept-Encoding": "identity"},
        )
        assert response.status_code == 200
        assert response.headers["etag"].startswith('"')
        assert response.json() == {"partNumber": number, "etag": response.headers["etag"]}
        etags[number] = response.headers["etag"]

    listed = [{"partNumber": n, "etag": etags[n]} for n in (2, 3, 1)]  # completion order
    complete = await client.post(
        f"{access_url}/multipart/{upload_id}/complete",
        json={"parts": listed},
        headers=bearer(token),
    )

    assert complete.status_code == 200
    served = await client.get(access_url)
    assert served.content == b"".join(parts)
    assert served.headers["content-type"] == "application/zip"
    [info] = emulator.files()
    assert info.source == "cdn-multipart" and info.url == access_url
    assert info.sha256 == hashlib.sha256(b"".join(parts)).hexdigest()


async def test_zero_length_parts_are_refused_like_the_live_cdn(client: httpx.AsyncClient) -> None:
    token = await cdn_token(client)
    access_url, upload_id = await cdn_multipart(client, token)

    response = await client.put(
        f"{access_url}/multipart/{upload_id}/1", content=b"", headers=bearer(token)
    )

    assert response.status_code == 400
    assert response.json()["detail"] == "Content length appears to be zero - refusing to proceed"


async def test_complete_checks_parts_and_etags(client: httpx.AsyncClient) -> None:
    token = await cdn_token(client)
    access_url, upload_id = await cdn_multipart(client, token)
    part = await client.put(
        f"{access_url}/multipart/{upload_id}/1", content=b"abc", headers=bearer(token)
    )
    complete_url = f"{access_url}/multipart/{upload_id}/complete"

    missing = await client.post(
        complete_url,
        json={
            "parts": [
                {"partNumber": 1, "etag": part.headers["etag"]},
                {"partNumber": 2, "etag": '"x"'},
            ]
        },
        headers=bearer(token),
    )
    mismatch = await client.post(
        complete_url, json={"parts": [{"partNumber": 1, "etag": '"x"'}]}, headers=bearer(token)
    )
    malformed = await client.post(complete_url, json={"nope": 1}, headers=bearer(token))

    assert missing.status_code == 400 and "Part 2" in missing.json()["detail"]
    assert mismatch.status_code == 400
    assert malformed.status_code == 422


async def test_part_fail_fault_answers_500_then_the_retry_works(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    token = await cdn_token(client)
    access_url, upload_id = await cdn_multipart(client, token)
    emulator.faults("part_fail", count=1)
    url = f"{access_url}/multipart/{upload_id}/1"

    failed = await client.put(url, content=b"data", headers=bearer(token))
    retried = await client.put(url, content=b"data", headers=bearer(token))

    assert failed.status_code == 500 and retried.status_code == 200
    assert emulator.requests()[-2].fault == "part_fail"


async def initiate(client: httpx.AsyncClient, kind: str = "initiate", **params: str) -> Any:
    return await client.post(
        f"/rest/storage/upload/{kind}",
        params={"storage_type": "fal-cdn-v3", **params},
        json={"content_type": "text/plain", "file_name": "notes.txt"},
        headers={
            "X-Fal-Object-Lifecycle-Preference": json.dumps({"expiration_duration_seconds": 60})
        },
    )


async def test_signed_upload_needs_no_authorization(
    emulator: Emulator, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    initiated = await initiate(client)
    assert initiated.status_code == 200
    upload_url, file_url = initiated.json()["upload_url"], initiated.json()["file_url"]

    put = await anonymous.put(upload_url, content=b"hello", headers={"Content-Type": "text/plain"})

    assert put.status_code == 200
    assert (await anonymous.get(file_url)).content == b"hello"
    [info] = emulator.files()
    assert info.url == file_url and info.source == "signed" and info.file_name == "notes.txt"
    assert info.lifecycle == {"expiration_duration_seconds": 60}
    put_record = emulator.requests()[1]
    assert "authorization" not in put_record.headers and put_record.authorized


async def test_signed_upload_with_a_bad_signature_is_403(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    upload_url = (await initiate(client)).json()["upload_url"]

    forged = await anonymous.put(upload_url.replace("signature=", "signature=0"), content=b"x")

    assert forged.status_code == 403


async def test_signed_multipart_upload(
    emulator: Emulator, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    initiated = (await initiate(client, "initiate-multipart")).json()
    url = httpx.URL(initiated["upload_url"])
    parts = [b"a" * 70_000, b"b" * 10]
    etags = []

    for number, data in enumerate(parts, start=1):
        response = await anonymous.put(url.copy_with(path=f"{url.path}/{number}"), content=data)
        assert response.status_code == 200
        etags.append(response.json()["etag"])
    complete = await anonymous.post(
        url.copy_with(path=f"{url.path}/complete"),
        json={"parts": [{"partNumber": n, "etag": e} for n, e in enumerate(etags, start=1)]},
    )

    assert complete.status_code == 200
    assert (await anonymous.get(initiated["file_url"])).content == b"".join(parts)
    assert emulator.files()[0].source == "signed-multipart"


async def test_legacy_gcs_storage_accepted_or_rejected(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    accepted = await initiate(client, storage_type="gcs")
    emulator.legacy_storage = "reject"
    rejected = await initiate(client, storage_type="gcs")

    assert accepted.status_code == 200 and "upload_url" in accepted.json()
    assert rejected.status_code == 400
    assert rejected.json() == {"detail": "Invalid storage type"}


async def test_unknown_files_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/cdn/files/nope/x.bin")).status_code == 404


async def test_files_written_by_apps_are_served(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    result = (
        await client.post(
            "/run/fal-ai/fast-sdxl",
            json={"prompt": "a red fox", "num_images": 2, "image_size": "landscape_4_3", "seed": 7},
        )
    ).json()

    assert result["seed"] == 7 and result["prompt"] == "a red fox"
    assert result["has_nsfw_concepts"] == [False, False] and "inference" in result["timings"]
    for image in result["images"]:
        served = await client.get(image["url"])
        assert served.headers["content-type"] == "image/png"
        assert served.content.startswith(b"\x89PNG")
        assert (image["width"], image["height"]) == (256, 192)
    assert {info.source for info in emulator.files()} == {"app"}
