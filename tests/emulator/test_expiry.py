"""Bounded memory: completed jobs and files expire after their TTL."""

from __future__ import annotations

import json
import time
from typing import Any, Dict

import httpx
import pytest

from fal_client.testing import AppContext, Emulator

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


async def test_completed_jobs_and_files_expire_in_the_background() -> None:
    async with Emulator(job_ttl=0.2, file_ttl=0.2) as emulator:
        async with httpx.AsyncClient(
            base_url=emulator.url, headers={"Authorization": f"Key {emulator.key}"}
        ) as http:
            job = (await http.post("/queue/fal-ai/fast-sdxl", json={"prompt": "x"})).json()
            await emulator.wait_job_status_async(job["request_id"], status="COMPLETED")
            image_url = (await http.get(job["response_url"])).json()["images"][0]["url"]

            await emulator.wait_job_expired_async(job["request_id"])
            await emulator.wait_until_async(lambda: not emulator.files())

            assert (await http.get(job["status_url"])).status_code == 404
            assert (await http.get(job["response_url"])).status_code == 404
            assert (await http.get(image_url)).status_code == 404
            assert emulator.jobs() == []


async def test_sweeping_at_a_future_time_is_deterministic(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    gate = emulator.gate()

    @emulator.app("me/running")
    async def running(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        await gate.wait()
        return {}

    done = (await client.post("/queue/fal-ai/echo", json={})).json()
    live = (await client.post("/queue/me/running", json={})).json()
    await emulator.wait_job_status_async(done["request_id"], status="COMPLETED")
    await emulator.wait_job_status_async(live["request_id"], status="IN_PROGRESS")

    assert emulator.sweep_expired() == 0  # nothing is an hour old yet
    assert emulator.sweep_expired(now=time.monotonic() + 3601) == 1

    assert [job.request_id for job in emulator.jobs()] == [live["request_id"]]  # still running
    gate.open()


async def test_a_lifecycle_header_shortens_a_files_life(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    token = (await client.post("/rest/storage/auth/token?storage_type=fal-cdn-v3")).json()
    upload = {"Authorization": f"Bearer {token['token']}", "Content-Type": "text/plain"}
    short = {**upload, "X-Fal-Object-Lifecycle": json.dumps({"expiration_duration_seconds": 60})}
    await client.post("/cdn/files/upload", content=b"kept", headers=upload)
    await client.post("/cdn/files/upload", content=b"short", headers=short)

    assert emulator.sweep_expired(now=time.monotonic() + 61) == 1

    assert [info.size for info in emulator.files()] == [4]
