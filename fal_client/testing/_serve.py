"""Running an emulator as a standalone server until Ctrl-C (``python -m fal_client.testing``)."""

from __future__ import annotations

import ipaddress
import sys
import threading
from typing import Optional, TextIO

from ._emulator import DEFAULT_KEY, Emulator


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` only listens on this machine (``localhost`` or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def export_lines(emulator: Emulator) -> list[str]:
    """Shell ``export`` lines pointing a fal client at ``emulator``."""
    return [f"export {name}={value}" for name, value in emulator.env.items()]


def banner_lines(emulator: Emulator) -> list[str]:
    """What a started standalone emulator prints before the ``export`` lines: where it listens,
    its dashboard and control API, and its apps (from the registry) with their inputs. Every
    line is a shell comment, so the whole output can be pasted into a shell."""
    url = emulator.url
    lines = [
        f"# fal emulator listening on {url} (Ctrl-C to stop)",
        f"# dashboard:   {url}/__emulator/ui",
        f"# control API: {url}/__emulator/  (reference: {url}/__emulator/docs)",
        "# apps (inputs in parentheses; details: GET /__emulator/apps):",
    ]
    apps = emulator.apps()
    width = max((len(app.name) for app in apps), default=0)
    for app in apps:
        description = app.description.replace("`", "")
        first_sentence = description.split(". ")[0].rstrip(".")
        inputs = f" ({', '.join(app.inputs)})" if app.inputs else ""
        lines.append(f"#   {app.name:<{width}}  {app.kind:<9}  {first_sentence}{inputs}")
    return lines


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    key: Optional[str] = None,
    allow_remote: bool = False,
    out: Optional[TextIO] = None,
) -> None:
    """Serve an emulator (with the built-in ``fal-ai/...`` apps) until interrupted.

    Once it listens it prints (to ``out``, default stdout) a banner naming its dashboard, its
    control API and its apps, then ``export FAL_KEY=... FAL_RUN_URL=...`` lines; it blocks until
    Ctrl-C (KeyboardInterrupt), and stops cleanly.

    Args:
        host: the address to listen on.
        port: the port (0 picks a free one).
        key: the API key to accept (default ``fal-emulator-key``).
        allow_remote: required to listen on a non-loopback address; the emulator has no real
            security and should not be reachable from other machines by accident.

    Raises:
        ValueError: for a non-loopback host without ``allow_remote``.
    """
    if not allow_remote and not is_loopback_host(host):
        raise ValueError(
            f"refusing to listen on non-loopback host {host!r}; pass allow_remote=True "
            "(--allow-remote) if you really want the emulator reachable from other machines"
        )
    stream = out if out is not None else sys.stdout
    emulator = Emulator(key=key or DEFAULT_KEY, host=host, port=port)
    stopped = threading.Event()
    with emulator:
        for line in [*banner_lines(emulator), *export_lines(emulator)]:
            print(line, file=stream)
        stream.flush()
        try:
            while not stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            print("# stopping", file=stream)
