"""The process-wide clients behind the module-level functions (``fal_client.run`` etc.).

Both are created on first use from the environment. ``reset_default_clients()`` makes the next
call read the environment again (the pytest plugin uses it to point them at an emulator).
"""

from __future__ import annotations

import threading
from typing import Optional

from ._client import AsyncClient
from ._sync import SyncClient

_lock = threading.Lock()
_sync_client: Optional[SyncClient] = None
_async_client: Optional[AsyncClient] = None


def default_sync_client() -> SyncClient:
    """The shared ``SyncClient`` (created lazily, thread-safe)."""
    global _sync_client
    client = _sync_client
    if client is None:
        with _lock:
            if _sync_client is None:
                _sync_client = SyncClient()
            client = _sync_client
    return client


def default_async_client() -> AsyncClient:
    """The shared ``AsyncClient``: usable from any event loop, one connection pool per loop."""
    global _async_client
    client = _async_client
    if client is None:
        with _lock:
            if _async_client is None:
                _async_client = AsyncClient()
            client = _async_client
    return client


def reset_default_clients() -> None:
    """Forget the default clients so the next module-level call builds them from the environment."""
    global _sync_client, _async_client
    with _lock:
        old_sync, _sync_client = _sync_client, None
        _async_client = None
    if old_sync is not None:
        old_sync.close()
