"""Fixtures of the unit tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Callable

import pytest

from .raw_http import Handler


@pytest.fixture
def server() -> Iterator[Callable[[Handler], str]]:
    """Start a loopback server whose every connection is given to a handler (with its
    number, from 0); returns the URL. Connections are shut when the test ends."""
    listeners: list[socket.socket] = []
    conns: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(handler: Handler) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            number = 0
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                conns.append(conn)
                thread = threading.Thread(target=handler, args=(conn, number), daemon=True)
                thread.start()
                number += 1

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return f"http://127.0.0.1:{listener.getsockname()[1]}/x"

    yield start
    for listener in listeners:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
    for conn in conns:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()
    for thread in threads:
        thread.join(5)
