"""Uploads through the clients, each behaviour once, on asyncio, trio and sync, against the
emulator: exact round trips around the multipart threshold, retries, cancellation, progress,
lifecycle, repositories, and where the key goes."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

import fal_client
from fal_client import StorageACL, StorageACLRule, StorageSettings
from fal_client.testing import Emulator
from tests.conftest import Driver
from tests.files.helpers import CHUNK, SMALL_PARTS, THRESHOLD, completes, parts, payload, stored

pytestmark = pytest.mark.timeout(60)

SIZES = [0, 1, THRESHOLD - 1, THRESHOLD, THRESHOLD + 1, 3 * THRESHOLD + 7]


def expected_source(size: int, repository: str) -> str:
    multipart = size > THRESHOLD
    if repository == "fal_v3":
        return "cdn-multipart" if multipart else "cdn"
    return "signed-multipart" if multipart else "signed"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("repository", ["fal_v3", "fal"])
def test_bytes_round_trip_exactly(mode: Driver, emu: Emulator, size: int, repository: str) -> None:
    data = payload(size, seed=size)
    url = mode.call(
        "upload",
        data,
        "application/octet-stream",
        "blob.bin",
        repository=repository,
        fallback_repository=[],
        **SMALL_PARTS,
    )
    info = stored(emu, url)
    assert (info.size, info.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert info.source == expected_source(size, repository)
    expected_parts = -(-size // CHUNK) if size > THRESHOLD else 0
    assert len(parts(emu)) == expected_parts
    assert len(completes(emu)) == (1 if expected_parts else 0)


@pytest.mark.parametrize("size", SIZES)
def test_file_round_trips_streamed_from_disk(
    mode: Driver, emu: Emulator, tmp_path: Path, size: int
) -> None:
    data = payload(size, seed=size + 1)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    url = mode.call("upload_file", path, **SMALL_PARTS)
    info = stored(emu, url)
    assert (info.size, info.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert info.content_type == "video/mp4"
    assert info.file_name == "clip.mp4"
    assert info.source == expected_source(size, "fal_v3")


def test_client_wide_upload_options(mode: Driver, emu: Emulator) -> None:
    data = payload(5 * CHUNK)
    if mode.is_sync:
        client = mode.sync_client()
        client.upload_options = fal_client.UploadOptions(
            multipart_threshold=CHUNK, chunk_size=CHUNK, max_concurrency=2
        )
        url = client.upload(data, "application/octet-stream")
    else:

        async def run(client: fal_client.AsyncClient) -> str:
            client.upload_options = fal_client.UploadOptions(
                multipart_threshold=CHUNK, chunk_size=CHUNK, max_concurrency=2
            )
            return await client.upload(data, "application/octet-stream")

        url = mode._run_async(run)
    assert stored(emu, url).sha256 == hashlib.sha256(data).hexdigest()
    assert len(parts(emu)) == 5


def test_failed_parts_are_retried_alone(mode: Driver, emu: Emulator) -> None:
    data = payload(4 * CHUNK + 3)
    emu.faults("part_fail", operation="part", count=3)
    url = mode.call(
        "upload", data, "application/octet-stream", fallback_repository=[], **SMALL_PARTS
    )
    assert stored(emu, url).sha256 == hashlib.sha256(data).hexdigest()
    seen = parts(emu)
    assert sum(1 for r in seen if r.status_code == 500) == 3
    assert sum(1 for r in seen if r.status_code == 200) == 5  # each part stored exactly once
    assert len(completes(emu)) == 1


def test_a_part_that_keeps_failing_fails_the_upload_without_completing(
    mode: Driver, emu: Emulator
) -> None:
    emu.faults("part_fail", operation="part")
    # Every attempt of the part fails (the default 5), after short backoffs.
    mode.options = {
        **mode.options,
        "retry": fal_client.RetryPolicy(base_delay=0.01, max_delay=0.02),
    }
    with pytest.raises(fal_client.FalClientHTTPError):
        mode.call(
            "upload",
            payload(THRESHOLD * 2),
            "application/octet-stream",
            fallback_repository=[],
            **SMALL_PARTS,
        )
    assert completes(emu) == []
    assert emu.files() == []


def test_cdn_failure_falls_back_to_the_signed_upload(mode: Driver, emu: Emulator) -> None:
    emu.faults("http_status", operation="token", status_code=401, detail="no token for you")
    data = payload(3 * THRESHOLD)
    url = mode.call("upload", data, "application/octet-stream", **SMALL_PARTS)
    info = stored(emu, url)
    assert info.source == "signed-multipart" and info.sha256 == hashlib.sha256(data).hexdigest()


def test_progress_is_monotone_and_ends_at_total(mode: Driver, emu: Emulator) -> None:
    data = payload(3 * THRESHOLD + 5)
    seen: list[tuple[int, int]] = []
    threads: set[int] = set()

    def progress(sent: int, total: int) -> None:
        seen.append((sent, total))
        threads.add(threading.get_ident())

    mode.call("upload", data, "application/octet-stream", progress=progress, **SMALL_PARTS)
    assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:]))
    assert {total for _, total in seen} == {len(data)}
    if mode.is_sync:
        assert threads == {threading.get_ident()}  # callbacks run on the caller's thread


def test_progress_of_a_retried_single_upload_never_goes_back(mode: Driver, emu: Emulator) -> None:
    emu.faults("http_status", operation="upload", status_code=503, count=1)
    data = payload(THRESHOLD)
    seen: list[int] = []
    mode.call(
        "upload",
        data,
        "application/octet-stream",
        progress=lambda sent, total: seen.append(sent),
        **SMALL_PARTS,
    )
    assert seen == sorted(set(seen)) and seen[-1] == len(data)


def test_cancelling_a_multipart_midway_never_completes_it(mode: Driver, emu: Emulator) -> None:
    data = payload(20 * CHUNK)

    class Stop(Exception):
        pass

    if mode.is_sync:
        # A sync progress callback that raises cancels the upload in the loop thread.
        def stop_midway(sent: int, total: int) -> None:
            if sent >= 4 * CHUNK:
                raise Stop

        with pytest.raises(Stop):
            mode.sync_client().upload(
                data,
                "application/octet-stream",
                progress=stop_midway,
                max_concurrency=2,
                **SMALL_PARTS,
            )
    else:

        async def run(client: fal_client.AsyncClient) -> None:
            with anyio.CancelScope() as scope:

                def cancel_midway(sent: int, total: int) -> None:
                    if sent >= 4 * CHUNK:
                        scope.cancel()

                await client.upload(
                    data,
                    "application/octet-stream",
                    progress=cancel_midway,
                    max_concurrency=2,
                    **SMALL_PARTS,
                )
            assert scope.cancelled_caught

        mode._run_async(run)
    assert 0 < len(parts(emu)) < 20
    assert completes(emu) == []
    assert emu.files() == []


def test_a_deadline_during_slow_parts_aborts_promptly(mode: Driver, emu: Emulator) -> None:
    emu.faults("latency", operation="part", seconds=5)
    data = payload(4 * THRESHOLD)
    t0 = time.monotonic()
    if mode.is_sync:
        # The sync deadline is each request's read timeout, every part retried (5 attempts, the
        # default) with short backoffs: each slow part is given up on, retried, and given up on.
        quick = fal_client.RetryPolicy(base_delay=0.01, max_delay=0.02)
        client = fal_client.SyncClient(**mode.options, default_timeout=0.25, retry=quick)
        try:
            with pytest.raises(fal_client.FalClientError):
                client.upload(
                    data, "application/octet-stream", fallback_repository=[], **SMALL_PARTS
                )
        finally:
            client.close()
    else:

        async def run(client: fal_client.AsyncClient) -> None:
            with anyio.move_on_after(0.5) as scope:
                await client.upload(data, "application/octet-stream", **SMALL_PARTS)
            assert scope.cancelled_caught

        mode._run_async(run)
    assert time.monotonic() - t0 < 10
    assert completes(emu) == []


def test_lifecycle_and_acl_reach_the_cdn(mode: Driver, emu: Emulator) -> None:
    settings = StorageSettings(
        expires_in="1d",
        initial_acl=StorageACL(default="hide", rules=[StorageACLRule("u1", "allow")]),
    )
    for size in (10, THRESHOLD + 1):
        url = mode.call("upload", payload(size), "text/plain", lifecycle=settings, **SMALL_PARTS)
        assert stored(emu, url).lifecycle == {
            "expiration_duration_seconds": 86400,
            "initial_acl": {"default": "hide", "rules": [{"user": "u1", "decision": "allow"}]},
        }
    url = mode.call("upload", b"x", "text/plain", lifecycle=StorageSettings(expires_in="never"))
    assert stored(emu, url).lifecycle is None


def test_the_key_never_reaches_signed_urls_nor_the_cdn(mode: Driver, emu: Emulator) -> None:
    for size in (10, 2 * THRESHOLD):
        mode.call("upload", payload(size), "text/plain", repository="fal", **SMALL_PARTS)
        mode.call("upload", payload(size), "text/plain", repository="fal_v3", **SMALL_PARTS)
    for record in emu.requests():
        auth = record.headers.get("authorization", "")
        if record.path.startswith("/cdn/signed/"):
            assert auth == "", record
        elif record.path.startswith("/cdn/"):
            assert auth.startswith("Bearer"), record  # the CDN token, never the key
        assert emu.env["FAL_KEY"] not in str(record)


def test_cdn_alias_warns_and_means_fal_v3(mode: Driver, emu: Emulator) -> None:
    with pytest.warns(DeprecationWarning, match="cdn"):
        url = mode.call("upload", b"hi", "text/plain", repository="cdn")
    assert stored(emu, url).source == "cdn"


def test_upload_image_formats(mode: Driver, emu: Emulator, tmp_path: Path) -> None:
    from PIL import Image

    url = mode.call("upload_image", Image.new("RGBA", (8, 8), "red"), "jpg")
    info = stored(emu, url)
    assert info.content_type == "image/jpeg" and info.file_name == "image.jpg"
    with Image.open(io.BytesIO(mode.call("download", url, tmp_path).read_bytes())) as img:
        assert img.format == "JPEG"


def bad_inputs(tmp_path: Path) -> list[tuple[str, tuple[Any, ...], dict[str, Any], type, str]]:
    directory = tmp_path / "dir"
    directory.mkdir()
    return [
        ("upload_file", (tmp_path / "missing.bin",), {}, FileNotFoundError, "no such file"),
        ("upload_file", (directory,), {}, IsADirectoryError, "directory"),
        ("upload_file", (42,), {}, TypeError, "path"),
        ("upload_image", (b"not an image",), {}, TypeError, "PIL"),
        ("upload_image", (None, "tiff-ish"), {}, ValueError, "format"),
        ("upload", (b"x", "text/plain"), {"repository": "s3"}, ValueError, "repository"),
        ("upload", (b"x", "text/plain"), {"fallback_repository": ["gcs"]}, ValueError, "gcs"),
        (
            "upload",
            (b"x", "text/plain"),
            {"lifecycle": {"expiration_duration_seconds": -5}},
            ValueError,
            "positive",
        ),
        ("upload", (b"x", "text/plain"), {"lifecycle": "1d"}, TypeError, "StorageSettings"),
        ("upload", (b"x", "text/plain"), {"chunk_size": 0}, ValueError, "chunk_size"),
        ("upload", (b"x", "text/plain"), {"max_concurrency": 0}, ValueError, "max_concurrency"),
        ("upload", (b"x", "text/plain"), {"progress": "yes"}, TypeError, "progress"),
        ("upload", (b"x", "text/plain\r\nX: y"), {}, ValueError, "content_type"),
        ("upload", (b"x", "text/plain; charset"), {}, ValueError, "'charset' has no value"),
        ("upload", (b"x", "text/pl ain"), {}, ValueError, "'pl ain' is not a token"),
        ("upload", (object(), "text/plain"), {}, TypeError, "bytes"),
        (
            "upload_file",
            (tmp_path / "missing.bin",),
            {"progress": print},
            FileNotFoundError,
            "no such",
        ),
    ]


@pytest.mark.parametrize("case", range(17))
def test_bad_input_raises_before_anything_is_sent(
    mode: Driver, emu: Emulator, tmp_path: Path, case: int
) -> None:
    op, args, kwargs, exc, message = bad_inputs(tmp_path)[case]
    with pytest.raises(exc, match=message):
        mode.call(op, *args, **kwargs)
    assert emu.requests() == []


def test_storage_settings_validate_on_creation() -> None:
    with pytest.raises(ValueError, match="positive"):
        StorageSettings(expires_in=-1)
    with pytest.raises(ValueError, match="unknown expires_in"):
        StorageSettings(expires_in="2d")
    with pytest.raises(ValueError, match="bool"):
        StorageSettings(expires_in=True)
    with pytest.raises(ValueError, match="decision"):
        StorageACLRule("u", "maybe")
    with pytest.raises(ValueError, match="default"):
        StorageACL(default="public")
    assert StorageSettings(expires_in="immediate").payload() == {"expiration_duration_seconds": 60}
    assert StorageSettings(expires_in=90).payload() == {"expiration_duration_seconds": 90}
    assert StorageSettings().payload() is None


@pytest.mark.skipif(
    not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
    reason="root reads any file",
)
def test_unreadable_file_raises_before_sending(mode: Driver, emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "secret.bin"
    path.write_bytes(b"x")
    path.chmod(0)
    with pytest.raises(PermissionError, match="not readable"):
        mode.call("upload_file", path)
    assert emu.requests() == []
