"""A raw HTTP/1.1 request reader for the loopback socket servers of the unit tests."""

from __future__ import annotations

import socket
from typing import Callable, Optional

#: What serves one connection of a loopback server: the socket, and its number (from 0).
Handler = Callable[[socket.socket, int], None]


def read_request(conn: socket.socket, buffer: bytes) -> tuple[Optional[bytes], bytes]:
    """One request read from ``conn`` (``buffer``: bytes already received): its head, and what
    follows its body; no head when the peer closed first."""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += conn.recv(65536)
    return head, rest[length:]
