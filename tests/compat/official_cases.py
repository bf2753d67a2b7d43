"""Cases run by the OFFICIAL ``fal-client`` inside its throwaway venv (never by pytest itself).

Usage (through ``benchmarks/_official_shim.py``, which points the client at the emulator)::

    python -I _official_shim.py official_cases.py CASE sync|async [JSON_ARGS]

Each case uses the official package the way its users do (module-level functions, which read
``FAL_KEY`` from the environment) and prints ONE JSON line on stdout describing what it saw.
The pytest side (``test_official_client.py``) asserts on that line and on the emulator's records.
The apps (``compat/...``) are registered by the test on the emulator.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import fal_client

CASES: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {}
POLL = 0.02  # seconds; fast enough for a test, the official default is 0.1


def case(name: str, mode: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        CASES[(name, mode)] = fn
        return fn

    return register


def describe(status: fal_client.Status) -> dict[str, Any]:
    """A JSON view of an official status object."""
    out: dict[str, Any] = {"type": type(status).__name__}
    if isinstance(status, fal_client.Queued):
        out["position"] = status.position
    if isinstance(status, (fal_client.InProgress, fal_client.Completed)):
        out["logs"] = [entry.get("message") for entry in (status.logs or [])]
    if isinstance(status, fal_client.Completed):
        out["metrics"] = status.metrics
        out["error"] = getattr(status, "error", None)
        out["error_type"] = getattr(status, "error_type", None)
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload(size: int, seed: int) -> bytes:
    # Deterministic, not compressible to nothing, cheap to make.
    block = hashlib.sha256(str(seed).encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def image():  # type: ignore[no-untyped-def]
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (64, 48), (20, 120, 200))
    ImageDraw.Draw(img).rectangle((8, 8, 40, 30), fill=(250, 200, 0))
    return img


def png_bytes(img) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    img.save(buf, format="png")
    return buf.getvalue()


def wait_until_running_sync(handle: fal_client.SyncRequestHandle, deadline: float = 10.0) -> str:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        status = handle.status()
        if isinstance(status, fal_client.InProgress):
            return "InProgress"
        if isinstance(status, fal_client.Completed):
            return "Completed"
        time.sleep(POLL)
    raise TimeoutError("job never started")


async def wait_until_running_async(
    handle: fal_client.AsyncRequestHandle, deadline: float = 10.0
) -> str:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        status = await handle.status()
        if isinstance(status, fal_client.InProgress):
            return "InProgress"
        if isinstance(status, fal_client.Completed):
            return "Completed"
        await asyncio.sleep(POLL)
    raise TimeoutError("job never started")


# --- run ---------------------------------------------------------------------------------------


@case("run", "sync")
def run_sync(args: dict[str, Any]) -> Any:
    return {"result": fal_client.run("compat/echo", {"value": args["value"]})}


@case("run", "async")
async def run_async(args: dict[str, Any]) -> Any:
    return {"result": await fal_client.run_async("compat/echo", {"value": args["value"]})}


# --- submit + handle ---------------------------------------------------------------------------


@case("handle", "sync")
def handle_sync(args: dict[str, Any]) -> Any:
    handle = fal_client.submit("compat/steps", {"n": args["n"]})
    events = [describe(e) for e in handle.iter_events(with_logs=True, interval=POLL)]
    return {
        "request_id": handle.request_id,
        "events": events,
        "status": describe(handle.status(with_logs=True)),
        "result": handle.get(interval=POLL),
    }


@case("handle", "async")
async def handle_async(args: dict[str, Any]) -> Any:
    handle = await fal_client.submit_async("compat/steps", {"n": args["n"]})
    events = [describe(e) async for e in handle.iter_events(with_logs=True, interval=POLL)]
    return {
        "request_id": handle.request_id,
        "events": events,
        "status": describe(await handle.status(with_logs=True)),
        "result": await handle.get(interval=POLL),
    }


@case("handle_cancel", "sync")
def handle_cancel_sync(args: dict[str, Any]) -> Any:
    handle = fal_client.submit("compat/hold", {})
    seen = wait_until_running_sync(handle)
    handle.cancel()
    return {"request_id": handle.request_id, "seen": seen}


@case("handle_cancel", "async")
async def handle_cancel_async(args: dict[str, Any]) -> Any:
    handle = await fal_client.submit_async("compat/hold", {})
    seen = await wait_until_running_async(handle)
    await handle.cancel()
    return {"request_id": handle.request_id, "seen": seen}


# --- subscribe ---------------------------------------------------------------------------------


@case("subscribe", "sync")
def subscribe_sync(args: dict[str, Any]) -> Any:
    enqueued: list[str] = []
    updates: list[dict[str, Any]] = []
    result = fal_client.subscribe(
        "compat/steps",
        {"n": args["n"]},
        with_logs=True,
        interval=POLL,
        on_enqueue=enqueued.append,
        on_queue_update=lambda s: updates.append(describe(s)),
    )
    return {"enqueued": enqueued, "updates": updates, "result": result}


@case("subscribe", "async")
async def subscribe_async(args: dict[str, Any]) -> Any:
    enqueued: list[str] = []
    updates: list[dict[str, Any]] = []
    result = await fal_client.subscribe_async(
        "compat/steps",
        {"n": args["n"]},
        with_logs=True,
        interval=POLL,
        on_enqueue=enqueued.append,
        on_queue_update=lambda s: updates.append(describe(s)),
    )
    return {"enqueued": enqueued, "updates": updates, "result": result}


# --- stream ------------------------------------------------------------------------------------


@case("stream", "sync")
def stream_sync(args: dict[str, Any]) -> Any:
    return {"events": list(fal_client.stream("compat/tokens", {"text": args["text"]}))}


@case("stream", "async")
async def stream_async(args: dict[str, Any]) -> Any:
    return {
        "events": [
            e async for e in fal_client.stream_async("compat/tokens", {"text": args["text"]})
        ]
    }


# --- status / result / cancel by request id ----------------------------------------------------


@case("by_id", "sync")
def by_id_sync(args: dict[str, Any]) -> Any:
    request_id = fal_client.submit("compat/steps", {"n": args["n"]}).request_id
    first = describe(fal_client.status("compat/steps", request_id, with_logs=True))
    result = fal_client.result("compat/steps", request_id)  # waits, then fetches
    final = describe(fal_client.status("compat/steps", request_id, with_logs=True))
    held = fal_client.submit("compat/hold", {}).request_id
    fal_client.cancel("compat/hold", held)
    return {
        "request_id": request_id,
        "first": first,
        "final": final,
        "result": result,
        "cancelled_id": held,
    }


@case("by_id", "async")
async def by_id_async(args: dict[str, Any]) -> Any:
    request_id = (await fal_client.submit_async("compat/steps", {"n": args["n"]})).request_id
    first = describe(await fal_client.status_async("compat/steps", request_id, with_logs=True))
    result = await fal_client.result_async("compat/steps", request_id)
    final = describe(await fal_client.status_async("compat/steps", request_id, with_logs=True))
    held = (await fal_client.submit_async("compat/hold", {})).request_id
    await fal_client.cancel_async("compat/hold", held)
    return {
        "request_id": request_id,
        "first": first,
        "final": final,
        "result": result,
        "cancelled_id": held,
    }


# --- uploads -----------------------------------------------------------------------------------


@case("upload", "sync")
def upload_sync(args: dict[str, Any]) -> Any:
    data = payload(args["size"], seed=1)
    url = fal_client.upload(data, "application/octet-stream", file_name="blob.bin")
    return {"url": url, "sha256": sha256(data), "size": len(data)}


@case("upload", "async")
async def upload_async(args: dict[str, Any]) -> Any:
    data = payload(args["size"], seed=2)
    url = await fal_client.upload_async(data, "application/octet-stream", file_name="blob.bin")
    return {"url": url, "sha256": sha256(data), "size": len(data)}


@case("upload_file", "sync")
def upload_file_sync(args: dict[str, Any]) -> Any:
    data = payload(args["size"], seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "notes.txt"
        path.write_bytes(data)
        url = fal_client.upload_file(path)
    return {"url": url, "sha256": sha256(data), "size": len(data)}


@case("upload_file", "async")
async def upload_file_async(args: dict[str, Any]) -> Any:
    data = payload(args["size"], seed=4)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "notes.txt"
        path.write_bytes(data)
        url = await fal_client.upload_file_async(path)
    return {"url": url, "sha256": sha256(data), "size": len(data)}


@case("upload_image", "sync")
def upload_image_sync(args: dict[str, Any]) -> Any:
    img = image()
    data = png_bytes(img)
    url = fal_client.upload_image(img, format="png")
    return {"url": url, "sha256": sha256(data), "size": len(data)}


@case("upload_image", "async")
async def upload_image_async(args: dict[str, Any]) -> Any:
    img = image()
    data = png_bytes(img)
    url = await fal_client.upload_image_async(img, format="png")
    return {"url": url, "sha256": sha256(data), "size": len(data)}


def main() -> None:
    name, mode = sys.argv[1], sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    fn = CASES[(name, mode)]
    out = asyncio.run(fn(args)) if mode == "async" else fn(args)
    out["official_version"] = fal_client.__version__
    print(json.dumps(out, default=repr))


if __name__ == "__main__":
    main()
