"""Memory: 10,000 completed jobs with 1 KiB results stay under 200 MB RSS.

The emulator runs in a subprocess (so its RSS is its own) and the jobs are submitted over real
HTTP from this process, with a minimal pipelined client to keep the test quick.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, Dict

import anyio
import pytest

JOBS = 10_000
CONNECTIONS = 16
LIMIT_MB = 200

_EMULATOR = r"""
import json, sys
from fal_client.testing import Emulator

def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

emulator = Emulator(builtin_apps=False, workers_per_app=8)
payload = "x" * 1024

@emulator.app("me/kib")
async def kib(arguments, ctx):
    return {"data": payload}

with emulator:
    print(json.dumps({"port": emulator.port, "rss_mb": rss_mb()}), flush=True)
    for command in sys.stdin:
        if command.strip() != "settle":
            break
        for job in emulator.jobs():
            if job.status != "COMPLETED":
                emulator.wait_job_status(job.request_id, status="COMPLETED", timeout=30)
        jobs = emulator.jobs()
        completed = sum(job.status == "COMPLETED" and job.status_code == 200 for job in jobs)
        print(json.dumps({"rss_mb": rss_mb(), "jobs": len(jobs), "completed": completed}),
              flush=True)
"""

_SUBMIT = (
    b"POST /queue/me/kib HTTP/1.1\r\nHost: emulator\r\n"
    b"Authorization: Key fal-emulator-key\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\n\r\n{}"
)


async def _submit_many(port: int, count: int) -> None:
    async def connection(jobs: int) -> None:
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            buffer = b""
            for _ in range(jobs):
                await stream.send(_SUBMIT)
                while True:
                    head, sep, rest = buffer.partition(b"\r\n\r\n")
                    if sep:
                        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                        if len(rest) >= length:
                            assert head.startswith(b"HTTP/1.1 200"), head
                            buffer = rest[length:]
                            break
                    buffer += await stream.receive()

    async with anyio.create_task_group() as task_group:
        for _ in range(CONNECTIONS):
            task_group.start_soon(connection, count // CONNECTIONS)


def _read_json(stream: IO[str]) -> Dict[str, Any]:
    line = stream.readline()
    assert line, "the emulator process exited early"
    result: Dict[str, Any] = json.loads(line)
    return result


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read RSS")
@pytest.mark.timeout(90)
def test_ten_thousand_completed_jobs_fit_in_200_mb() -> None:
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with subprocess.Popen(
        [sys.executable, "-c", _EMULATOR],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        try:
            started = _read_json(process.stdout)
            anyio.run(_submit_many, started["port"], JOBS)
            process.stdin.write("settle\n")
            process.stdin.flush()
            settled = _read_json(process.stdout)
        finally:
            process.stdin.close()  # ends the emulator's command loop: it stops and exits
            process.wait(timeout=30)

    assert settled["jobs"] == JOBS and settled["completed"] == JOBS
    assert settled["rss_mb"] < LIMIT_MB, (
        f"{JOBS} completed jobs use {settled['rss_mb']:.0f} MB RSS "
        f"(started at {started['rss_mb']:.0f} MB)"
    )
