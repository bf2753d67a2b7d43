"""The process-wide clients behind the module-level functions (``fal_client.run`` etc.).

Both are created on first use from the environment, and created again when the configuration
they were built from changes: a ``FAL_*`` variable (key, base URLs, HTTP library) or a constant
of ``fal_client.client`` assigned by code written for the official client. So a notebook that
starts a second emulator, or sets ``FAL_KEY`` after a ``MissingCredentialsError``, reaches it
on the next call without restarting. ``reset_default_clients()`` forgets them outright (the
pytest plugin uses it).

A client replaced that way is not closed at once, since another thread may be in a call on it;
it is closed by ``reset_default_clients()`` or at interpreter exit.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Optional

from ._endpoints import legacy_bases
from ._retry import legacy_defaults

# The engine is imported when the first default client is built, not when ``import fal_client``
# loads the module-level functions that call into here.
if TYPE_CHECKING:
    from ._client import AsyncClient
    from ._sync import SyncClient

# Every variable a client reads when it is created (``_auth``, ``_endpoints``, ``_http``).
_CONFIG_VARIABLES = (
    "FAL_KEY",
    "FAL_KEY_ID",
    "FAL_KEY_SECRET",
    "FAL_FORCE_AUTH_BY_USER",
    "FAL_HOME_DIR",
    "FAL_AUTH_REFRESH_URL",
    "FAL_RUN_URL",
    "FAL_QUEUE_URL",
    "FAL_REST_URL",
    "FAL_CDN_URL",
    "FAL_API_URL",
    "FAL_RUN_HOST",
    "FAL_QUEUE_RUN_HOST",
    "FAL_CLIENT_HTTP_LIBRARY",
)

_lock = threading.Lock()
_sync_client: Optional[SyncClient] = None
_async_client: Optional[AsyncClient] = None
_built_from: Any = None
_retired: list[SyncClient] = []
# A replaced AsyncClient stays referenced: its connection pools close when their event loops
# end (dropping it would leave them, and their sockets, to the garbage collector).
_retired_async: list[AsyncClient] = []


def _configuration() -> Any:
    get = os.environ.get
    return tuple(get(name) for name in _CONFIG_VARIABLES), legacy_bases(), legacy_defaults()


def _current() -> tuple[Optional[SyncClient], Optional[AsyncClient]]:
    """The default clients if they match today's configuration, else forgotten (retired)."""
    global _sync_client, _async_client, _built_from
    config = _configuration()
    if config != _built_from:
        with _lock:
            if config != _built_from:
                if _sync_client is not None:
                    _retired.append(_sync_client)
                if _async_client is not None:
                    _retired_async.append(_async_client)
                _sync_client = _async_client = None
                _built_from = config
    return _sync_client, _async_client


def default_sync_client() -> SyncClient:
    """The shared ``SyncClient`` (created lazily, thread-safe)."""
    global _sync_client
    client, _ = _current()
    if client is None:
        with _lock:
            if _sync_client is None:
                from ._sync import SyncClient

                _sync_client = SyncClient()
            client = _sync_client
    return client


def default_async_client() -> AsyncClient:
    """The shared ``AsyncClient``: usable from any event loop, one connection pool per loop."""
    global _async_client
    _, client = _current()
    if client is None:
        with _lock:
            if _async_client is None:
                from ._client import AsyncClient

                _async_client = AsyncClient()
            client = _async_client
    return client


def reset_default_clients() -> None:
    """Forget the default clients so the next module-level call builds them from the environment."""
    global _sync_client, _async_client, _built_from
    with _lock:
        old = [*_retired, *([_sync_client] if _sync_client is not None else [])]
        _retired.clear()
        _sync_client = _async_client = None
        _built_from = None
    for client in old:
        client.close()
