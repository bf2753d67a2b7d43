"""The emulator keeps a multipart file as its parts (no copy at complete): served whole by GET
and HEAD, hashed right, a retried part replacing the earlier attempt, unlisted parts left out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fal_client.testing import Emulator
from tests.conftest import Driver
from tests.files.helpers import SMALL_PARTS, THRESHOLD, payload, stored

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=emu.url, headers={"Authorization": f"Key {emu.key}"}, timeout=10
    ) as client:
        yield client


def start_multipart(http: httpx.Client) -> tuple[str, dict[str, str]]:
    """A CDN multipart upload: its access URL and the headers its part PUTs need."""
    token = http.post(
        "/rest/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, json={}
    ).json()
    auth = {"Authorization": f"{token['token_type']} {token['token']}"}
    created = http.post(
        f"{token['base_url']}/files/upload/multipart",
        headers={**auth, "Content-Type": "application/octet-stream", "X-Fal-File-Name": "f.bin"},
    )
    info: dict[str, Any] = created.json()
    return f"{info['access_url']}/multipart/{info['uploadId']}", auth


def put_part(http: httpx.Client, base: str, auth: dict[str, str], number: int, data: bytes) -> str:
    response = http.put(f"{base}/{number}", content=data, headers=auth)
    assert response.status_code == 200, response.text
    etag: str = response.headers["etag"]
    assert etag == f'"{hashlib.md5(data).hexdigest()}"'  # S3-style: the part's md5
    return etag


def complete(
    http: httpx.Client, base: str, auth: dict[str, str], etags: dict[int, str]
) -> httpx.Response:
    listed = [{"partNumber": n, "etag": e} for n, e in etags.items()]
    return http.post(f"{base}/complete", json={"parts": listed}, headers=auth)


def test_a_multipart_upload_is_served_whole(
    mode: Driver, emu: Emulator, http: httpx.Client
) -> None:
    data = payload(3 * THRESHOLD + 7, seed=3)
    url = mode.call("upload", data, "application/x-test", "big.bin", **SMALL_PARTS)

    served = http.get(url, headers={"Authorization": ""})
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"].startswith("application/x-test")
    head = http.head(url, headers={"Authorization": ""})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))
    info = stored(emu, url)
    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_a_retried_part_replaces_the_earlier_attempt(emu: Emulator, http: httpx.Client) -> None:
    base, auth = start_multipart(http)
    first = put_part(http, base, auth, 1, b"a" * 1000)
    second = put_part(http, base, auth, 1, b"b" * 1000)
    last = put_part(http, base, auth, 2, b"c" * 10)

    stale = complete(http, base, auth, {1: first, 2: last})
    assert stale.status_code == 400 and "ETag mismatch for part 1" in stale.text
    done = complete(http, base, auth, {1: second, 2: last})

    assert done.status_code == 200, done.text
    url = done.json()["access_url"]
    assert http.get(url).content == b"b" * 1000 + b"c" * 10
    assert stored(emu, url).sha256 == hashlib.sha256(b"b" * 1000 + b"c" * 10).hexdigest()


def test_parts_left_out_of_complete_are_not_part_of_the_file(
    emu: Emulator, http: httpx.Client
) -> None:
    base, auth = start_multipart(http)
    etags = {n: put_part(http, base, auth, n, bytes([n]) * 100) for n in (1, 2, 3)}

    done = complete(http, base, auth, {2: etags[2], 1: etags[1]})

    assert done.status_code == 200, done.text
    url = done.json()["access_url"]
    assert http.get(url).content == b"\x01" * 100 + b"\x02" * 100
    assert stored(emu, url).size == 200
