"""The official client's ``fal_client.auth`` module: where credentials come from.

The same names as the official module, over this package's one credential resolver
(``fal_client._auth``): explicit key > ``FAL_KEY`` > ``FAL_KEY_ID`` + ``FAL_KEY_SECRET`` >
Colab's ``FAL_KEY`` secret > the token ``fal auth login`` saved (a Bearer token, refreshed when
it expires). ``FAL_FORCE_AUTH_BY_USER=1`` skips the key sources.

    from fal_client.auth import MissingCredentialsError, fetch_credentials
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import anyio

from ._auth import (
    _AUTH0_CLIENT_ID,
    _TOKEN_FILENAME,
    DEFAULT_AUTH_REFRESH_URL,
    KeyCredentials,
    _colab_key,
    fetch_credentials,
    resolve_credentials,
)
from ._endpoints import Endpoints
from ._errors import MISSING_CREDENTIALS_MESSAGE, MissingCredentialsError
from ._retry import default_policy
from ._transport import Timeouts, Transport

__all__ = [
    "AUTH0_CLIENT_ID",
    "AUTH0_DOMAIN",
    "AUTH0_TOKEN_URL",
    "AUTH_TOKEN_FILENAME",
    "DEFAULT_FAL_HOME",
    "FAL_QUEUE_RUN_HOST",
    "FAL_RUN_HOST",
    "MISSING_CREDENTIALS_MESSAGE",
    "AuthCredentials",
    "MissingCredentialsError",
    "fetch_auth_credentials",
    "fetch_auth_credentials_async",
    "fetch_credentials",
    "get_colab_token",
    "is_google_colab",
]

#: The run host as the official client reads it at import (``FAL_RUN_HOST``, else fal.run).
FAL_RUN_HOST: str = os.environ.get("FAL_RUN_HOST", "fal.run")
#: The queue host as the official client reads it at import.
FAL_QUEUE_RUN_HOST: str = os.environ.get("FAL_QUEUE_RUN_HOST", f"queue.{FAL_RUN_HOST}")

AUTH0_DOMAIN = "auth.fal.ai"
AUTH0_TOKEN_URL = DEFAULT_AUTH_REFRESH_URL
AUTH0_CLIENT_ID = _AUTH0_CLIENT_ID
AUTH_TOKEN_FILENAME = _TOKEN_FILENAME
DEFAULT_FAL_HOME = Path.home() / ".fal"


@dataclass(frozen=True)
class AuthCredentials:
    """An ``Authorization`` header value: its ``scheme`` (``Key`` or ``Bearer``) and token.

    The token is kept out of ``repr``.
    """

    scheme: str
    token: str

    @property
    def header_value(self) -> str:
        """``"<scheme> <token>"``."""
        return f"{self.scheme} {self.token}"

    def as_headers(self) -> dict[str, str]:
        """``{"Authorization": header_value}``."""
        return {"Authorization": self.header_value}

    def __repr__(self) -> str:
        return f"AuthCredentials(scheme={self.scheme!r}, token=<hidden>)"


def is_google_colab() -> bool:
    """Whether this runs in a Google Colab notebook."""
    try:
        from IPython import get_ipython  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    return "google.colab" in str(get_ipython())


def get_colab_token() -> Optional[str]:
    """The ``FAL_KEY`` secret of a Colab notebook, or ``None`` outside Colab or without it."""
    return _colab_key()


async def fetch_auth_credentials_async() -> AuthCredentials:
    """The credentials a new client would use, a login token refreshed first if needed.

    Raises:
        MissingCredentialsError: none were found.
    """
    credentials = resolve_credentials()
    if isinstance(credentials, KeyCredentials):
        return AuthCredentials("Key", credentials.secret)
    # A login token: its header may need a refresh, which is a request to fal's auth server.
    transport = Transport(
        endpoints=Endpoints.from_env(),
        credentials=credentials,
        retry=default_policy(),
        timeouts=Timeouts(connect=10.0, read=30.0),
    )
    try:
        header = await transport.authorization()
    finally:
        await transport.aclose()
    scheme, _, token = header.partition(" ")
    return AuthCredentials(scheme, token)


def fetch_auth_credentials() -> AuthCredentials:
    """``fetch_auth_credentials_async`` for sync code (not from inside a running event loop).

    Raises:
        MissingCredentialsError: none were found.
    """
    credentials = resolve_credentials()
    if isinstance(credentials, KeyCredentials):
        return AuthCredentials("Key", credentials.secret)
    return anyio.run(fetch_auth_credentials_async)
