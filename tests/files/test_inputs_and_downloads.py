"""Auto-upload of inputs, downloading every file of a result, Pillow staying optional, and
bounded memory for large uploads."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import anyio
import pytest

import fal_client
from fal_client._autoupload import upload_inputs
from fal_client.testing import Emulator
from tests.conftest import Driver
from tests.files.helpers import payload, stored

pytestmark = pytest.mark.timeout(60)


def run_inputs(mode: Driver, arguments: Any, **kwargs: Any) -> Any:
    """``upload_inputs`` on asyncio or trio (the sync mode runs it on the client's portal)."""
    if mode.is_sync:
        client = mode.sync_client()
        return client._portal.call(
            lambda: upload_inputs(client.async_client.engine, arguments, **kwargs)
        )

    async def run(client: fal_client.AsyncClient) -> Any:
        return await upload_inputs(client.engine, arguments, **kwargs)

    return mode._run_async(run)


def test_upload_inputs_replaces_files_bytes_and_images(
    mode: Driver, emu: Emulator, tmp_path: Path
) -> None:
    from PIL import Image

    audio = tmp_path / "voice.wav"
    audio.write_bytes(payload(3000, seed=1))
    blob = payload(2000, seed=2)
    handle = io.BytesIO(b"skip" + payload(1000, seed=3))
    handle.seek(4)
    arguments = {
        "prompt": "keep me",
        "audio": audio,
        "again": audio,  # the same file is uploaded once
        "nested": [{"data": blob}, ("https://already/a.png", handle)],
        "image": Image.new("RGB", (4, 4), "blue"),
        "n": 3,
    }
    result = run_inputs(mode, arguments)
    assert result["prompt"] == "keep me" and result["n"] == 3
    assert result["nested"][1][0] == "https://already/a.png"
    assert result["again"] == result["audio"]
    audio_info = stored(emu, result["audio"])
    assert audio_info.sha256 == hashlib.sha256(audio.read_bytes()).hexdigest()
    assert audio_info.content_type in ("audio/wav", "audio/x-wav")
    assert stored(emu, result["nested"][0]["data"]).sha256 == hashlib.sha256(blob).hexdigest()
    handle_info = stored(emu, result["nested"][1][1])
    assert handle_info.sha256 == hashlib.sha256(handle.getvalue()[4:]).hexdigest()
    assert stored(emu, result["image"]).content_type == "image/png"
    assert len(emu.files()) == 4
    assert isinstance(arguments["audio"], Path)  # the input is not modified


def test_upload_inputs_inlines_small_values_under_the_limit(mode: Driver, emu: Emulator) -> None:
    result = run_inputs(mode, {"small": b"abc", "big": payload(100)}, inline_limit=10)
    assert (
        result["small"]
        == "data:application/octet-stream;base64," + base64.b64encode(b"abc").decode()
    )
    assert result["big"].startswith("http")
    assert len(emu.files()) == 1


def test_upload_inputs_without_uploadables_sends_nothing(mode: Driver, emu: Emulator) -> None:
    arguments = {"a": [1, (2, "x")], "b": {"c": None}}
    assert run_inputs(mode, arguments) == {"a": [1, [2, "x"]], "b": {"c": None}}
    assert emu.requests() == []


def test_upload_inputs_rejects_bad_leaves_before_sending(
    mode: Driver, emu: Emulator, tmp_path: Path
) -> None:
    good = tmp_path / "ok.txt"
    good.write_text("ok")
    with pytest.raises(FileNotFoundError):
        run_inputs(mode, {"a": good, "b": tmp_path / "missing.png"})
    with open(good) as text:
        with pytest.raises(TypeError, match="binary"):
            run_inputs(mode, {"a": text})
    with pytest.raises(ValueError, match="inline_limit"):
        run_inputs(mode, {"a": b"x"}, inline_limit=-1)
    assert emu.requests() == []


def test_download_files_fetches_every_file_of_a_result(
    mode: Driver, emu: Emulator, tmp_path: Path
) -> None:
    blobs = [payload(5000 + i, seed=i) for i in range(3)]
    urls = [mode.call("upload", b, "image/png", "image.png") for b in blobs]
    result = {
        "images": [{"url": urls[0], "content_type": "image/png"}, {"url": urls[1]}],
        "video": {"url": urls[2], "file_name": "x"},
        "seed": 1,
        "again": {"url": urls[0]},
        "text": "https://not/a/file/object",
    }
    out = tmp_path / "out"
    paths = mode.call("download_files", result, out, max_concurrency=2)
    assert list(paths) == urls
    assert [p.name for p in paths.values()] == ["image.png", "image-1.png", "image-2.png"]
    assert [p.read_bytes() for p in paths.values()] == blobs
    with pytest.raises(FileExistsError):
        mode.call("download_files", result, out)
    assert mode.call("download_files", result, out, overwrite=True) == paths
    assert sorted(p.name for p in out.iterdir()) == ["image-1.png", "image-2.png", "image.png"]


def test_importing_the_package_never_imports_pillow() -> None:
    code = "import sys, fal_client; assert 'PIL' not in sys.modules, 'PIL imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_upload_image_without_pillow_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['PIL'] = None\n"
        "import fal_client\n"
        "try:\n"
        "    fal_client.encode_image(object())\n"
        "except ImportError as exc:\n"
        "    assert 'pip install' in str(exc), exc\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


@pytest.mark.parametrize("threshold", [100 * 1024 * 1024, 1024 * 1024])
def test_large_uploads_stream_in_bounded_memory(
    client_options: dict[str, Any], emu: Emulator, tmp_path: Path, threshold: int
) -> None:
    size = 48 * 1024 * 1024
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        for i in range(size // (1024 * 1024)):
            f.write(bytes([i]) * (1024 * 1024))

    async def main() -> str:
        async with fal_client.AsyncClient(**client_options) as client:
            return await client.upload_file(
                path, multipart_threshold=threshold, chunk_size=4 * 1024 * 1024, max_concurrency=4
            )

    # Traced allocations include the emulator thread's buffers; the file is 48 MiB.
    tracemalloc.start()
    try:
        url = anyio.run(main)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored(emu, url).size == size
    assert peak < 24 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
