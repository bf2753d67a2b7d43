"""A process-wide guard: this process may open sockets to loopback addresses only.

Benchmarks load a server hard; the workplace rule (and good manners) is that such traffic only
ever goes to 127.0.0.1. ``install()`` adds an audit hook that raises ``PermissionError`` on any
``socket.connect``/``getaddrinfo`` naming a non-loopback host, so a wrong base URL fails at once
instead of reaching the network. (``_official_shim.py`` carries its own copy because it runs in a
venv that cannot import this repository.)
"""

from __future__ import annotations

import ipaddress
import sys
from urllib.parse import urlsplit

_installed = False


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """Return ``url`` if its host is a loopback address, else raise ``ValueError``."""
    host = urlsplit(url).hostname or ""
    if not is_loopback(host):
        raise ValueError(f"refusing non-loopback URL {url!r}: benchmarks target 127.0.0.1 only")
    return url


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect":
        address = args[1]
        if not isinstance(address, tuple):  # AF_UNIX path
            return
        host = address[0]
    else:
        return
    if host is None:
        return
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not is_loopback(str(host)):
        raise PermissionError(f"benchmark guard: refusing non-loopback address {host!r}")


def install() -> None:
    """Refuse non-loopback connections for the rest of this process (idempotent)."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
