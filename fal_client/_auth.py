"""Where the API key comes from, and the ``Authorization`` header it becomes.

Order (read when a client is created, so tests can set the environment per client):
explicit ``key=`` > ``FAL_KEY`` > ``FAL_KEY_ID`` + ``FAL_KEY_SECRET`` > Colab's ``FAL_KEY`` secret >
the token file ``fal auth login`` leaves in ``$FAL_HOME_DIR`` (default ``~/.fal``), sent as a Bearer
token and refreshed when it expires. ``FAL_FORCE_AUTH_BY_USER=1`` skips the key sources.

Secrets never appear in a ``repr``, a log line or an exception message.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any, Callable, Optional

import anyio

from ._errors import MISSING_CREDENTIALS_MESSAGE, MissingCredentialsError

DEFAULT_AUTH_REFRESH_URL = "https://auth.fal.ai/oauth/token"
# The public client id of fal's CLI login (a fact of fal's auth service, not a secret).
_AUTH0_CLIENT_ID = "TwXR51Vz8JbY8GUUMy6EyuVR0fTO7N4N"
_TOKEN_FILENAME = "auth0_token"
_EXPIRY_MARGIN_SECONDS = 300

# A POST of form data to the refresh URL, returning (status, decoded JSON or None).
RefreshPost = Callable[[str, Mapping[str, str]], Awaitable["tuple[int, Any]"]]


class Credentials:
    """An ``Authorization`` header source. Subclasses never reveal the secret in ``repr``."""

    scheme = "Key"

    async def header(self, post: RefreshPost) -> str:
        """The ``Authorization`` header value, refreshing it first when needed."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} scheme={self.scheme} (secret hidden)>"


def _header_safe(secret: str, what: str) -> str:
    """``secret`` if every character is visible ASCII (what keys and tokens are made of).

    Anything else would be refused by the HTTP library with an error that quotes the whole
    header, secret included; so it is refused here, saying where, never what.
    """
    for position, char in enumerate(secret):
        if not "!" <= char <= "~":
            raise ValueError(
                f"the {what} contains a character that cannot be sent in an HTTP header "
                f"(at position {position}: a space, control or non-ASCII character)"
            )
    return secret


class KeyCredentials(Credentials):
    """A fal API key, sent as ``Authorization: Key <key>``."""

    def __init__(self, key: str):
        if not isinstance(key, str) or not key.strip():
            raise ValueError("key must be a non-empty string")
        self._value = f"Key {_header_safe(key.strip(), 'key')}"

    async def header(self, post: RefreshPost) -> str:
        return self._value

    @property
    def secret(self) -> str:
        """The key itself (used to redact it from any text this client produces)."""
        return self._value[4:]


def _jwt_expiry(token: str) -> Optional[float]:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


class LoginTokenCredentials(Credentials):
    """The access token of ``fal auth login`` (Bearer), refreshed with its refresh token.

    The file holds the refresh token on line 1 and the cached access token on line 2.
    """

    scheme = "Bearer"

    def __init__(self, path: Path, refresh_url: str = DEFAULT_AUTH_REFRESH_URL):
        self._path = path
        self._refresh_url = refresh_url
        self._lock: Optional[anyio.Lock] = None

    def _read(self) -> tuple[Optional[str], Optional[str]]:
        try:
            lines = [ln.strip() for ln in self._path.read_text().splitlines() if ln.strip()]
        except OSError:
            return None, None
        return (lines[0] if lines else None), (lines[1] if len(lines) > 1 else None)

    async def header(self, post: RefreshPost) -> str:
        refresh, access = self._read()
        if access and (_jwt_expiry(access) or 0) > time.time() + _EXPIRY_MARGIN_SECONDS:
            return f"Bearer {_header_safe(access, 'fal login token')}"
        if not refresh:
            raise MissingCredentialsError(MISSING_CREDENTIALS_MESSAGE)
        status, data = await post(
            self._refresh_url,
            {
                "grant_type": "refresh_token",
                "client_id": _AUTH0_CLIENT_ID,
                "refresh_token": refresh,
            },
        )
        if status != 200 or not isinstance(data, dict) or "access_token" not in data:
            raise MissingCredentialsError(
                f"refreshing the fal login token failed (HTTP {status}); run `fal auth login` again"
            )
        new_access = str(data["access_token"])
        new_refresh = str(data.get("refresh_token") or refresh)
        # Write to a temporary file and rename, so a concurrent reader never sees half a file.
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(f"{new_refresh}\n{new_access}\n")
        os.replace(tmp, self._path)
        return f"Bearer {_header_safe(new_access, 'fal login token')}"


def _colab_key() -> Optional[str]:
    try:
        from IPython import get_ipython  # type: ignore[import-not-found,unused-ignore]

        if "google.colab" not in str(get_ipython()):
            return None
        from google.colab import userdata  # type: ignore[import-not-found,unused-ignore]

        value = userdata.get("FAL_KEY")
        return str(value).strip() or None
    except Exception:
        return None


def resolve_credentials(
    key: Optional[str] = None, env: Optional[Mapping[str, str]] = None
) -> Credentials:
    """Find credentials in the documented order, or raise ``MissingCredentialsError``."""
    env = os.environ if env is None else env
    if key is not None:
        return KeyCredentials(key)
    if env.get("FAL_FORCE_AUTH_BY_USER") != "1":
        if env.get("FAL_KEY"):
            return KeyCredentials(env["FAL_KEY"])
        if env.get("FAL_KEY_ID") and env.get("FAL_KEY_SECRET"):
            return KeyCredentials(f"{env['FAL_KEY_ID']}:{env['FAL_KEY_SECRET']}")
        colab = _colab_key()
        if colab:
            return KeyCredentials(colab)
    home = Path(env.get("FAL_HOME_DIR") or Path.home() / ".fal").expanduser()
    token_file = home / _TOKEN_FILENAME
    if token_file.is_file():
        return LoginTokenCredentials(
            token_file, env.get("FAL_AUTH_REFRESH_URL") or DEFAULT_AUTH_REFRESH_URL
        )
    raise MissingCredentialsError(MISSING_CREDENTIALS_MESSAGE)


def fetch_credentials() -> str:
    """The API key from the environment (``FAL_KEY`` or ``FAL_KEY_ID:FAL_KEY_SECRET``).

    Kept for compatibility with the official client. Raises ``MissingCredentialsError``.
    """
    creds = resolve_credentials()
    if not isinstance(creds, KeyCredentials):
        raise MissingCredentialsError(MISSING_CREDENTIALS_MESSAGE)
    return creds.secret
