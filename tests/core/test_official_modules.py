"""The official package's module paths: ``fal_client.client`` and ``fal_client.auth``.

Code written for the official client imports from them, reads ``fal_client.client.X`` without
importing the module, and assigns its constants to redirect clients created afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import fal_client
from fal_client.testing import Emulator

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL_CLIENT_NAMES = [
    # Every public name of the official fal_client/client.py that real code imports.
    "AnyJSON",
    "AppId",
    "AsyncClient",
    "AsyncRealtimeConnection",
    "AsyncRequestHandle",
    "CDN_URL",
    "Completed",
    "FalClientError",
    "FalClientHTTPError",
    "FalClientTimeoutError",
    "InProgress",
    "ObjectExpiration",
    "QUEUE_URL_FORMAT",
    "Queued",
    "REALTIME_URL_FORMAT",
    "REST_URL",
    "RUN_URL_FORMAT",
    "RealtimeConnection",
    "RealtimeError",
    "Status",
    "StorageACL",
    "StorageACLDecision",
    "StorageACLRule",
    "StorageSettings",
    "SyncClient",
    "SyncRequestHandle",
    "encode",
    "encode_file",
    "encode_image",
    "MAX_ATTEMPTS",
    "BASE_DELAY",
    "MAX_DELAY",
    "RETRY_CODES",
    "INGRESS_ERROR_CODES",
    "USER_AGENT",
]


def test_client_module_is_an_attribute_without_importing_it() -> None:
    # A fresh interpreter: `import fal_client` alone must make fal_client.client and .auth usable.
    code = (
        "import fal_client\n"
        "assert fal_client.client.SyncClient is fal_client.SyncClient\n"
        "assert fal_client.auth.MissingCredentialsError is fal_client.MissingCredentialsError\n"
        "print(fal_client.client.QUEUE_URL_FORMAT)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "FAL_QUEUE_URL": "http://127.0.0.1:9/queue"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "http://127.0.0.1:9/queue/"


@pytest.mark.parametrize("name", OFFICIAL_CLIENT_NAMES)
def test_every_official_name_imports_from_the_client_module(name: str) -> None:
    from fal_client import client

    value = getattr(client, name)
    if hasattr(fal_client, name):
        assert value is getattr(fal_client, name)


def test_official_constants_keep_their_shape() -> None:
    from fal_client import client

    assert client.RUN_URL_FORMAT.endswith("/") and client.QUEUE_URL_FORMAT.endswith("/")
    assert client.REALTIME_URL_FORMAT.startswith(("ws://", "wss://"))
    assert not client.REST_URL.endswith("/") and not client.CDN_URL.endswith("/")
    assert client.AppId.from_endpoint_id("fal-ai/fast-sdxl/image-to-image") == client.AppId(
        owner="fal-ai", alias="fast-sdxl", path="image-to-image", namespace=None
    )
    assert client.AppId.from_endpoint_id("workflows/me/flow").namespace == "workflows"
    assert client.AppId.from_endpoint_id("123-my-app").owner == "123"
    from fal_client.auth import FAL_QUEUE_RUN_HOST, FAL_RUN_HOST

    assert isinstance(FAL_RUN_HOST, str) and isinstance(FAL_QUEUE_RUN_HOST, str)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("FAL_RUN_URL", "FAL_QUEUE_URL", "FAL_REST_URL", "FAL_CDN_URL", "FAL_RUN_HOST"):
        monkeypatch.delenv(name, raising=False)
    yield


def _point_constants_at(monkeypatch: pytest.MonkeyPatch, emu: Emulator) -> None:
    # What test suites written for the official client do to reach a local server.
    base = emu.url
    monkeypatch.setattr(fal_client.client, "RUN_URL_FORMAT", f"{base}/run/")
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"{base}/queue/")
    monkeypatch.setattr(fal_client.client, "REST_URL", f"{base}/rest")
    monkeypatch.setattr(fal_client.client, "CDN_URL", f"{base}/cdn")


@pytest.mark.parametrize("flavour", ["sync", "asyncio", "trio"])
def test_assigned_url_constants_redirect_clients_created_afterwards(
    flavour: str, emu: Emulator, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = emu.env["FAL_KEY"]
    with monkeypatch.context() as patch:
        _point_constants_at(patch, emu)
        if flavour == "sync":
            with fal_client.SyncClient(key=key) as client:
                handle = client.submit("test/echo", {"x": 1})
                assert handle.get()["echo"] == {"x": 1}
                assert client.upload(b"hi", "text/plain").startswith(emu.url)
        else:

            async def main() -> None:
                async with fal_client.AsyncClient(key=key) as client:
                    handle = await client.submit("test/echo", {"x": 1})
                    assert (await handle.get())["echo"] == {"x": 1}
                    assert (await client.upload(b"hi", "text/plain")).startswith(emu.url)

            anyio.run(main, backend=flavour)
    assert {"submit", "upload"} <= {r.operation for r in emu.requests()}
    # monkeypatch put the original values back: clients follow the configuration again.
    assert fal_client.AsyncClient(key=key).endpoints.queue_url == "https://queue.fal.run"


def test_assigned_realtime_constant_moves_the_websocket_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fal_client._endpoints import AppId
    from fal_client._realtime_protocol import websocket_url

    monkeypatch.setattr(fal_client.client, "REALTIME_URL_FORMAT", "ws://127.0.0.1:9/rt/")
    endpoints = fal_client.AsyncClient(key="k").endpoints
    assert websocket_url(endpoints, AppId("me", "app"), "/realtime").startswith(
        "ws://127.0.0.1:9/rt/me/app/realtime"
    )


def test_assigned_retry_constants_set_the_default_policy(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    options: dict[str, Any] = {"key": emu.env["FAL_KEY"], "queue_url": emu.env["FAL_QUEUE_URL"]}
    monkeypatch.setattr(fal_client.client, "MAX_ATTEMPTS", 1)
    emu.faults("ingress_503", operation="submit", count=1)
    with fal_client.SyncClient(**options) as client, pytest.raises(fal_client.ServerError):
        client.submit("test/echo", {})
    monkeypatch.undo()
    emu.faults("ingress_503", operation="submit", count=1)
    with fal_client.SyncClient(**options) as client:
        client.submit("test/echo", {}).get()  # retried past the 503 again


def test_bad_constant_assignments_fail_where_they_are_written() -> None:
    with pytest.raises(ValueError, match="queue_url"):
        fal_client.client.QUEUE_URL_FORMAT = "queue.example"  # no scheme
    with pytest.raises(ValueError, match="max_attempts"):
        fal_client.client.MAX_ATTEMPTS = 0
    with pytest.raises(AttributeError, match="UploadOptions"):
        fal_client.client.MULTIPART_CHUNK_SIZE = 1024
    assert fal_client.AsyncClient(key="k").endpoints.queue_url == "https://queue.fal.run"
