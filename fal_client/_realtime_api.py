"""Realtime operations of the clients (websocket sessions): ``realtime`` and ``ws_connect``.

Mixins of ``AsyncClient`` and ``SyncClient``; filled in by the realtime work.
"""

from __future__ import annotations


class AsyncRealtimeAPI:
    """The realtime operations of ``AsyncClient``."""


class SyncRealtimeAPI:
    """The realtime operations of ``SyncClient``."""
