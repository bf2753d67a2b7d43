"""Benchmark worker for THIS client and the raw-HTTP floors (runs in the project venv).

``bench_core.py`` starts one emulator and runs every measured client in its own subprocess, so
each client has a core and a GIL of its own while the emulator has the driver's: the official
client (in its venv) and ours are measured under identical conditions.

Usage: ``python _worker_ours.py '<json spec>'``; prints one JSON line. The spec has ``kind``
(``latency``, ``sync_run``, ``async_run``, ``fanout``, ``profile_sync_run``), ``variant`` and
sizes. Base URLs and the key come from the emulator's ``FAL_*`` environment variables.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _loopback

_loopback.install()

# TCP connections this process opens (audit event), reported per job: a client that reuses its
# pooled connections opens about one per concurrent request slot, not one per job.
CONNECTS = [0]


def _count_connects(event: str, args: tuple[object, ...]) -> None:
    if event == "socket.connect":
        CONNECTS[0] += 1


sys.addaudithook(_count_connects)

KEY = os.environ["FAL_KEY"]
RUN_URL = _loopback.check_url(os.environ["FAL_RUN_URL"]).rstrip("/")
QUEUE_URL = _loopback.check_url(os.environ["FAL_QUEUE_URL"]).rstrip("/")
REST_URL = _loopback.check_url(os.environ["FAL_REST_URL"]).rstrip("/")
CDN_URL = _loopback.check_url(os.environ["FAL_CDN_URL"]).rstrip("/")
AUTH = {"Authorization": f"Key {KEY}"}


def our_client_kwargs(lib: str) -> dict[str, Any]:
    return {
        "key": KEY,
        "run_url": RUN_URL,
        "queue_url": QUEUE_URL,
        "rest_url": REST_URL,
        "cdn_url": CDN_URL,
        "http_library": lib,
    }


# --- raw floors --------------------------------------------------------------------------------


async def raw_job(client: Any, app: str) -> Any:
    """The fewest exchanges a queued job needs: submit, status stream to COMPLETED, result."""
    submitted = (await client.post(f"{QUEUE_URL}/{app}", json={})).json()
    completed = False
    async with client.stream(
        "GET", submitted["status_url"] + "/stream", headers={"Accept": "text/event-stream"}
    ) as response:
        response.raise_for_status()
        # Read to the end: the server closes the stream right after COMPLETED, and a drained
        # response gives its connection back to the pool for the result GET (breaking out
        # early would cost a fresh TCP connection, about 1 ms here).
        async for line in response.aiter_lines():
            if line.startswith("data:") and json.loads(line[5:])["status"] == "COMPLETED":
                completed = True
    if not completed:
        raise RuntimeError("status stream ended without COMPLETED")
    result = await client.get(submitted["response_url"])
    result.raise_for_status()
    return result.json()


def raw_async_client(lib: str, connections: int) -> Any:
    mod = __import__(lib)
    return mod.AsyncClient(
        headers=AUTH,
        timeout=30.0,
        limits=mod.Limits(max_connections=connections, max_keepalive_connections=connections),
        trust_env=False,
    )


# --- measurements ------------------------------------------------------------------------------


def run_backend(backend: str, fn: Callable[[], Any]) -> Any:
    import anyio

    return anyio.run(fn, backend=backend)


def latency(spec: dict[str, Any]) -> dict[str, Any]:
    """Sequential subscribe of a ``spec['app']`` job; seconds per job."""
    variant, n, warmup, app = spec["variant"], spec["n"], spec["warmup"], spec["app"]
    samples: list[float] = []

    if variant in ("ours-asyncio", "ours-trio", "raw-httpx2"):
        backend = "trio" if variant == "ours-trio" else "asyncio"

        async def main() -> None:
            import fal_client

            if variant == "raw-httpx2":
                client = raw_async_client("httpx2", 8)
                call = lambda: raw_job(client, app)  # noqa: E731
            else:
                client = fal_client.AsyncClient(**our_client_kwargs(spec["lib"]))
                call = lambda: client.subscribe(app, {})  # noqa: E731
            async with client:
                for i in range(warmup + n):
                    t0 = time.perf_counter()
                    await call()
                    if i >= warmup:
                        samples.append(time.perf_counter() - t0)

        run_backend(backend, main)
    elif variant.startswith("ours-sync-"):
        import fal_client

        portal = variant.rsplit("-", 1)[1]
        with fal_client.SyncClient(
            **our_client_kwargs(spec["lib"]), portal_backend=portal
        ) as client:
            for i in range(warmup + n):
                t0 = time.perf_counter()
                client.subscribe(app, {})
                if i >= warmup:
                    samples.append(time.perf_counter() - t0)
    else:
        raise SystemExit(f"unknown latency variant {variant}")
    return {"samples": samples, "connects": CONNECTS[0], "jobs": warmup + n}


def sync_run(spec: dict[str, Any]) -> dict[str, Any]:
    """Sequential sync ``run`` of the instant app; seconds per call."""
    variant, n, warmup, app = spec["variant"], spec["n"], spec["warmup"], spec["app"]
    url = f"{RUN_URL}/{app}"
    if variant.startswith("raw-"):
        mod = __import__(variant[len("raw-") :])
        client = mod.Client(headers=AUTH, timeout=30.0, trust_env=False)

        def call() -> Any:
            response = client.post(url, json={})
            response.raise_for_status()
            return response.json()

        close = client.close
    elif variant.startswith("ours-"):
        import fal_client

        portal = variant[len("ours-") :]
        ours = fal_client.SyncClient(**our_client_kwargs(spec["lib"]), portal_backend=portal)

        def call() -> Any:
            return ours.run(app, {})

        close = ours.close
    else:
        raise SystemExit(f"unknown sync_run variant {variant}")
    samples = []
    try:
        for i in range(warmup + n):
            t0 = time.perf_counter()
            call()
            if i >= warmup:
                samples.append(time.perf_counter() - t0)
    finally:
        close()
    return {"samples": samples}


def async_run(spec: dict[str, Any]) -> dict[str, Any]:
    """Sequential ``await client.run`` inside a running loop: the engine without the thread hop."""
    import fal_client

    n, warmup, app = spec["n"], spec["warmup"], spec["app"]
    samples: list[float] = []

    async def main() -> None:
        if spec.get("variant") == "raw":
            # The async floor: the same one POST on the library's own AsyncClient.
            url = f"{RUN_URL}/{app}"
            async with raw_async_client(spec["lib"], 10) as raw:
                for i in range(warmup + n):
                    t0 = time.perf_counter()
                    response = await raw.post(url, json={})
                    response.raise_for_status()
                    response.json()
                    if i >= warmup:
                        samples.append(time.perf_counter() - t0)
            return
        async with fal_client.AsyncClient(**our_client_kwargs(spec["lib"])) as client:
            for i in range(warmup + n):
                t0 = time.perf_counter()
                await client.run(app, {})
                if i >= warmup:
                    samples.append(time.perf_counter() - t0)

    run_backend(spec["backend"], main)
    return {"samples": samples}


def fanout(spec: dict[str, Any]) -> dict[str, Any]:
    """``n`` concurrent subscribes to the instant app, at most ``limit`` in flight."""
    import anyio

    variant, n, warmup, app, limit = (
        spec["variant"],
        spec["n"],
        spec["warmup"],
        spec["app"],
        spec["limit"],
    )
    out: dict[str, Any] = {}

    async def main() -> None:
        import fal_client

        if variant == "raw":
            client = raw_async_client("httpx2", limit)
            job = lambda: raw_job(client, app)  # noqa: E731
        else:
            client = fal_client.AsyncClient(**our_client_kwargs(spec["lib"]), max_connections=limit)
            job = lambda: client.subscribe(app, {})  # noqa: E731
        semaphore = anyio.Semaphore(limit)
        failures: list[str] = []

        async def one() -> None:
            async with semaphore:
                try:
                    await job()
                except Exception as exc:  # counted, reported, never hidden
                    failures.append(f"{type(exc).__name__}: {exc}")

        async with client:
            async with anyio.create_task_group() as tg:  # warm the pool and the code paths
                for _ in range(warmup):
                    tg.start_soon(one)
            print(json.dumps({"mark": "warm"}), flush=True)
            sys.stdin.readline()  # the driver snapshots its request counter, then says go
            connects0 = CONNECTS[0]
            t0 = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(n):
                    tg.start_soon(one)
            out["seconds"] = time.perf_counter() - t0
            out["connects"] = CONNECTS[0] - connects0
        out["failures"] = failures[:5]
        out["failed"] = len(failures)

    run_backend(spec["backend"], main)
    return out


def profile_sync_run(spec: dict[str, Any]) -> dict[str, Any]:
    """cProfile of our sync ``run``: the caller thread and the portal thread, separately."""
    import cProfile
    import io
    import pstats

    import fal_client

    n, app = spec["n"], spec["app"]
    client = fal_client.SyncClient(**our_client_kwargs(spec["lib"]), portal_backend=spec["backend"])
    for _ in range(20):
        client.run(app, {})
    caller = cProfile.Profile()
    loop_side = cProfile.Profile()
    portal = client._portal  # private on purpose: profiling must reach the loop thread
    portal.call(_enable_in_this_thread, loop_side)
    caller.enable()
    t0 = time.perf_counter()
    for _ in range(n):
        client.run(app, {})
    elapsed = time.perf_counter() - t0
    caller.disable()
    portal.call(_disable_in_this_thread, loop_side)
    client.close()
    report = {}
    for name, prof in (("caller thread", caller), ("event-loop thread", loop_side)):
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("tottime").print_stats(spec.get("top", 18))
        report[name] = _trim_pstats(buf.getvalue())
    return {"ms_per_call_profiled": elapsed / n * 1000, "report": report}


async def _enable_in_this_thread(prof: Any) -> None:
    prof.enable()


async def _disable_in_this_thread(prof: Any) -> None:
    prof.disable()


def _trim_pstats(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    keep = [line for line in lines if "function calls" in line or "ncalls" in line or ":" in line]
    return "\n".join(keep)


KINDS = {
    "latency": latency,
    "sync_run": sync_run,
    "async_run": async_run,
    "fanout": fanout,
    "profile_sync_run": profile_sync_run,
}


def main() -> None:
    spec = json.loads(sys.argv[1])
    out = KINDS[spec["kind"]](spec)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
