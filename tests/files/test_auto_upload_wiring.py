"""auto_upload=True on a client: run, submit/subscribe and stream send URLs for local files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from fal_client.testing import Emulator
from tests.conftest import Driver


@pytest.fixture
def uploading(mode: Driver) -> Driver:
    mode.options = {**mode.options, "auto_upload": True}
    return mode


def test_files_in_arguments_become_urls(uploading: Driver, emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(b"hello from a file")
    for op in ("run", "subscribe"):
        result = uploading.call(op, "test/echo", {"file": path, "nested": [b"raw bytes"], "n": 1})
        sent = result["echo"]
        assert sent["n"] == 1
        urls = {f.url: f.sha256 for f in emu.files()}
        assert urls[sent["file"]] == hashlib.sha256(b"hello from a file").hexdigest()
        assert urls[sent["nested"][0]] == hashlib.sha256(b"raw bytes").hexdigest()


def test_stream_uploads_before_streaming(uploading: Driver, emu: Emulator) -> None:
    events = uploading.collect("stream", "test/tokens", {"n": 2, "blob": b"x"})
    assert events == [{"token": 0}, {"token": 1}]
    assert len(emu.files()) == 1


def test_other_bad_values_still_fail_before_any_upload(uploading: Driver, emu: Emulator) -> None:
    with pytest.raises(TypeError, match="JSON-serialisable"):
        uploading.call("run", "test/echo", {"file": b"x", "bad": object()})
    assert emu.requests() == []


def test_without_the_option_bytes_are_refused(mode: Driver, emu: Emulator) -> None:
    with pytest.raises(TypeError, match="JSON-serialisable"):
        mode.call("run", "test/echo", {"file": b"x"})
    assert emu.requests() == []


def test_the_option_is_checked(client_options: dict[str, Any]) -> None:
    import fal_client

    with pytest.raises(TypeError, match="auto_upload"):
        fal_client.AsyncClient(**client_options, auto_upload="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="upload_options"):
        fal_client.SyncClient(**client_options, upload_options={"chunk_size": 1})  # type: ignore[arg-type]
