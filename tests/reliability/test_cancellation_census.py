"""The cancellation census: every public waiting call, given up mid-wait, in every mode.

For each call the caller gives up while it is provably waiting (the emulator holds the job, the
part, the download or the realtime reply), the way each mode gives up:

* ``asyncio`` and ``trio``: a cancel scope around the call is cancelled;
* ``sync``: Ctrl-C (SIGINT to the main thread, where the sync call blocks).

Then the census counts what is left, with the client still open:

* the remote side was told: the job is cancelled, the multipart never completed, the stream
  or socket closed (``iter_events`` only watches a job it does not own, so there the job runs on
  and only the status stream must close);
* no HTTP connection of the client's pools is still busy, and no request waits for one;
* no task is left: the loop has as many tasks as before the call (in ``sync`` mode, the
  portal's loop);
* no thread is left beyond idle worker-pool threads;

and, once the client is closed, the server holds no more connections than before the test.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import signal
import threading
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import anyio
import anyio.to_thread
import pytest

import fal_client
from fal_client._asyncio_pool import AsyncioPool
from fal_client.testing import Emulator, Gate

from ..files.helpers import SMALL_PARTS, completes, parts, payload

# anyio before 4.16 (4.12 is the last release for Python 3.9) leaks the socket of a TCP connect
# cancelled just as it completes, until the garbage collector finds it: the census would see
# that connection (and its ResourceWarning) at random. pyproject requires 4.16 where it exists.
ANYIO = tuple(int(p) for p in importlib.metadata.version("anyio").split(".")[:2])
pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(ANYIO < (4, 16), reason="anyio < 4.16 leaks cancelled TCP connects"),
]

HOLD = "test/hold"
REALTIME_ECHO = "fal-ai/realtime-echo"
# Threads that worker pools keep idle for reuse (AnyIO's and trio's): not leaks.
IDLE_POOL_THREADS = ("AnyIO worker thread", "Trio thread")


@dataclass
class Ctx:
    """What one case needs: a gate holding its jobs, a scratch directory, the emulator."""

    emu: Emulator
    options: dict[str, Any]
    gate_name: str
    gate: Gate
    tmp: Path
    file_url: str = ""
    seen: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """One waiting call: how to make it (async and sync), how to know it is waiting, and
    what the remote side must have seen once the caller gave up."""

    name: str
    call_async: Callable[[fal_client.AsyncClient, Ctx], Awaitable[None]]
    call_sync: Callable[[fal_client.SyncClient, Ctx], None]
    waiting: Callable[[Ctx], None]  # blocks until the call is provably mid-wait
    remote_gave_up: Callable[[Ctx], None]  # asserts the remote side was told
    setup: Callable[[Ctx], None] = lambda ctx: None


# --- what "waiting" and "the remote side was told" mean per kind of call ----------------------


def job_running(ctx: Ctx, count: int = 1) -> None:
    ctx.emu.wait_until(
        lambda: sum(j.status == "IN_PROGRESS" for j in ctx.emu.jobs()) >= count,
        describe=f"{count} held job(s) running",
    )


def job_watched(ctx: Ctx) -> None:
    """The job runs and the caller waits on its status stream."""
    job_running(ctx)
    (job,) = [j for j in ctx.emu.jobs() if j.status == "IN_PROGRESS"]
    # This job's stream: a stream of an earlier test may still be winding down.
    ctx.emu.wait_until(
        lambda: any(
            s.kind == "status_stream" and s.request_id == job.request_id and not s.finished
            for s in ctx.emu.streams()
        ),
        describe=f"the status stream of {job.request_id} open",
    )


def jobs_cancelled(ctx: Ctx) -> None:
    held = ctx.emu.jobs()
    assert held, "no job was started"
    for job in held:
        info = ctx.emu.wait_job_status(job.request_id, status="CANCELLED", timeout=5)
        assert info.cancelled


def status_stream_closed_job_kept(ctx: Ctx) -> None:
    info = ctx.emu.wait_stream_finished(timeout=5)
    assert info.kind == "status_stream" and info.client_disconnected
    (job,) = ctx.emu.jobs()
    assert not job.cancelled and job.status == "IN_PROGRESS"  # a watcher does not own the job


def stream_started(ctx: Ctx) -> None:
    job_running(ctx)
    ctx.emu.wait_until(lambda: any(s.events_sent >= 1 for s in ctx.emu.streams()))


def delayed(operation: str) -> Callable[[Ctx], None]:
    def wait(ctx: Ctx) -> None:
        ctx.emu.wait_until(
            lambda: any(
                r.operation == operation and r.fault == "latency" for r in ctx.emu.requests()
            ),
            describe=f"a {operation} request parked in its delay",
        )

    return wait


def upload_never_completed(ctx: Ctx) -> None:
    assert parts(ctx.emu), "no part was sent"
    assert completes(ctx.emu) == []
    assert ctx.emu.files() == []


def download_left_nothing(ctx: Ctx) -> None:
    assert list(ctx.tmp.iterdir()) == []  # neither the file nor its temporary .part


def realtime_waiting(ctx: Ctx) -> None:
    ctx.emu.wait_until(
        lambda: any(s.kind == "realtime" and s.events_sent >= 1 for s in ctx.emu.streams())
    )
    # The caller signals that the echo came back and it is about to wait for the next one.
    assert ctx.seen["echoed"].wait(10)


def realtime_closed(ctx: Ctx) -> None:
    info = ctx.emu.wait_stream_finished(timeout=5)
    assert info.kind == "realtime" and info.client_disconnected


# --- the calls --------------------------------------------------------------------------------


def big_file(ctx: Ctx) -> Path:
    path = ctx.tmp.parent / "upload.bin"
    path.write_bytes(payload(8 * SMALL_PARTS["chunk_size"]))
    return path


def held(ctx: Ctx) -> dict[str, Any]:
    return {"gate": ctx.gate_name}


async def a_run(c: fal_client.AsyncClient, ctx: Ctx) -> None:
    await c.run(HOLD, held(ctx))


async def a_subscribe(c: fal_client.AsyncClient, ctx: Ctx) -> None:
    await c.subscribe(HOLD, held(ctx))


async def a_get(c: fal_client.AsyncClient, ctx: Ctx) -> None:
    handle = await c.submit(HOLD, held(ctx))
    await handle.get()


async def a_iter_events(c: fal_client.AsyncClient, ctx: Ctx) -> None:
    handle = await c.submit(HOLD, held(ctx))
    async for _ in handle.iter_events():
        pass


async def a_stream(c: fal_client.AsyncClient, ctx: Ctx) -> None:
    async for _ in c.stream("test/hold-stream", held(ctx)):
        pass


async def a_map(c: fal_client.AsyncClient, ctx: Ctx) -> None:
    async with c.map(HOLD, [held(ctx)] * 3, concurrency=3) as results:
        async for _ in results:
            pass


async def a_upload(c: fal_client.AsyncClient, ctx: Ctx) -> None:
    await c.upload(
        payload(8 * SMALL_PARTS["chunk_size"]), "application/octet-stream", **SMALL_PARTS
    )


async def a_upload_file(c: fal_client.AsyncClient, ctx: Ctx) -> None:
    await c.upload_file(big_file(ctx), **SMALL_PARTS)


async def a_download_files(c: fal_client.AsyncClient, ctx: Ctx) -> None:
    await c.download_files({"images": [{"url": ctx.file_url}]}, ctx.tmp)


async def a_download(c: fal_client.AsyncClient, ctx: Ctx) -> None:
    await c.download(ctx.file_url, ctx.tmp)


async def a_realtime(c: fal_client.AsyncClient, ctx: Ctx) -> None:
    async with c.realtime(REALTIME_ECHO) as conn:
        await conn.send({"n": 1})
        await conn.recv()
        ctx.seen["echoed"].set()
        await conn.recv()  # nothing more comes


def s_run(c: fal_client.SyncClient, ctx: Ctx) -> None:
    c.run(HOLD, held(ctx))


def s_subscribe(c: fal_client.SyncClient, ctx: Ctx) -> None:
    c.subscribe(HOLD, held(ctx))


def s_get(c: fal_client.SyncClient, ctx: Ctx) -> None:
    c.submit(HOLD, held(ctx)).get()


def s_iter_events(c: fal_client.SyncClient, ctx: Ctx) -> None:
    for _ in c.submit(HOLD, held(ctx)).iter_events():
        pass


def s_stream(c: fal_client.SyncClient, ctx: Ctx) -> None:
    for _ in c.stream("test/hold-stream", held(ctx)):
        pass


def s_map(c: fal_client.SyncClient, ctx: Ctx) -> None:
    for _ in c.map(HOLD, [held(ctx)] * 3, concurrency=3):
        pass


def s_upload(c: fal_client.SyncClient, ctx: Ctx) -> None:
    c.upload(payload(8 * SMALL_PARTS["chunk_size"]), "application/octet-stream", **SMALL_PARTS)


def s_upload_file(c: fal_client.SyncClient, ctx: Ctx) -> None:
    c.upload_file(big_file(ctx), **SMALL_PARTS)


def s_download_files(c: fal_client.SyncClient, ctx: Ctx) -> None:
    c.download_files({"images": [{"url": ctx.file_url}]}, ctx.tmp)


def s_download(c: fal_client.SyncClient, ctx: Ctx) -> None:
    c.download(ctx.file_url, ctx.tmp)


def s_realtime(c: fal_client.SyncClient, ctx: Ctx) -> None:
    with c.realtime(REALTIME_ECHO) as conn:
        conn.send({"n": 1})
        conn.recv()
        ctx.seen["echoed"].set()
        conn.recv()


def slow_parts(ctx: Ctx) -> None:
    ctx.emu.faults("latency", operation="part", seconds=30)


def slow_file(ctx: Ctx) -> None:
    stored = fal_client.SyncClient(**ctx.options)
    try:
        ctx.file_url = stored.upload(b"x" * 1000, "application/octet-stream")
    finally:
        stored.close()
    ctx.emu.faults("latency", operation="file", seconds=30)


def echo_event(ctx: Ctx) -> None:
    ctx.seen["echoed"] = threading.Event()


CASES = [
    Case("run", a_run, s_run, job_running, jobs_cancelled),
    Case("subscribe", a_subscribe, s_subscribe, job_watched, jobs_cancelled),
    Case("handle.get", a_get, s_get, job_watched, jobs_cancelled),
    Case("handle.iter_events", a_iter_events, s_iter_events, job_watched,
         status_stream_closed_job_kept),
    Case("stream", a_stream, s_stream, stream_started, jobs_cancelled),
    Case("map", a_map, s_map, lambda ctx: job_running(ctx, 3), jobs_cancelled),
    Case("upload (multipart)", a_upload, s_upload, delayed("part"), upload_never_completed,
         setup=slow_parts),
    Case("upload_file (multipart)", a_upload_file, s_upload_file, delayed("part"),
         upload_never_completed, setup=slow_parts),
    Case("download", a_download, s_download, delayed("file"), download_left_nothing,
         setup=slow_file),
    Case("download_files", a_download_files, s_download_files, delayed("file"),
         download_left_nothing, setup=slow_file),
    Case("realtime recv", a_realtime, s_realtime, realtime_waiting, realtime_closed,
         setup=echo_event),
]  # fmt: skip


# --- the census -------------------------------------------------------------------------------


def busy_connections(client: fal_client.AsyncClient) -> list[str]:
    """Connections of the client's pools that are neither idle nor closed, and requests still
    queued for one: what a request abandoned without cleanup leaves behind."""
    busy: list[str] = []
    for sender, _closer in list(client.engine.transport._pools.values()):
        # Every shard of a direct pool; a proxied pool's one.
        transports = getattr(sender, "_pools", [sender.client._transport])
        for transport in transports:
            if isinstance(transport, AsyncioPool):  # ours, on asyncio
                busy.extend(transport.busy())
                continue
            pool = transport._pool  # httpcore's
            for connection in list(pool.connections):
                if not connection.is_idle() and not connection.is_closed():
                    busy.append(repr(connection))
            busy.extend(f"queued request {r!r}" for r in list(pool._requests))
    return busy


def count_tasks() -> int:
    """Tasks alive in the running loop (asyncio or trio), not counting the loop's own tasks
    that close async generators left to the garbage collector: httpx's line iterator nests
    generators it never closes, so abandoning a stream mid-way hands them to the loop's
    finalizer. They hold nothing (the response was closed first) and end by themselves."""
    try:
        return sum(
            type(t.get_coro()).__name__ != "async_generator_athrow" for t in asyncio.all_tasks()
        )
    except RuntimeError:
        pass
    import trio.lowlevel

    def walk(task: Any) -> int:
        own = 0 if task.name.startswith("close asyncgen ") else 1
        return own + sum(walk(child) for n in task.child_nurseries for child in n.child_tasks)

    return walk(trio.lowlevel.current_root_task())


def threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not t.name.startswith(IDLE_POOL_THREADS)}


@pytest.fixture
def ctx(
    emu: Emulator,
    client_options: dict[str, Any],
    new_gate: Callable[[], tuple[str, Gate]],
    tmp_path: Path,
) -> Any:
    name, gate = new_gate()
    download_dir = tmp_path / "downloads"
    download_dir.mkdir()
    context = Ctx(emu=emu, options=client_options, gate_name=name, gate=gate, tmp=download_dir)
    yield context
    emu.clear_faults()
    gate.open()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_call_cancelled_mid_wait_leaves_nothing(case: Case, backend: str, ctx: Ctx) -> None:
    emu = ctx.emu
    server_connections_before = emu.open_connections()
    case.setup(ctx)
    report: dict[str, Any] = {}

    async def main() -> None:
        async with fal_client.AsyncClient(**ctx.options) as client:
            await anyio.to_thread.run_sync(lambda: None)  # the waits below use a worker thread
            tasks_before = count_tasks()
            threads_before = threads()
            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    scope = anyio.CancelScope()

                    async def caller() -> None:
                        with scope:
                            await case.call_async(client, ctx)
                            report["returned"] = True

                    tg.start_soon(caller)
                    await anyio.to_thread.run_sync(case.waiting, ctx)
                    scope.cancel()
            assert scope.cancelled_caught and "returned" not in report
            assert busy_connections(client) == []
            assert count_tasks() == tasks_before
            assert threads() <= threads_before
            await anyio.to_thread.run_sync(case.remote_gave_up, ctx)

    anyio.run(main, backend=backend)
    emu.wait_open_connections(at_most=server_connections_before, timeout=5)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("portal_backend", ["asyncio", "trio"])
def test_sync_call_interrupted_by_ctrl_c_leaves_nothing(
    case: Case, portal_backend: str, ctx: Ctx
) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGINT reaches only the main thread")
    emu = ctx.emu
    server_connections_before = emu.open_connections()
    case.setup(ctx)
    client = fal_client.SyncClient(**ctx.options, portal_backend=portal_backend)
    try:
        portal = client._portal
        portal.call(anyio.sleep, 0)  # start the loop thread: it belongs to the baseline
        tasks_before = portal.call(_count_tasks_async)
        threads_before = threads()
        problems: list[BaseException] = []

        def press_ctrl_c_once_waiting() -> None:
            try:
                case.waiting(ctx)
            except BaseException as exc:  # still interrupt, or the main thread waits forever
                problems.append(exc)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

        # Ctrl-C counts only while the call runs: one arriving after it ended (it failed on its
        # own, say) must not become a KeyboardInterrupt that aborts the whole test session.
        inside_call = False

        def ctrl_c(signum: int, frame: Any) -> None:
            if inside_call:
                raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, ctrl_c)
        presser = threading.Thread(target=press_ctrl_c_once_waiting, name="census-ctrl-c")
        presser.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                inside_call = True
                try:
                    case.call_sync(client, ctx)
                finally:
                    inside_call = False
        finally:
            presser.join(20)
            signal.signal(signal.SIGINT, previous)
        assert problems == []
        assert busy_connections(client.async_client) == []
        assert portal.call(_count_tasks_async) == tasks_before
        assert threads() <= threads_before
        case.remote_gave_up(ctx)
    finally:
        client.close()
    assert client._portal.thread is None or not client._portal.thread.is_alive()
    emu.wait_open_connections(at_most=server_connections_before, timeout=5)


async def _count_tasks_async() -> int:
    return count_tasks() - 1  # not counting the task that counts


# Public calls that are not in the census, and why: each is one bounded request (its own
# timeout ends it), or shares the engine of a call that is.
NOT_WAITING = {
    "submit": "one request; a submit cancelled in flight is completed, then its job cancelled "
    "(tests/core/test_cancellation.py)",
    "status": "one request",
    "result": "one request",
    "cancel": "one request",
    "get_handle": "no I/O",
    "from_request_id": "no I/O",
    "aclose": "closes the pools",
    "upload_image": "encodes the image, then the upload engine counted above",
    "ws_connect": "the realtime socket counted above, without the fal framing",
}


def test_the_census_covers_every_public_waiting_call() -> None:
    # A new public method must either join the census or say here why it is not a wait.
    public = {
        name
        for cls in (fal_client.AsyncClient, fal_client.AsyncRequestHandle)
        for name in dir(cls)
        if not name.startswith("_") and callable(getattr(cls, name))
    }
    covered = {c.name.split(" ")[0].removeprefix("handle.") for c in CASES}
    assert covered.isdisjoint(NOT_WAITING)
    assert public == covered | set(NOT_WAITING)
