"""Micro-benchmark: what one sync -> event-loop-thread -> sync round trip costs, by mechanism.

    python benchmarks/bench_portal.py [--n 5000]

No network at all: each call runs a trivial coroutine (``await checkpoint()``) in a loop thread
and hands its result back to the calling thread. This isolates the thread hop that our
``SyncClient`` pays on every call (``bench_core.py`` section 2 shows the total), so the portal
can be engineered against the cheapest mechanism that still supports cancellation:

* ``anyio portal.call``          - ``BlockingPortal.call`` (spawn hop + result hop)
* ``anyio start_task_soon``      - ``BlockingPortal.start_task_soon`` + ``Future.result()``
                                   (what ``fal_client._portal.Portal.call`` builds on)
* ``asyncio run_coroutine_threadsafe`` - one ``call_soon_threadsafe`` hop; the returned
                                   ``concurrent.futures.Future`` can be cancelled
* ``trio run_sync_soon + nursery`` - ``TrioToken.run_sync_soon`` spawning into a nursery,
                                   completing a ``concurrent.futures.Future``: one hop each way
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, Callable

import anyio
import anyio.lowlevel
from anyio.from_thread import start_blocking_portal


async def work() -> int:
    await anyio.lowlevel.checkpoint()
    return 1


def measure(call: Callable[[], Any], n: int) -> tuple[float, float]:
    for _ in range(min(200, n)):
        call()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return statistics.median(samples) * 1e6, samples[int(len(samples) * 0.95)] * 1e6


@contextmanager
def asyncio_loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-asyncio", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


@contextmanager
def trio_loop_thread() -> Iterator[tuple[Any, Any]]:
    import trio

    ready: concurrent.futures.Future[tuple[Any, Any]] = concurrent.futures.Future()
    stop = threading.Event()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            ready.set_result((trio.lowlevel.current_trio_token(), nursery))
            await trio.to_thread.run_sync(stop.wait)
            nursery.cancel_scope.cancel()

    thread = threading.Thread(target=trio.run, args=(main,), name="bench-trio", daemon=True)
    thread.start()
    try:
        yield ready.result()
    finally:
        stop.set()
        thread.join()


def trio_one_hop(token: Any, nursery: Any) -> Callable[[], Any]:
    def call() -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        async def runner() -> None:
            try:
                future.set_result(await work())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

        token.run_sync_soon(nursery.start_soon, runner)
        return future.result()

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description="sync-to-loop-thread round trip costs")
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    rows: list[tuple[str, float, float]] = []

    for backend in ("asyncio", "trio"):
        with start_blocking_portal(backend) as portal:
            rows.append(
                (f"anyio portal.call ({backend})", *measure(lambda: portal.call(work), args.n))
            )
            rows.append(
                (
                    f"anyio start_task_soon + result ({backend})",
                    *measure(lambda: portal.start_task_soon(work).result(), args.n),
                )
            )
    with asyncio_loop_thread() as loop:
        rows.append(
            (
                "asyncio run_coroutine_threadsafe",
                *measure(lambda: asyncio.run_coroutine_threadsafe(work(), loop).result(), args.n),
            )
        )
    with trio_loop_thread() as (token, nursery):
        rows.append(
            ("trio run_sync_soon + nursery", *measure(trio_one_hop(token, nursery), args.n))
        )

    from fal_client._portal import Portal

    for backend in ("asyncio", "trio"):
        ours = Portal(backend=backend, name=f"bench-{backend}")
        try:
            call = partial(ours.call, work)
            rows.append((f"fal_client Portal.call ({backend})", *measure(call, args.n)))
        finally:
            ours.stop()

    width = max(len(r[0]) for r in rows)
    print(f"{'mechanism'.ljust(width)}  median us  p95 us")
    for name, med, p95 in rows:
        print(f"{name.ljust(width)}  {med:9.1f}  {p95:6.1f}")


if __name__ == "__main__":
    main()
