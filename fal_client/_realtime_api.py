"""Realtime operations of the clients (websocket sessions): ``realtime`` and ``ws_connect``.

The realtime resource (``AsyncClient`` delegates to it). The sessions live in ``_realtime.py``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

from ._engine import Engine
from ._realtime import (
    AsyncRealtimeConnection,
    AsyncWebSocketConnection,
)


class Realtime:
    """Realtime sessions for one client: each method is the body of the ``AsyncClient``
    method of the same name (see there for the documentation)."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def realtime(
        self,
        application: str,
        *,
        use_jwt: bool = True,
        path: str = "/realtime",
        max_buffering: Optional[int] = None,
        token_expiration: int = 120,
        encode_message: Optional[Callable[[Any], Union[bytes, str]]] = None,
        decode_message: Optional[Callable[[bytes], Any]] = None,
    ) -> AsyncRealtimeConnection:
        """The body of ``AsyncClient.realtime``."""
        return AsyncRealtimeConnection(
            self._engine.transport,
            application,
            use_jwt=use_jwt,
            path=path,
            max_buffering=max_buffering,
            token_expiration=token_expiration,
            encode_message=encode_message,
            decode_message=decode_message,
        )

    def ws_connect(
        self,
        application: str,
        *,
        use_jwt: bool = True,
        path: str = "",
        max_buffering: Optional[int] = None,
        token_expiration: int = 120,
    ) -> AsyncWebSocketConnection:
        """The body of ``AsyncClient.ws_connect``."""
        return AsyncWebSocketConnection(
            self._engine.transport,
            application,
            use_jwt=use_jwt,
            path=path,
            max_buffering=max_buffering,
            token_expiration=token_expiration,
        )
