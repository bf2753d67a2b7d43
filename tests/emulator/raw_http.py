"""A deliberately minimal HTTP/1.1 client over anyio sockets, for tests that must control the
connection itself (walk away mid-response) without an HTTP library's generators in the way."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, Optional, Tuple
from urllib.parse import urlsplit

import anyio
from anyio.abc import SocketStream


@asynccontextmanager
async def raw_request(
    url: str,
    method: str,
    path: str,
    *,
    headers: Optional[Dict[str, str]] = None,
    json_body: Any = None,
) -> AsyncIterator[Tuple[int, Dict[str, str], SocketStream, bytes]]:
    """Send one request and yield (status, headers, the socket, body bytes read so far).

    The connection is closed when the block exits, whatever was read.
    """
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    body = b"" if json_body is None else json.dumps(json_body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    stream = await anyio.connect_tcp(parts.hostname, parts.port)
    async with stream:
        await stream.send("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += await stream.receive()
        head, _, rest = buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        response_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            response_headers[name.strip().lower()] = value.strip()
        yield int(status_line.split()[1]), response_headers, stream, rest


async def read_until(stream: SocketStream, already: bytes, marker: bytes) -> bytes:
    """Read from ``stream`` until ``marker`` appears in what was read (including ``already``)."""
    data = already
    while marker not in data:
        data += await stream.receive()
    return data
