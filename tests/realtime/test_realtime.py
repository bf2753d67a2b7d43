"""Realtime sessions against the emulator's websocket, on asyncio, trio and sync."""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import parse_qs

import anyio
import pytest

import fal_client
from fal_client.testing import Emulator

from .conftest import RealtimeDriver

pytestmark = pytest.mark.timeout(60)

ECHO = "fal-ai/realtime-echo"


def realtime_requests(emu: Emulator) -> list[Any]:
    return [r for r in emu.requests() if r.method == "WEBSOCKET"]


# Round trips on one connection: enough to show order and counting hold over a session (the
# realtime benchmark, bench_realtime.py, runs the long ones).
ROUND_TRIPS = 300


def test_many_round_trips_arrive_in_order(rt: RealtimeDriver, rt_emu: Emulator) -> None:
    async def body(session: Callable[..., Any]) -> None:
        async with session(ECHO) as conn:
            for i in range(ROUND_TRIPS):
                await conn.send({"i": i, "prompt": "p"})
                reply = await conn.recv()
                assert reply == {"i": i, "prompt": "p", "counter": i + 1}

    rt.run(body)
    info = rt_emu.wait_stream_finished()
    assert info.kind == "realtime"
    assert info.events_received == ROUND_TRIPS and info.events_sent == ROUND_TRIPS
    assert info.client_disconnected  # we closed it


def test_pipelined_sends_come_back_in_order(rt: RealtimeDriver) -> None:
    async def body(session: Callable[..., Any]) -> None:
        async with session(ECHO) as conn:
            for i in range(50):
                await conn.send({"i": i})
            replies = [await conn.recv() for _ in range(50)]
        assert [r["i"] for r in replies] == list(range(50))

    rt.run(body)


def test_error_frames_raise_and_the_session_then_ends(rt: RealtimeDriver) -> None:
    async def body(session: Callable[..., Any]) -> None:
        async with session("test/rt-crash") as conn:
            await conn.send({"fine": 1})
            assert await conn.recv() == {"ok": {"fine": 1}}
            await conn.send({"crash": True})
            with pytest.raises(fal_client.RealtimeError) as raised:
                await conn.recv()
            # The server closes normally after its error frame.
            assert await conn.recv() is None
        err = raised.value
        assert err.error == "INTERNAL_ERROR"
        assert err.reason == "ValueError: bad frame content"
        assert err.payload["type"] == "x-fal-error"
        assert isinstance(err, fal_client.FalClientError) and isinstance(err, RuntimeError)
        assert err.app == "test/rt-crash"

    rt.run(body)


def test_meta_frames_are_skipped(rt: RealtimeDriver, rt_emu: Emulator) -> None:
    # Every result is followed by an x-fal-message timings frame; a streaming app sends several
    # results per input. Only the results reach the caller.
    async def body(session: Callable[..., Any]) -> None:
        async with session("test/rt-parts") as conn:
            await conn.send({"count": 3})
            parts = [await conn.recv() for _ in range(3)]
            await conn.send({"count": 1})
            last = await conn.recv()
        assert parts == [{"part": n, "blob": b""} for n in range(3)]
        assert last == {"part": 0, "blob": b""}

    rt.run(body)


def test_the_idle_timeout_frame_ends_the_session_without_an_error(
    rt: RealtimeDriver, client_options: dict[str, Any]
) -> None:
    # fal sends {"type": "x-fal-error", "error": "TIMEOUT"} to an idle session, then closes.
    # Like fal's JS client we treat it as a clean end: iteration stops, recv() returns None.
    with Emulator(realtime_idle_timeout=0.3) as idle:
        options = {**client_options, **_urls(idle)}

        async def body(session: Callable[..., Any]) -> None:
            async with session(ECHO) as conn:
                for i in range(3):
                    await conn.send({"i": i})
                received = await conn.collect()
                assert [m["i"] for m in received] == [0, 1, 2]
                assert await conn.recv() is None
                with pytest.raises(fal_client.RealtimeError) as raised:
                    await conn.send({"late": True})
                assert raised.value.error == "CONNECTION_CLOSED"

        rt.run(body, options=options)


def _urls(emu: Emulator) -> dict[str, str]:
    env = emu.env
    return {
        "key": env["FAL_KEY"],
        "run_url": env["FAL_RUN_URL"],
        "queue_url": env["FAL_QUEUE_URL"],
        "rest_url": env["FAL_REST_URL"],
        "cdn_url": env["FAL_CDN_URL"],
    }


