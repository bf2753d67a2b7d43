"""Where credentials come from, and the login token's refresh: no network needed."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

import fal_client
from fal_client._auth import KeyCredentials, LoginTokenCredentials, resolve_credentials


def jwt(exp: float) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': int(exp)})}.sig"


async def no_post(url: str, form: Mapping[str, str]) -> tuple[int, Any]:
    raise AssertionError("no refresh expected")


def header(creds: Any, post: Any = no_post) -> str:
    return str(anyio.run(creds.header, post))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FAL_KEY": "k1"}, "Key k1"),
        ({"FAL_KEY_ID": "id", "FAL_KEY_SECRET": "sec"}, "Key id:sec"),
        ({"FAL_KEY": "k1", "FAL_KEY_ID": "id", "FAL_KEY_SECRET": "sec"}, "Key k1"),
    ],
)
def test_environment_keys_in_order(env: dict[str, str], expected: str, tmp_path: Path) -> None:
    creds = resolve_credentials(env={**env, "FAL_HOME_DIR": str(tmp_path)})
    assert header(creds) == expected


def test_explicit_key_wins_and_secrets_never_show_in_repr(tmp_path: Path) -> None:
    creds = resolve_credentials("explicit-secret", env={"FAL_KEY": "other"})
    assert header(creds) == "Key explicit-secret"
    assert "explicit-secret" not in repr(creds)


def test_missing_everything_raises_a_helpful_error(tmp_path: Path) -> None:
    with pytest.raises(fal_client.MissingCredentialsError, match="FAL_KEY"):
        resolve_credentials(env={"FAL_HOME_DIR": str(tmp_path)})


@pytest.mark.parametrize(
    "bad", ["", "   ", "a\nb", "KEYID:SEC\x00RET", "KEYID:SEC RET", "KEYID:SECRÉT", "id:\x7f"]
)
def test_malformed_keys_are_rejected_without_echoing_them(bad: str) -> None:
    # An HTTP library refusing such a header would quote it, key and all, in its error.
    with pytest.raises(ValueError) as caught:
        KeyCredentials(bad)
    if bad.strip():
        assert "cannot be sent in an HTTP header" in str(caught.value)
        assert bad.strip() not in str(caught.value) and "RET" not in str(caught.value)


def test_login_token_file_is_used_when_still_valid(tmp_path: Path) -> None:
    access = jwt(time.time() + 3600)
    (tmp_path / "auth0_token").write_text(f"refresh-1\n{access}\n")
    creds = resolve_credentials(env={"FAL_HOME_DIR": str(tmp_path)})
    assert isinstance(creds, LoginTokenCredentials)
    assert header(creds) == f"Bearer {access}"


def test_force_auth_by_user_skips_keys(tmp_path: Path) -> None:
    (tmp_path / "auth0_token").write_text(f"refresh-1\n{jwt(time.time() + 3600)}\n")
    env = {"FAL_KEY": "k1", "FAL_FORCE_AUTH_BY_USER": "1", "FAL_HOME_DIR": str(tmp_path)}
    assert isinstance(resolve_credentials(env=env), LoginTokenCredentials)


def test_an_expiring_login_token_is_refreshed_and_the_file_rewritten(tmp_path: Path) -> None:
    token_file = tmp_path / "auth0_token"
    token_file.write_text(f"refresh-1\n{jwt(time.time() + 10)}\n")  # inside the 5-minute margin
    fresh = jwt(time.time() + 3600)
    seen: list[tuple[str, dict[str, str]]] = []

    async def post(url: str, form: Mapping[str, str]) -> tuple[int, Any]:
        seen.append((url, dict(form)))
        return 200, {"access_token": fresh, "refresh_token": "refresh-2"}

    creds = resolve_credentials(
        env={"FAL_HOME_DIR": str(tmp_path), "FAL_AUTH_REFRESH_URL": "http://127.0.0.1:1/oauth"}
    )
    assert header(creds, post) == f"Bearer {fresh}"
    ((url, form),) = seen
    assert url == "http://127.0.0.1:1/oauth"
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == "refresh-1"
    assert token_file.read_text().splitlines() == ["refresh-2", fresh]


def test_a_failed_refresh_says_to_log_in_again(tmp_path: Path) -> None:
    (tmp_path / "auth0_token").write_text("refresh-1\n")

    async def post(url: str, form: Mapping[str, str]) -> tuple[int, Any]:
        return 401, {"error": "invalid_grant"}

    creds = resolve_credentials(env={"FAL_HOME_DIR": str(tmp_path)})
    with pytest.raises(fal_client.MissingCredentialsError, match="fal auth login"):
        header(creds, post)


def test_fetch_credentials_returns_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAL_KEY", "k-env")
    monkeypatch.setenv("FAL_HOME_DIR", str(tmp_path))
    assert fal_client.fetch_credentials() == "k-env"
    monkeypatch.delenv("FAL_KEY")
    with pytest.raises(fal_client.MissingCredentialsError):
        fal_client.fetch_credentials()
