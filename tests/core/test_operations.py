"""Every public operation, each behaviour written once and run on asyncio, trio and sync."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import fal_client
from fal_client import Completed, InProgress, Queued
from fal_client.testing import Emulator
from tests.conftest import Driver


def test_run_returns_the_apps_json(mode: Driver, emu: Emulator) -> None:
    result = mode.call("run", "test/echo", {"prompt": "hi", "n": [1, 2]})
    assert result["echo"] == {"prompt": "hi", "n": [1, 2]}
    runs = [r for r in emu.requests() if r.path.endswith("/test/echo")]
    assert runs and all(r.authorized for r in runs)


def test_run_sends_hint_start_timeout_and_custom_headers(mode: Driver, emu: Emulator) -> None:
    mode.call("run", "test/echo", {}, hint="gpu-a", start_timeout=30, headers={"X-Custom": "1"})
    (record,) = [r for r in emu.requests() if r.path.endswith("/test/echo")]
    headers = {k.lower(): v for k, v in record.headers.items()}
    assert headers["x-fal-runner-hint"] == "gpu-a"
    assert float(headers["x-fal-request-timeout"]) == 30.0
    assert headers["x-custom"] == "1"
    assert emu.env["FAL_KEY"] not in str(record.headers)  # the record never holds the secret


def test_submit_status_and_result_by_handle(mode: Driver, emu: Emulator) -> None:
    handle = mode.call("submit", "test/echo", {"x": 1})
    request_id = handle.request_id
    assert handle.app == "test/echo"
    final = emu.wait_job_status(request_id, status="COMPLETED")
    assert final.app == "test/echo"
    status = mode.on_handle("test/echo", request_id, "status")
    assert isinstance(status, Completed)
    assert mode.on_handle("test/echo", request_id, "get")["echo"] == {"x": 1}
    # Module-style access by id reaches the same job.
    assert mode.call("result", "test/echo", request_id)["echo"] == {"x": 1}
    assert isinstance(mode.call("status", "test/echo", request_id), Completed)


def test_iter_events_ends_with_completed_and_carries_logs(mode: Driver, emu: Emulator) -> None:
    handle = mode.call("submit", "test/logs", {"n": 3})
    events = mode.on_handle("test/logs", handle.request_id, "iter_events", with_logs=True)
    assert isinstance(events[-1], Completed)
    assert all(isinstance(e, (Queued, InProgress, Completed)) for e in events)
    messages = [log["message"] for e in events for log in (getattr(e, "logs", None) or [])]
    assert "step 2" in messages


def test_subscribe_calls_callbacks_and_returns_the_result(mode: Driver, emu: Emulator) -> None:
    enqueued: list[str] = []
    updates: list[Any] = []
    result = mode.call(
        "subscribe",
        "test/logs",
        {"n": 2},
        with_logs=True,
        on_enqueue=enqueued.append,
        on_queue_update=updates.append,
    )
    assert result == {"ok": True}
    assert len(enqueued) == 1
    assert isinstance(updates[-1], Completed)
    (job,) = emu.jobs()
    assert job.request_id == enqueued[0] and job.status == "COMPLETED"


def test_subscribe_waits_on_the_status_stream_not_polling(mode: Driver, emu: Emulator) -> None:
    mode.call("subscribe", "test/echo", {})
    paths = [r.path for r in emu.requests()]
    assert any(p.endswith("/status/stream") for p in paths)
    assert not any(p.endswith("/status") for p in paths)


def test_stream_yields_each_event_in_order(mode: Driver) -> None:
    assert mode.collect("stream", "test/tokens", {"n": 4}) == [{"token": i} for i in range(4)]


def test_app_validation_error_is_typed_with_detail(mode: Driver) -> None:
    with pytest.raises(fal_client.ValidationError) as info:
        mode.call("run", "test/invalid", {})
    assert info.value.status_code == 422
    assert info.value.field_errors[0]["loc"] == ["body", "prompt"]
    assert info.value.app == "test/invalid"
    with pytest.raises(fal_client.ValidationError) as queued:
        mode.call("subscribe", "test/invalid", {})
    assert queued.value.request_id


def test_app_crash_surfaces_as_server_error(mode: Driver) -> None:
    with pytest.raises(fal_client.ServerError) as info:
        mode.call("subscribe", "test/crash", {})
    assert info.value.status_code == 500 and info.value.request_id


def test_unknown_app_is_not_found(mode: Driver) -> None:
    with pytest.raises(fal_client.NotFoundError):
        mode.call("run", "test/nope", {})


def test_wrong_key_is_an_authentication_error(mode: Driver, emu: Emulator) -> None:
    mode.options = {**mode.options, "key": "wrong"}
    with pytest.raises(fal_client.AuthenticationError) as info:
        mode.call("run", "test/echo", {})
    assert "wrong" not in str(info.value)


def test_cancel_a_queued_job_so_it_never_runs(mode: Driver, emu: Emulator, new_gate: Any) -> None:
    name, gate = new_gate()
    # test/hold has 8 workers: fill them, so the next job stays queued.
    blockers = [mode.call("submit", "test/hold", {"gate": name}) for _ in range(8)]
    for b in blockers:
        emu.wait_job_status(b.request_id, status="IN_PROGRESS")
    queued = mode.call("submit", "test/hold", {"gate": name})
    assert isinstance(mode.on_handle("test/hold", queued.request_id, "status"), Queued)
    mode.on_handle("test/hold", queued.request_id, "cancel")
    gate.open()
    info = emu.wait_job_status(queued.request_id, status="CANCELLED")
    assert info.started_at is None
    with pytest.raises(fal_client.FalClientHTTPError):
        mode.on_handle("test/hold", queued.request_id, "cancel")  # already finished


def test_upload_round_trips_bytes_exactly(mode: Driver, emu: Emulator, tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    url = mode.call("upload", data, "application/octet-stream", "blob.bin")
    (info,) = [f for f in emu.files() if f.url == url]
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.size == len(data)
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    url = mode.call("upload_file", path)
    (info,) = [f for f in emu.files() if f.url == url]
    assert info.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert info.content_type.startswith("text/plain")


def test_upload_image_and_never_send_the_key_to_the_cdn(mode: Driver, emu: Emulator) -> None:
    from PIL import Image

    url = mode.call("upload_image", Image.new("RGB", (8, 8), "red"), "png")
    (info,) = [f for f in emu.files() if f.url == url]
    assert info.content_type == "image/png" and info.size > 0


@pytest.mark.parametrize(
    ("op", "args", "kwargs", "exc", "message"),
    [
        ("run", ("noslash", {}), {}, ValueError, "<appOwner>/<appId>"),
        ("run", ("test/echo", {"x": object()}), {}, TypeError, "JSON-serialisable"),
        ("run", ("test/echo", {"x": float("nan")}), {}, TypeError, "JSON-serialisable"),
        ("run", ("test/echo", {}), {"timeout": -1}, ValueError, "timeout"),
        ("run", ("test/echo", {}), {"start_timeout": 0.5}, ValueError, "start_timeout"),
        ("submit", ("test/echo", {}), {"priority": "urgent"}, ValueError, "priority"),
        ("submit", ("test/echo", {}), {"webhook_url": "not a url"}, ValueError, "webhook_url"),
        ("subscribe", ("test/echo", {}), {"client_timeout": 0}, ValueError, "client_timeout"),
        ("run", ("test/echo", {}), {"headers": {"X": "a\r\nb"}}, ValueError, "line break"),
        ("upload", (b"x", "nomime"), {}, ValueError, "content_type"),
        ("upload_file", ("/no/such/file",), {}, FileNotFoundError, "no such file"),
        ("status", ("test/echo", "a/b"), {}, ValueError, "request_id"),
    ],
)
def test_bad_input_is_rejected_before_anything_is_sent(
    mode: Driver,
    emu: Emulator,
    op: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    exc: type,
    message: str,
) -> None:
    with pytest.raises(exc, match=message):
        mode.call(op, *args, **kwargs)
    assert emu.requests() == []


def test_missing_credentials_raise_before_sending(
    mode: Driver, emu: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FAL_HOME_DIR", str(tmp_path))
    mode.options = {k: v for k, v in mode.options.items() if k != "key"}
    with pytest.raises(fal_client.MissingCredentialsError, match="FAL_KEY"):
        mode.call("run", "test/echo", {})
    assert emu.requests() == []


def test_encode_helpers_make_correct_data_urls(tmp_path: Path) -> None:
    import base64

    assert fal_client.encode(b"\x00\x01", "image/png") == "data:image/png;base64,AAE="
    assert (
        fal_client.encode("hé", "text/plain")
        == "data:text/plain;base64," + base64.b64encode("hé".encode()).decode()
    )
    p = tmp_path / "a.json"
    p.write_bytes(b"{}")
    assert fal_client.encode_file(p) == "data:application/json;base64,e30="
    (tmp_path / "blob").write_bytes(b"x")
    assert fal_client.encode_file(tmp_path / "blob").startswith(
        "data:application/octet-stream;base64,"
    )
    from PIL import Image

    url = fal_client.encode_image(Image.new("RGBA", (2, 2)), "jpeg")
    assert url.startswith("data:image/jpeg;base64,")
    with pytest.raises(ValueError, match="format"):
        fal_client.encode_image(Image.new("RGB", (2, 2)), "nope")
    with pytest.raises(TypeError, match="PIL"):
        fal_client.encode_image(b"not an image")


def test_handle_get_reports_statuses_with_logs(mode: Driver) -> None:
    seen: list[Any] = []
    request_id = mode.call("submit", "test/logs", {"n": 3}).request_id
    result = mode.on_handle(
        "test/logs", request_id, "get", with_logs=True, on_queue_update=seen.append
    )
    assert result == {"ok": True}
    assert isinstance(seen[-1], fal_client.Completed)
    assert [e["message"] for e in seen[-1].logs] == ["step 0", "step 1", "step 2"]
