"""Behaviours code written for the official client relies on, on asyncio, trio and sync.

Each test here is one thing real code does with the official ``fal-client`` (see
docs/migration.md, "Real-world usage census") that must work unchanged on this package.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import fal_client
import fal_client.client
from fal_client import _defaults
from fal_client.testing import AppContext, AppError, Emulator
from tests.conftest import GATES, Driver


@pytest.fixture
def no_env_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key anywhere: not in the environment, no `fal auth login` file."""
    for name in ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET", "FAL_FORCE_AUTH_BY_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAL_HOME_DIR", str(tmp_path / "no-fal-home"))


def _register_parity_apps(emu: Emulator) -> None:
    if any(app.name == "parity/stream" for app in emu.apps()):
        return

    @emu.app("parity/stream", workers=4)
    async def stream_app(arguments: dict[str, Any], ctx: AppContext) -> Any:
        yield {"partial": True}
        yield {"partial": False}

    @emu.app("parity/policy", workers=4)
    async def policy(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        raise AppError(
            status_code=422,
            detail=[
                {
                    "loc": ["body", "prompt"],
                    "msg": "The content could not be processed",
                    "type": "content_policy_violation",
                }
            ],
        )

    @emu.app("parity/lines", workers=4)
    async def lines(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        for i in range(6):
            if i == 3:
                await GATES[arguments["gate"]].wait()  # the test's wait has begun by then
            ctx.log(f"line {i}")
            # Let a status event go out between lines, so events really carry increments.
            await anyio.sleep(0.005)
        return {"done": True}


@pytest.fixture
def parity_emu(emu: Emulator) -> Emulator:
    _register_parity_apps(emu)
    return emu


# --- handles ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_get_handle_is_a_coroutine_and_handles_compare_equal(
    async_client: fal_client.AsyncClient, emu: Emulator, client_options: dict[str, Any]
) -> None:
    async with async_client:
        handle = await async_client.submit("test/echo", {"x": 1})
        again = await async_client.get_handle("test/echo", handle.request_id)
        assert again == handle and hash(again) == hash(handle)
        assert again != await async_client.get_handle("test/echo", "another-id")
        other_client = fal_client.AsyncClient(**client_options)
        assert again != await other_client.get_handle("test/echo", handle.request_id)
        assert await again.get() == {"echo": {"x": 1}, "request_id": handle.request_id}
    # get_handle sends nothing.
    assert [r.operation for r in emu.requests()].count("submit") == 1


def test_sync_handles_compare_equal(sync_client: fal_client.SyncClient) -> None:
    handle = sync_client.submit("test/echo", {"x": 2})
    again = sync_client.get_handle("test/echo", handle.request_id)
    assert again == handle and {again, handle} == {handle}
    assert again != sync_client.get_handle("test/echo", "another-id")
    assert (
        fal_client.SyncRequestHandle.from_request_id(sync_client, "test/echo", handle.request_id)
        == handle
    )


# --- client attributes --------------------------------------------------------------------


@pytest.mark.parametrize("cls", [fal_client.AsyncClient, fal_client.SyncClient])
def test_key_and_default_timeout_attributes(cls: Any, no_env_credentials: None) -> None:
    client = cls(key="k-123", default_timeout=42.5)
    try:
        assert client.key == "k-123" and client.default_timeout == 42.5
        assert "k-123" not in repr(client)
        assert cls().key is None
    finally:
        if isinstance(client, fal_client.SyncClient):
            client.close()


@pytest.mark.parametrize("cls", [fal_client.AsyncClient, fal_client.SyncClient])
def test_private_client_attribute_fails_loudly(
    cls: Any, emu: Emulator, client_options: dict[str, Any]
) -> None:
    client = cls(**client_options)
    try:
        with pytest.raises(AttributeError, match="http_client="):
            client._client = object()
        with pytest.raises(AttributeError, match="http_client="):
            client._client  # noqa: B018
    finally:
        if isinstance(client, fal_client.SyncClient):
            client.close()
    assert emu.requests() == []


# --- credentials --------------------------------------------------------------------------


def test_missing_credentials_error_builds_without_arguments() -> None:
    err = fal_client.MissingCredentialsError()
    assert str(err) == ""  # as the official one; the client's own carry the explanation
    assert fal_client.auth.MissingCredentialsError is fal_client.MissingCredentialsError
    assert isinstance(err, fal_client.FalClientError)


def test_setting_fal_key_after_a_missing_key_error_works(
    mode: Driver, emu: Emulator, no_env_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    mode.options = {k: v for k, v in mode.options.items() if k != "key"}
    with pytest.raises(fal_client.MissingCredentialsError):
        mode.call("run", "test/echo", {"x": 1})
    monkeypatch.setenv("FAL_KEY", emu.env["FAL_KEY"])
    # The same sync client (the driver keeps it) and a new async client alike now find the key.
    assert mode.call("run", "test/echo", {"x": 1})["echo"] == {"x": 1}


def test_auth_module_helpers(monkeypatch: pytest.MonkeyPatch, no_env_credentials: None) -> None:
    from fal_client.auth import AuthCredentials, fetch_auth_credentials, fetch_credentials

    with pytest.raises(fal_client.auth.MissingCredentialsError):
        fetch_credentials()
    monkeypatch.setenv("FAL_KEY_ID", "id")
    monkeypatch.setenv("FAL_KEY_SECRET", "secret")
    assert fetch_credentials() == "id:secret"
    creds = fetch_auth_credentials()
    assert creds == AuthCredentials("Key", "id:secret")
    assert creds.as_headers() == {"Authorization": "Key id:secret"}
    assert "secret" not in repr(creds)


@pytest.mark.anyio
async def test_auth_module_async_helper(
    monkeypatch: pytest.MonkeyPatch, no_env_credentials: None
) -> None:
    from fal_client.auth import AuthCredentials, fetch_auth_credentials_async

    with pytest.raises(fal_client.MissingCredentialsError):
        await fetch_auth_credentials_async()
    monkeypatch.setenv("FAL_KEY", "abc")
    assert await fetch_auth_credentials_async() == AuthCredentials("Key", "abc")


# --- default clients follow the environment ------------------------------------------------


@pytest.fixture
def two_emulators(emu: Emulator) -> Iterator[tuple[Emulator, Emulator]]:
    second = Emulator()
    with second:
        yield emu, second
    _defaults.reset_default_clients()


@pytest.mark.parametrize("flavour", ["sync", "asyncio", "trio"])
def test_default_clients_follow_a_changed_environment(
    flavour: str, two_emulators: tuple[Emulator, Emulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    def call() -> Any:
        if flavour == "sync":
            return fal_client.run("fal-ai/echo", {"v": 1})
        return anyio.run(fal_client.run_async, "fal-ai/echo", {"v": 1}, backend=flavour)

    first, second = two_emulators
    for name, value in first.env.items():
        monkeypatch.setenv(name, value)
    call()
    for name, value in second.env.items():
        monkeypatch.setenv(name, value)
    call()
    assert [r.operation for r in first.requests()] == ["run"]
    assert [r.operation for r in second.requests()] == ["run"]
    # And the official module attributes are those same default clients.
    if flavour == "sync":
        assert fal_client.sync_client is _defaults.default_sync_client()
    else:
        assert fal_client.async_client is _defaults.default_async_client()


# --- errors -------------------------------------------------------------------------------


def test_validation_error_message_is_the_detail_list_and_str_starts_with_it(
    mode: Driver, parity_emu: Emulator
) -> None:
    with pytest.raises(fal_client.FalClientHTTPError) as info:
        mode.call("subscribe", "parity/policy", {"prompt": "x"})
    err = info.value
    assert isinstance(err.message, list)
    assert err.message[0]["type"] == "content_policy_violation"
    assert str(err).startswith(str(err.message))  # the official str(e), verbatim, first
    assert "content_policy_violation" in str(err)
    assert isinstance(err.status_code, int) and err.status_code == 422
    assert isinstance(err.response_headers, dict)
    assert err.response.status_code == 422 and err.response.json() == {"detail": err.message}
    assert "parity/policy" in str(err)  # the context comes after the official text


def test_cancel_of_a_finished_job_reports_the_server_body(mode: Driver, emu: Emulator) -> None:
    handle_id = mode.call("submit", "test/echo", {}).request_id
    emu.wait_job_status(handle_id, status="COMPLETED")
    with pytest.raises(fal_client.FalClientHTTPError) as info:
        mode.call("cancel", "test/echo", handle_id)
    assert info.value.status_code == 400
    assert json.loads(info.value.message) == {"status": "ALREADY_COMPLETED"}
    assert "ALREADY_COMPLETED" in str(info.value)
    assert "HTTP 400: HTTP 400" not in str(info.value)


def test_timeout_error_text_starts_with_the_official_text(mode: Driver, new_gate: Any) -> None:
    gate_name, gate = new_gate()
    try:
        with pytest.raises(fal_client.FalClientTimeoutError) as info:
            mode.call("subscribe", "test/hold", {"gate": gate_name}, client_timeout=0.5)
    finally:
        gate.open()
    err = info.value
    assert err.timeout == 0.5 and err.request_id
    assert str(err).startswith(f"Request {err.request_id} timed out after 0.5 seconds")


# --- logs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stream_logs", ["new", "all"])
def test_statuses_carry_every_log_line_so_far_exactly_once(
    mode: Driver, parity_emu: Emulator, stream_logs: str, new_gate: Any
) -> None:
    gate_name, gate = new_gate()
    parity_emu.stream_logs = stream_logs

    def open_gate_once_watched() -> None:
        # The first event (lines 0-2) has gone out: the rest arrive as later events.
        parity_emu.wait_until(
            lambda: any(
                s.kind == "status_stream" and s.events_sent > 0 for s in parity_emu.streams()
            )
        )
        gate.open()

    try:
        request_id = mode.call("submit", "parity/lines", {"gate": gate_name}).request_id
        parity_emu.wait_job_status(request_id, status="IN_PROGRESS")
        opener = threading.Thread(target=open_gate_once_watched)
        opener.start()
        statuses = mode.on_handle("parity/lines", request_id, "iter_events", with_logs=True)
        opener.join()
    finally:
        gate.open()
        parity_emu.stream_logs = "new"
    expected = [f"line {i}" for i in range(6)]
    assert isinstance(statuses[-1], fal_client.Completed)
    assert [entry["message"] for entry in statuses[-1].logs] == expected
    seen: list[str] = []
    for status in statuses:
        if isinstance(status, fal_client.InProgress):
            messages = [entry["message"] for entry in status.logs]
            assert messages[: len(seen)] == seen  # never loses or reorders a line
            seen = messages
    assert seen, "the stream never showed the job in progress"
    # The status stream was used (the point of the test), not the polling fallback.
    assert "status_stream" in [r.operation for r in parity_emu.requests()]


def test_polled_statuses_carry_every_log_line_so_far(mode: Driver, emu: Emulator) -> None:
    emu.faults("http_status", operation="status_stream", status_code=405)
    request_id = mode.call("submit", "test/logs", {"n": 4}).request_id
    statuses = mode.on_handle("test/logs", request_id, "iter_events", with_logs=True)
    assert [entry["message"] for entry in statuses[-1].logs] == [f"step {i}" for i in range(4)]
    assert "status" in [r.operation for r in emu.requests()]


# --- URLs ---------------------------------------------------------------------------------


def test_stream_appends_the_stream_path_even_to_an_app_named_stream(
    mode: Driver, parity_emu: Emulator
) -> None:
    events = mode.collect("stream", "parity/stream", {})
    assert events[-1] == {"partial": False}
    paths = [r.path for r in parity_emu.requests() if r.operation == "stream"]
    assert paths == ["/run/parity/stream/stream"]


def test_stream_path_is_not_doubled_when_the_sub_path_has_it(
    mode: Driver, parity_emu: Emulator
) -> None:
    mode.collect("stream", "parity/stream/stream", {})
    paths = [r.path for r in parity_emu.requests() if r.operation == "stream"]
    assert paths == ["/run/parity/stream/stream"]


# --- defaults that change outcomes ----------------------------------------------------------


def test_run_outlives_default_timeout_like_the_official_client(mode: Driver, emu: Emulator) -> None:
    # The official client sends run() with no timeout at all; default_timeout must not cut it.
    mode.options = {**mode.options, "default_timeout": 0.2}
    assert mode.call("run", "test/delay", {"delay": 0.6, "i": 1}) == {"i": 1}
    assert fal_client.client.SyncClient is fal_client.SyncClient
    from fal_client._client import DEFAULT_RUN_TIMEOUT

    assert DEFAULT_RUN_TIMEOUT >= 3600


# --- status stream and give-up bugs ---------------------------------------------------------


def test_result_of_an_unknown_request_neither_cancels_nor_turns_streams_off(
    mode: Driver, emu: Emulator
) -> None:
    with pytest.raises(fal_client.NotFoundError):
        mode.call("result", "test/echo", "no-such-request")
    assert "cancel" not in [r.operation for r in emu.requests()]
    emu.reset()
    # The same client (sync) keeps using the status stream for the next wait.
    handle_id = mode.call("submit", "test/echo", {"x": 3}).request_id
    assert mode.on_handle("test/echo", handle_id, "get")["echo"] == {"x": 3}
    if mode.is_sync:
        assert "status_stream" in [r.operation for r in emu.requests()]


@pytest.mark.anyio
async def test_a_server_without_status_stream_is_polled_per_origin(
    async_client: fal_client.AsyncClient, emu: Emulator
) -> None:
    emu.faults("http_status", operation="status_stream", status_code=405, count=1)
    async with async_client:
        handle = await async_client.submit("test/echo", {"x": 1})
        await handle.get()
        first = [r.operation for r in emu.requests()]
        emu.reset()
        handle = await async_client.submit("test/echo", {"x": 2})
        await handle.get()
        second = [r.operation for r in emu.requests()]
    assert "status_stream" in first and "status" in first
    assert "status_stream" not in second  # that origin is polled for a while now


def test_sync_client_takes_an_injected_http_client_on_a_mock_transport() -> None:
    # The supported way to do what suites written for the official client do via `_client`.
    import httpx

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url} {request.headers['authorization']}")
        return httpx.Response(200, json={"ok": True})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    with fal_client.SyncClient(key="k1", run_url="http://127.0.0.1:9/run", http_client=http) as c:
        assert c.run("me/app", {"a": 1}) == {"ok": True}
    assert seen == ["POST http://127.0.0.1:9/run/me/app Key k1"]