def test_token_url_and_max_buffering_on_the_wire(rt: RealtimeDriver, rt_emu: Emulator) -> None:
    async def body(session: Callable[..., Any]) -> None:
        # The id already ends with /realtime: it must not be doubled.
        async with session(f"{ECHO}/realtime", max_buffering=2) as conn:
            await conn.send({"x": 1})
            assert await conn.recv() == {"x": 1, "counter": 1}

    rt.run(body)
    [token] = [r for r in rt_emu.requests() if r.operation == "token"]
    assert token.method == "POST" and token.path == "/rest/tokens/"
    [ws] = realtime_requests(rt_emu)
    assert ws.path == "/run/fal-ai/realtime-echo/realtime"
    query = parse_qs(ws.query)
    assert query["max_buffering"] == ["2"] and len(query["fal_jwt_token"]) == 1
    assert "authorization" not in ws.headers


def test_use_jwt_false_sends_the_key_in_a_header(rt: RealtimeDriver, rt_emu: Emulator) -> None:
    async def body(session: Callable[..., Any]) -> None:
        async with session(ECHO, use_jwt=False) as conn:
            await conn.send({"x": 1})
            assert await conn.recv() == {"x": 1, "counter": 1}

    rt.run(body)
    assert not [r for r in rt_emu.requests() if r.operation == "token"]
    [ws] = realtime_requests(rt_emu)
    assert ws.headers["authorization"] == "Key [redacted]" and "fal_jwt_token" not in ws.query


def test_a_wrong_key_is_refused_at_the_handshake(
    rt: RealtimeDriver, client_options: dict[str, Any]
) -> None:
    async def body(session: Callable[..., Any]) -> None:
        with pytest.raises(fal_client.AuthenticationError) as raised:
            async with session(ECHO, use_jwt=False):
                pass
        assert raised.value.status_code == 401

    rt.run(body, options={**client_options, "key": "wrong"})


def test_an_unknown_app_is_not_found(rt: RealtimeDriver) -> None:
    async def body(session: Callable[..., Any]) -> None:
        with pytest.raises(fal_client.NotFoundError):
            async with session("test/no-such-rt", use_jwt=False):
                pass

    rt.run(body)


@pytest.mark.parametrize("bad", [0, 61, -1, "2", 2.5, True])
def test_bad_max_buffering_is_rejected_before_connecting(
    bad: Any, client_options: dict[str, Any], emu: Emulator
) -> None:
    async_client = fal_client.AsyncClient(**client_options)
    with pytest.raises(ValueError, match="max_buffering"):
        async_client.realtime(ECHO, max_buffering=bad)
    with fal_client.SyncClient(**client_options) as sync_client:
        with pytest.raises(ValueError, match="max_buffering"):
            sync_client.realtime(ECHO, max_buffering=bad)
    with pytest.raises(ValueError, match="max_buffering"):
        fal_client.realtime_async(ECHO, max_buffering=bad)
    with pytest.raises(ValueError, match="max_buffering"):
        fal_client.realtime(ECHO, max_buffering=bad)
    assert emu.requests() == []


def test_other_bad_arguments_are_rejected_before_connecting(
    client_options: dict[str, Any], emu: Emulator
) -> None:
    client = fal_client.AsyncClient(**client_options)
    with pytest.raises(ValueError, match="app id"):
        client.realtime("no-slash")
    with pytest.raises(ValueError, match="token_expiration"):
        client.realtime(ECHO, token_expiration=0)
    with pytest.raises(ValueError, match="path"):
        client.realtime(ECHO, path="/x?y=1")
    with pytest.raises(TypeError, match="encode_message"):
        client.realtime(ECHO, encode_message="msgpack")  # type: ignore[arg-type]
    assert emu.requests() == []


@pytest.mark.anyio
async def test_a_cancelled_receive_closes_the_connection(
    async_client: fal_client.AsyncClient, rt_emu: Emulator
) -> None:
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            parked = anyio.Event()

            async def wait_forever() -> None:
                async with async_client.realtime(ECHO) as conn:
                    await conn.send({"x": 1})
                    assert await conn.recv() == {"x": 1, "counter": 1}
                    parked.set()
                    await conn.recv()  # nothing more will come

            tg.start_soon(wait_forever)
            await parked.wait()
            await anyio.sleep(0.05)  # let the task park in recv()
            started = anyio.current_time()
            tg.cancel_scope.cancel()
        cancel_took = anyio.current_time() - started
        info = await rt_emu.wait_stream_finished_async(timeout=5)
    assert info.client_disconnected
    assert cancel_took < 0.5
    await rt_emu.wait_open_connections_async(at_most=1)  # only the token request's pool, if any
    await async_client.aclose()


@pytest.mark.anyio
async def test_a_receive_that_times_out_leaves_the_session_usable(
    async_client: fal_client.AsyncClient,
) -> None:
    with anyio.fail_after(10):
        async with async_client.realtime(ECHO) as conn:
            with anyio.move_on_after(0.1) as scope:
                await conn.recv()
            assert scope.cancelled_caught
            await conn.send({"after": 1})
            assert await conn.recv() == {"after": 1, "counter": 1}
    await async_client.aclose()


