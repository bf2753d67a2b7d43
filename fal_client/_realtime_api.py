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
    """Realtime sessions for one client. Each method here is the one definition of its
    operation, signature and docstring: ``AsyncClient``'s method of the same name is generated
    from it (``tools/gen_sync_api.py``), and ``SyncClient``'s from that."""

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
        """A realtime (websocket) session with an app: ``async with`` it (``with`` on SyncClient).

        The arguments are checked at once, before anything is sent. Entering the block fetches a
        short-lived token (``POST {rest}/tokens/``, scoped to the app) and opens
        ``wss://<run host>/<app>/realtime?fal_jwt_token=...``; leaving it closes the socket.

        Args:
            application: the app id, e.g. ``"fal-ai/fast-lcm-diffusion"``.
            use_jwt: authenticate with a short-lived token in the URL; ``False`` sends the API
                key in the handshake's ``Authorization`` header instead.
            path: the app's realtime path, appended once (not again when the id ends with it).
            max_buffering: how many unprocessed inputs fal keeps (the newest win), 1 to 60.
            token_expiration: the token's lifetime in seconds.
            encode_message: turns an input into ``bytes`` (binary frame) or ``str`` (text
                frame); default msgpack.
            decode_message: turns a binary frame into a result; default msgpack.

        Returns:
            An ``AsyncRealtimeConnection`` with ``send``, ``recv``, ``async for`` and ``close``
            (a ``RealtimeConnection`` on SyncClient: the same, with iteration by ``for``). In
            sync code, Ctrl-C in ``recv()`` cancels it in the loop thread and the ``with`` block
            closes the connection on the way out.

        Raises:
            ValueError: ``max_buffering`` outside 1..60, a bad id, path or expiration.
            AuthenticationError: (on entering) the key or token was refused.
            RealtimeError: (while receiving) an error frame, or an abnormal close.

        Example::

            async with client.realtime("fal-ai/fast-lcm-diffusion", max_buffering=2) as conn:
                await conn.send({"prompt": "a cat"})
                image = await conn.recv()

            with sync_client.realtime("fal-ai/fast-lcm-diffusion") as conn:
                conn.send({"prompt": "a cat"})
                image = conn.recv()
        """
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
        """A raw websocket to an app (no msgpack, no fal frames): ``async with`` it (``with`` on
        SyncClient).

        Same authentication and URL as ``realtime`` except that ``path`` defaults to none:
        ``recv()`` returns each message as ``bytes`` or ``str`` (``None`` after a clean close).
        """
        return AsyncWebSocketConnection(
            self._engine.transport,
            application,
            use_jwt=use_jwt,
            path=path,
            max_buffering=max_buffering,
            token_expiration=token_expiration,
        )
