"""The retry policy against real faults: what is retried, what is not, and never a double submit."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any, Callable

import pytest

import fal_client
from fal_client import RetryPolicy
from fal_client.testing import Emulator, Gate
from tests.conftest import Driver

FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, max_attempts=4)


@pytest.fixture
def fast(mode: Driver) -> Driver:
    mode.options = {**mode.options, "retry": FAST}
    return mode


def submits(emu: Emulator, app: str) -> list[Any]:
    return [r for r in emu.requests() if r.method == "POST" and r.path.endswith(app)]


@pytest.mark.parametrize("kind", ["ingress_502", "ingress_503", "ingress_504"])
def test_ingress_errors_on_submit_are_retried_and_create_one_job(
    fast: Driver, emu: Emulator, kind: str
) -> None:
    emu.faults(kind, operation="submit", count=2)
    assert fast.call("subscribe", "test/echo", {"k": kind})["echo"] == {"k": kind}
    assert len(submits(emu, "test/echo")) == 3
    assert len(emu.jobs()) == 1


def test_rate_limit_honours_retry_after(fast: Driver, emu: Emulator) -> None:
    emu.faults("rate_limit", operation="run", count=1, retry_after=0.3)
    started = time.monotonic()
    assert fast.call("run", "test/echo", {})["echo"] == {}
    # The policy's own backoff is 10-50 ms: only Retry-After explains a wait this long.
    assert time.monotonic() - started >= 0.3


def test_a_rate_limit_storm_ends_in_a_typed_error(fast: Driver, emu: Emulator) -> None:
    emu.faults("rate_limit", operation="run", retry_after=0.01)
    with pytest.raises(fal_client.RateLimitError) as info:
        fast.call("run", "test/echo", {})
    assert info.value.retry_after == pytest.approx(0.01)
    assert len([r for r in emu.requests() if r.path.endswith("test/echo")]) == FAST.max_attempts


def test_a_reset_after_an_accepted_submit_is_not_resent(fast: Driver, emu: Emulator) -> None:
    emu.faults("reset_after_submit", operation="submit", count=1)
    with pytest.raises(fal_client.SubmitNotConfirmedError) as info:
        fast.call("submit", "test/echo", {})
    assert isinstance(info.value, fal_client.FalClientConnectionError)
    assert info.value.app == "test/echo"
    assert len(submits(emu, "test/echo")) == 1
    assert len(emu.jobs()) == 1  # the job exists; the client said so instead of paying twice


def test_a_reset_run_is_not_resent_either(fast: Driver, emu: Emulator) -> None:
    emu.faults("reset_before", operation="run", count=1)
    with pytest.raises(fal_client.SubmitNotConfirmedError):
        fast.call("run", "test/echo", {})
    assert len([r for r in emu.requests() if r.path.endswith("test/echo")]) == 1


@pytest.mark.parametrize("kind", ["reset_before", "status_500", "ingress_503"])
def test_status_reads_are_retried(fast: Driver, emu: Emulator, kind: str) -> None:
    handle = fast.call("submit", "test/echo", {})
    emu.wait_job_status(handle.request_id, status="COMPLETED")
    emu.faults(kind, operation="status", count=2)
    status = fast.on_handle("test/echo", handle.request_id, "status")
    assert isinstance(status, fal_client.Completed)


def test_a_status_stream_cut_midway_reconnects_and_completes(
    fast: Driver, emu: Emulator, new_gate: Callable[[], tuple[str, Gate]]
) -> None:
    name, gate = new_gate()
    # The first stream is cut when its second event is due: after IN_PROGRESS, at COMPLETED.
    emu.faults("sse_cut", operation="status_stream", count=1, after_events=1)

    def on_update(status: Any) -> None:
        if isinstance(status, fal_client.InProgress):
            gate.open()

    result = fast.call("subscribe", "test/hold", {"gate": name}, on_queue_update=on_update)
    assert result == {"released": True}
    streams = [r for r in emu.requests() if r.path.endswith("/status/stream")]
    assert len(streams) == 2
    assert not [r for r in emu.requests() if r.path.endswith("/status")]  # no fallback needed


def test_result_replays_the_apps_500_without_retrying(fast: Driver, emu: Emulator) -> None:
    with pytest.raises(fal_client.ServerError):
        fast.call("subscribe", "test/crash", {})
    results = [
        r for r in emu.requests() if r.method == "GET" and r.path.split("/")[-2] == "requests"
    ]
    assert len(results) == 1


def test_run_deadline_surfaces_as_a_timeout(fast: Driver, emu: Emulator) -> None:
    emu.faults("latency", operation="run", seconds=2.0)
    with pytest.raises(fal_client.FalClientTimeoutError) as info:
        fast.call("run", "test/echo", {}, timeout=0.3)
    assert isinstance(info.value, TimeoutError) and info.value.timeout == 0.3


def test_the_key_goes_only_to_fal_and_never_to_signed_upload_urls(
    mode: Driver, emu: Emulator
) -> None:
    # Make the CDN refuse, so the upload falls back to the REST-initiated signed PUT.
    emu.faults("http_status", operation="upload", count=1, status_code=403, detail="cdn says no")
    data = b"signed upload"
    url = mode.call("upload", data, "text/plain", "s.txt")
    (info,) = [f for f in emu.files() if f.url == url]
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    puts = [r for r in emu.requests() if r.method == "PUT"]
    assert puts, "the fallback did not PUT to the signed URL"
    for record in puts:
        assert "authorization" not in record.headers


def test_the_key_never_appears_in_reprs_errors_or_debug_logs(
    mode: Driver, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    key = emu.env["FAL_KEY"]
    emu.faults("ingress_503", operation="run", count=1)
    caplog.set_level(logging.DEBUG, logger="fal_client")
    mode.options = {**mode.options, "retry": FAST}
    mode.call("run", "test/echo", {})
    with pytest.raises(fal_client.FalClientError) as info:
        mode.call("run", "test/invalid", {})
    assert "retrying" in caplog.text
    client = fal_client.AsyncClient(key=key)
    texts = [
        caplog.text,
        str(info.value),
        repr(info.value),
        repr(client),
        repr(client.engine.transport),
    ]
    texts.append(repr(client.engine.transport._credentials))
    for text in texts:
        assert key not in text