def test_ctrl_c_in_a_sync_receive_closes_the_connection(
    sync_client: fal_client.SyncClient, rt_emu: Emulator
) -> None:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach only the main thread")

    parked = threading.Event()

    def interrupt_when_parked() -> None:
        parked.wait(10)
        threading.Event().wait(0.1)  # let the main thread park in recv()
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    helper = threading.Thread(target=interrupt_when_parked)
    helper.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            with sync_client.realtime(ECHO) as conn:
                conn.send({"x": 1})
                assert conn.recv() == {"x": 1, "counter": 1}
                parked.set()
                conn.recv()  # blocks until Ctrl-C
    finally:
        helper.join(10)
    info = rt_emu.wait_stream_finished(timeout=5)
    assert info.client_disconnected


def test_sync_iteration_and_repr(sync_client: fal_client.SyncClient, rt_emu: Emulator) -> None:
    conn = sync_client.realtime(ECHO)
    assert "not open" in repr(conn) and "RealtimeConnection" in repr(conn)
    with conn:
        assert "open" in repr(conn)
        conn.send({"x": 1})
        for message in conn:
            assert message == {"x": 1, "counter": 1}
            break
    assert "closed" in repr(conn)
    assert conn.recv() is None  # after close: the session has ended


def test_module_level_realtime(rt_emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from fal_client._defaults import reset_default_clients

    for name, value in rt_emu.env.items():
        monkeypatch.setenv(name, value)
    reset_default_clients()
    try:
        with fal_client.realtime(ECHO) as conn:
            conn.send({"m": 1})
            assert conn.recv() == {"m": 1, "counter": 1}

        async def main() -> None:
            async with fal_client.realtime_async(ECHO) as aconn:
                await aconn.send({"m": 2})
                assert await aconn.recv() == {"m": 2, "counter": 1}

        anyio.run(main)
    finally:
        reset_default_clients()


@pytest.mark.anyio
async def test_custom_codecs(async_client: fal_client.AsyncClient) -> None:
    import msgpack  # type: ignore[import-untyped]

    seen: list[bytes] = []

    def decode(data: bytes) -> Any:
        seen.append(data)
        return {"decoded": msgpack.unpackb(data)}

    with anyio.fail_after(10):
        async with async_client.realtime(
            ECHO, encode_message=lambda m: msgpack.packb({"wrapped": m}), decode_message=decode
        ) as conn:
            await conn.send(7)
            assert await conn.recv() == {"decoded": {"wrapped": 7, "counter": 1}}
    assert len(seen) == 1
    await async_client.aclose()


@pytest.mark.anyio
async def test_ws_connect_is_raw(async_client: fal_client.AsyncClient) -> None:
    import json

    import msgpack

    with anyio.fail_after(10):
        async with async_client.ws_connect(ECHO, path="/realtime") as ws:
            await ws.send(msgpack.packb({"raw": 1}))
            result = await ws.recv()
            meta = await ws.recv()
            await ws.send("not msgpack")  # a text frame: the runner answers with an error
            error = await ws.recv()
            closed = await ws.recv()
    assert isinstance(result, bytes) and msgpack.unpackb(result) == {"raw": 1, "counter": 1}
    assert isinstance(meta, str) and json.loads(meta)["type"] == "x-fal-message"
    assert isinstance(error, str) and json.loads(error)["error"] == "INTERNAL_ERROR"
    assert closed is None
    await async_client.aclose()


@pytest.mark.anyio
async def test_a_slow_consumer_holds_the_server_back(
    async_client: fal_client.AsyncClient, rt_emu: Emulator
) -> None:
    # 2,000 results of 64 KiB (125 MiB) are offered; a consumer that reads nothing for a while
    # must not receive (buffer) them: TCP back-pressure stalls the server after a few MiB.
    with anyio.fail_after(30):
        async with async_client.realtime("test/rt-parts") as conn:
            await conn.send({"count": 2000, "size": 65536})
            # (events_sent changes are not announced to emulator waits: poll a short while)
            await rt_emu.wait_until_async(lambda: any(s.events_received for s in rt_emu.streams()))
            await anyio.sleep(0.5)
            [stalled] = rt_emu.streams()
            assert stalled.events_sent < 400, stalled  # < 25 MiB in flight, not 125
            first = await conn.recv()
            assert first is not None and first["part"] == 0
    await async_client.aclose()


def test_sync_exit_closes_even_if_never_received(
    sync_client: fal_client.SyncClient, rt_emu: Emulator
) -> None:
    with sync_client.realtime(ECHO) as conn:
        conn.send({"x": 1})
    info = rt_emu.wait_stream_finished(timeout=5)
    assert info.client_disconnected
