"""Run a script with the OFFICIAL ``fal-client`` pointed at local base URLs.

This file runs *inside* the throwaway venv that ``benchmarks/_official.py`` creates, as the main
script of an isolated interpreter (``python -I _official_shim.py SCRIPT [ARGS...]``). It never
imports anything from this repository: under ``-I`` neither the working directory nor this
file's folder is on ``sys.path``, so ``import fal_client`` finds the official package.

Why patching is needed: the official client reads ``FAL_RUN_HOST``/``FAL_QUEUE_RUN_HOST`` once at
import and always prefixes ``https://``/``wss://``; the REST and CDN URLs are hard-coded. So this
shim rewrites the module constants that build URLs (read from ``fal_client/client.py`` 1.0.3):

    RUN_URL_FORMAT       "https://fal.run/"        + app            (run, stream)
    QUEUE_URL_FORMAT     "https://queue.fal.run/"  + app            (submit, handles by id)
    REALTIME_URL_FORMAT  "wss://fal.run/"          + app            (realtime, ws_connect)
    REST_URL             "https://rest.fal.ai"     (CDN token, realtime token, legacy storage)
    CDN_URL              "https://v3.fal.media"    (single v3 upload; multipart uses the token's
                                                    base_url, which the server chooses)
    _BACKUP_DOMAINS      fal.run -> falrun.com     (emptied: no fallback host may ever be tried)

Those names are looked up at call time, so patching after import is enough. The base URLs come
from the environment: ``FAL_RUN_URL``, ``FAL_QUEUE_URL``, ``FAL_REST_URL``, ``FAL_CDN_URL`` (the
emulator's ``env``). Every one must be a loopback ``http(s)`` URL, and an audit hook refuses any
socket connection to a non-loopback address for the whole run, so a missed constant fails loudly
instead of reaching the internet.
"""

from __future__ import annotations

import ipaddress
import os
import runpy
import sys
from urllib.parse import urlsplit

_LOOPBACK_NAMES = {"localhost"}
_ENV_NAMES = ("FAL_RUN_URL", "FAL_QUEUE_URL", "FAL_REST_URL", "FAL_CDN_URL")


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _loopback_only_hook(event: str, args: tuple[object, ...]) -> None:
    # socket.connect's args are (socket, address); AF_UNIX addresses are str paths (allowed).
    if event not in ("socket.connect", "socket.getaddrinfo"):
        return
    if event == "socket.getaddrinfo":
        host = args[0]
    else:
        address = args[1]
        if not isinstance(address, tuple):
            return
        host = address[0]
    if host is None:
        return
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not _is_loopback(str(host)):
        raise PermissionError(f"official-client shim: refusing non-loopback address {host!r}")


def _base_url(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"official-client shim: environment variable {name} is not set")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SystemExit(f"official-client shim: {name}={value!r} is not an http(s) URL")
    if not _is_loopback(parts.hostname):
        raise SystemExit(f"official-client shim: {name}={value!r} is not a loopback address")
    return value.rstrip("/")


def point_official_client_at_env() -> None:
    """Patch the official ``fal_client`` module constants to the ``FAL_*_URL`` base URLs."""
    run_url, queue_url, rest_url, cdn_url = (_base_url(name) for name in _ENV_NAMES)

    import fal_client
    import fal_client.auth as auth
    import fal_client.client as client

    if not hasattr(client, "RUN_URL_FORMAT"):
        raise SystemExit(
            f"official-client shim: {fal_client.__file__} is not the official fal-client"
        )
    client.RUN_URL_FORMAT = run_url + "/"
    client.QUEUE_URL_FORMAT = queue_url + "/"
    client.REALTIME_URL_FORMAT = "ws" + run_url[len("http") :] + "/"
    client.REST_URL = rest_url
    client.CDN_URL = cdn_url
    client._BACKUP_DOMAINS = {}
    # Informational only (already baked into the formats above), kept consistent for scripts
    # that print them.
    auth.FAL_RUN_HOST = urlsplit(run_url).netloc
    auth.FAL_QUEUE_RUN_HOST = urlsplit(queue_url).netloc


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -I _official_shim.py SCRIPT [ARGS...]")
    sys.addaudithook(_loopback_only_hook)
    point_official_client_at_env()
    script = argv[0]
    sys.argv = list(argv)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
