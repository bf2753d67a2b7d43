"""Parsing fal endpoint ids out of URL paths (no I/O).

fal addresses an app as ``owner/alias``, optionally followed by an endpoint sub-path
(``fal-ai/flux/dev``), optionally prefixed by a namespace (``workflows/owner/alias``), or in the
legacy single-segment form ``123-alias`` (meaning ``123/alias``). The queue's per-request URLs use
only the *root* (namespace, owner, alias), never the sub-path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

#: First path segments that are namespaces rather than owners.
NAMESPACES = frozenset({"workflows", "comfy"})

_LEGACY_ID = re.compile(r"^[0-9]+-[a-zA-Z0-9-]+$")


@dataclass(frozen=True)
class EndpointPath:
    """An app root plus whatever path segments followed it in the URL.

    Attributes:
        root: normalised ``[namespace/]owner/alias``.
        alias: the alias alone (what realtime tokens are scoped to).
        rest: the segments after the root.
    """

    root: str
    alias: str
    rest: Tuple[str, ...]


def normalize_app_name(name: str) -> str:
    """Normalise a registered app name: strip slashes, expand the legacy ``123-alias`` form.

    Raises:
        ValueError: if the name has no owner/alias structure.
    """
    parts = [part for part in name.strip("/").split("/") if part]
    if not parts:
        raise ValueError(f"Invalid app id {name!r}: must be in the format <appOwner>/<appId>")
    if len(parts) == 1:
        if not _LEGACY_ID.match(parts[0]):
            raise ValueError(f"Invalid app id {name!r}: must be in the format <appOwner>/<appId>")
        parts = parts[0].split("-", 1)
    if parts[0] in NAMESPACES and len(parts) < 3:
        raise ValueError(f"Invalid app id {name!r}: a namespaced id needs owner and alias")
    return "/".join(parts)


def split_endpoint(segments: Sequence[str]) -> Optional[EndpointPath]:
    """Split URL path segments (after the service prefix) into an app root and the rest.

    Returns None when the segments cannot name an app (a lone non-legacy segment, a namespace
    without owner and alias).
    """
    if not segments or not segments[0]:
        return None
    first = segments[0]
    if first in NAMESPACES:
        if len(segments) < 3:
            return None
        return EndpointPath("/".join(segments[:3]), segments[2], tuple(segments[3:]))
    # ``123-alias`` is checked first: no real owner looks like a number-dash-alias, and queue
    # URLs built from a legacy id keep it as their single root segment.
    if _LEGACY_ID.match(first):
        owner, alias = first.split("-", 1)
        return EndpointPath(f"{owner}/{alias}", alias, tuple(segments[1:]))
    if len(segments) >= 2 and segments[1]:
        return EndpointPath(f"{first}/{segments[1]}", segments[1], tuple(segments[2:]))
    return None


@dataclass(frozen=True)
class QueueRequestPath:
    """A parsed ``/{root}/requests/{id}[/status[/stream]|/cancel]`` queue URL.

    Attributes:
        root: the app root.
        request_id: the request id.
        action: ``"result"``, ``"status"``, ``"status_stream"`` or ``"cancel"``; or
            ``"with_subpath"`` when the URL wrongly kept the endpoint sub-path (fal answers 405),
            or ``"unknown"`` for anything else under ``requests/{id}``.
    """

    root: str
    request_id: str
    action: str


_ACTIONS = {
    (): "result",
    ("status",): "status",
    ("status", "stream"): "status_stream",
    ("cancel",): "cancel",
}


def parse_queue_request_path(endpoint: EndpointPath) -> Optional[QueueRequestPath]:
    """Interpret the segments after an app root as a per-request queue URL, if they are one."""
    rest = endpoint.rest
    if len(rest) >= 2 and rest[0] == "requests":
        return QueueRequestPath(endpoint.root, rest[1], _ACTIONS.get(rest[2:], "unknown"))
    # ``owner/alias/sub/path/requests/{id}/...``: the docs say status, result and cancel URLs use
    # only owner and alias; fal answers 405 when the sub-path is kept.
    for index in range(1, len(rest) - 1):
        if rest[index] == "requests" and rest[index + 2 :] in _ACTIONS:
            return QueueRequestPath(endpoint.root, rest[index + 1], "with_subpath")
    return None


def strip_suffix_segments(rest: Tuple[str, ...], suffix: str) -> Tuple[Tuple[str, ...], bool]:
    """Remove every trailing ``suffix`` segment (clients sometimes append ``/stream`` twice).

    Returns:
        The remaining segments, and whether any were removed.
    """
    removed = False
    while rest and rest[-1] == suffix:
        rest = rest[:-1]
        removed = True
    return rest, removed
