"""Auth like fal: ``Authorization: Key <key>`` on run/queue/rest; 401 missing, 403 wrong."""

from __future__ import annotations

import httpx
import pytest

from fal_client.testing import Emulator

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

PROTECTED = [
    ("POST", "/run/fal-ai/echo"),
    ("POST", "/run/fal-ai/echo/stream"),
    ("POST", "/queue/fal-ai/echo"),
    ("GET", "/queue/fal-ai/echo/requests/some-id/status"),
    ("GET", "/queue/fal-ai/echo/requests/some-id/status/stream"),
    ("GET", "/queue/fal-ai/echo/requests/some-id"),
    ("PUT", "/queue/fal-ai/echo/requests/some-id/cancel"),
    ("POST", "/rest/storage/auth/token?storage_type=fal-cdn-v3"),
    ("POST", "/rest/storage/upload/initiate?storage_type=fal-cdn-v3"),
    ("POST", "/rest/tokens/"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_missing_key_is_401(anonymous: httpx.AsyncClient, method: str, path: str) -> None:
    response = await anonymous.request(method, path, json={})

    assert response.status_code == 401
    assert "detail" in response.json()


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_wrong_key_is_403(anonymous: httpx.AsyncClient, method: str, path: str) -> None:
    response = await anonymous.request(
        method, path, json={}, headers={"Authorization": "Key not-the-key"}
    )

    assert response.status_code == 403
    assert "detail" in response.json()


async def test_requests_record_whether_they_were_authorized(
    emulator: Emulator, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await client.post("/run/fal-ai/echo", json={})
    await anonymous.post("/run/fal-ai/echo", json={})

    first, second = emulator.requests()
    assert first.authorized and first.status_code == 200
    assert not second.authorized and second.status_code == 401
    assert first.headers["authorization"] == "Key [redacted]"
    assert "authorization" not in second.headers


async def test_a_custom_key_is_the_only_one_accepted() -> None:
    async with Emulator(key="secret-123") as emulator:
        assert emulator.env["FAL_KEY"] == "secret-123"
        async with httpx.AsyncClient(base_url=emulator.url) as http:
            good = await http.post(
                "/run/fal-ai/echo", json={}, headers={"Authorization": "Key secret-123"}
            )
            bad = await http.post(
                "/run/fal-ai/echo", json={}, headers={"Authorization": "Key fal-emulator-key"}
            )
    assert (good.status_code, bad.status_code) == (200, 403)


async def test_bearer_scheme_is_not_a_key(anonymous: httpx.AsyncClient, emulator: Emulator) -> None:
    response = await anonymous.post(
        "/run/fal-ai/echo", json={}, headers={"Authorization": f"Bearer {emulator.key}"}
    )

    assert response.status_code == 403


async def test_realtime_token_in_the_query_authorizes_its_app_only(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    token = (await client.post("/rest/tokens/", json={"allowed_apps": ["echo"]})).json()

    allowed = await anonymous.post("/run/fal-ai/echo", json={}, params={"fal_jwt_token": token})
    other = await anonymous.post("/run/fal-ai/slow", json={}, params={"fal_jwt_token": token})

    assert allowed.status_code == 200
    assert other.status_code == 403
