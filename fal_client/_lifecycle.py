"""Upload settings without I/O: object lifecycle (``StorageSettings``), repository names, and the
multipart options. Every check here runs before anything is sent.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

__all__ = [
    "DEFAULT_FALLBACK_REPOSITORIES",
    "DEFAULT_REPOSITORY",
    "EXPIRY_ALIASES",
    "ObjectExpiration",
    "StorageACL",
    "StorageACLDecision",
    "StorageACLRule",
    "StorageSettings",
    "expiry_seconds",
    "lifecycle_headers",
    "lifecycle_payload",
    "normalize_repositories",
]

#: An upload's lifetime: an alias (``"1h"``, ``"never"``...) or a number of seconds.
ObjectExpiration = Union[Literal["never", "immediate", "1h", "1d", "7d", "30d", "1y"], int]
#: What a storage ACL rule does with a matching request.
StorageACLDecision = Literal["hide", "forbid", "allow"]

#: ``expires_in`` aliases, in seconds; ``never`` keeps the backend's default retention.
#: ``immediate`` is 60 s because fal's backends read 0 as "no expiry".
EXPIRY_ALIASES: dict[str, Optional[int]] = {
    "never": None,
    "immediate": 60,
    "1h": 3600,
    "1d": 86400,
    "7d": 604800,
    "30d": 2592000,
    "1y": 31536000,
}

_ACL_DECISIONS = ("hide", "forbid", "allow")

#: The first repository tried: fal's CDN v3 (token + direct upload).
DEFAULT_REPOSITORY = "fal_v3"
#: Tried in order when the CDN fails: the REST-initiated signed upload.
DEFAULT_FALLBACK_REPOSITORIES = ("fal",)
_REPOSITORIES = ("fal_v3", "fal")


def expiry_seconds(expires_in: Union[str, int]) -> Optional[int]:
    """``expires_in`` as seconds (``None`` for ``"never"``).

    Raises:
        ValueError: an unknown alias, a non-positive number of seconds, or a bool.
    """
    if isinstance(expires_in, bool):
        raise ValueError("expires_in must be an alias or a number of seconds, not a bool")
    if isinstance(expires_in, int):
        if expires_in <= 0:
            raise ValueError(f"expires_in must be a positive number of seconds, got {expires_in}")
        return expires_in
    if isinstance(expires_in, str) and expires_in in EXPIRY_ALIASES:
        return EXPIRY_ALIASES[expires_in]
    raise ValueError(
        f"unknown expires_in {expires_in!r}; use one of {', '.join(EXPIRY_ALIASES)} "
        "or a positive number of seconds"
    )


@dataclass(frozen=True)
class StorageACLRule:
    """One access rule of an uploaded object: ``decision`` (hide, forbid, allow) for ``user``."""

    user: str
    decision: str

    def __post_init__(self) -> None:
        if not isinstance(self.user, str) or not self.user:
            raise ValueError(f"StorageACLRule.user must be a non-empty str, got {self.user!r}")
        if self.decision not in _ACL_DECISIONS:
            raise ValueError(
                f"StorageACLRule.decision must be one of {_ACL_DECISIONS}, got {self.decision!r}"
            )


@dataclass(frozen=True)
class StorageACL:
    """The initial access control list of an uploaded object.

    Args:
        default: ``"hide"``, ``"forbid"`` or ``"allow"`` for everyone not named in ``rules``.
        rules: per-user decisions.
    """

    default: Optional[str] = None
    rules: Optional[list[StorageACLRule]] = None

    def __post_init__(self) -> None:
        if self.default is not None and self.default not in _ACL_DECISIONS:
            raise ValueError(
                f"StorageACL.default must be one of {_ACL_DECISIONS}, got {self.default!r}"
            )
        for rule in self.rules or ():
            if not isinstance(rule, StorageACLRule):
                raise TypeError(f"StorageACL.rules must hold StorageACLRule, got {rule!r}")


@dataclass(frozen=True)
class StorageSettings:
    """Lifecycle of an uploaded file, as in the official client.

    Args:
        expires_in: ``"never"`` (the backend's default retention), ``"immediate"`` (about 60
            s), ``"1h"``, ``"1d"``, ``"7d"``, ``"30d"``, ``"1y"``, or a positive number of seconds.
        initial_acl: who may read the object at first.

    Raises:
        ValueError: an unknown alias or a non-positive expiry, checked when it is created.

    Example::

        url = await client.upload_file("clip.mp4", lifecycle=StorageSettings(expires_in="1d"))
    """

    expires_in: Union[str, int, None] = None
    initial_acl: Optional[StorageACL] = None

    def __post_init__(self) -> None:
        if self.expires_in is not None:
            expiry_seconds(self.expires_in)
        if self.initial_acl is not None and not isinstance(self.initial_acl, StorageACL):
            raise TypeError(f"initial_acl must be a StorageACL, got {self.initial_acl!r}")

    def payload(self) -> Optional[dict[str, Any]]:
        """The JSON fal reads, or ``None`` when nothing is set."""
        result: dict[str, Any] = {}
        if self.expires_in is not None:
            seconds = expiry_seconds(self.expires_in)
            if seconds is not None:
                result["expiration_duration_seconds"] = seconds
        acl = self.initial_acl
        if acl is not None:
            acl_json: dict[str, Any] = {}
            if acl.default is not None:
                acl_json["default"] = acl.default
            if acl.rules:
                acl_json["rules"] = [{"user": r.user, "decision": r.decision} for r in acl.rules]
            if acl_json:
                result["initial_acl"] = acl_json
        return result or None


def lifecycle_payload(
    lifecycle: Union[StorageSettings, Mapping[str, Any], None],
) -> Optional[dict[str, Any]]:
    """The lifecycle JSON of a ``StorageSettings`` or of a raw mapping (checked), or ``None``."""
    if lifecycle is None:
        return None
    if isinstance(lifecycle, StorageSettings):
        return lifecycle.payload()
    if not isinstance(lifecycle, Mapping):
        raise TypeError(
            f"lifecycle must be a StorageSettings or a mapping, got {type(lifecycle).__name__}"
        )
    seconds = lifecycle.get("expiration_duration_seconds")
    if seconds is not None and (
        not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0
    ):
        raise ValueError(f"expiration_duration_seconds must be a positive int, got {seconds!r}")
    try:
        json.dumps(dict(lifecycle))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"lifecycle must be JSON-serialisable: {exc}") from exc
    return dict(lifecycle) or None


def lifecycle_headers(payload: Optional[Mapping[str, Any]]) -> dict[str, str]:
    """The headers carrying ``payload``: the CDN reads one name, storage-initiate the other."""
    if not payload:
        return {}
    value = json.dumps(dict(payload), separators=(",", ":"))
    return {"X-Fal-Object-Lifecycle": value, "X-Fal-Object-Lifecycle-Preference": value}


def normalize_repositories(
    repository: Optional[str], fallback_repository: Union[str, Iterable[str], None]
) -> list[str]:
    """The repositories to try, in order, without duplicates.

    ``"fal_v3"`` is fal's CDN v3, ``"cdn"`` its deprecated alias (a ``DeprecationWarning``),
    ``"fal"`` the REST-initiated signed upload.

    Raises:
        ValueError: an unknown repository name.
    """
    first = DEFAULT_REPOSITORY if repository is None else repository
    if fallback_repository is None:
        rest: list[Any] = list(DEFAULT_FALLBACK_REPOSITORIES)
    elif isinstance(fallback_repository, str):
        rest = [fallback_repository]
    else:
        rest = list(fallback_repository)
    ordered: list[str] = []
    for entry in [first, *rest]:
        if entry == "cdn":
            warnings.warn(
                "the 'cdn' upload repository is deprecated; it means 'fal_v3'",
                DeprecationWarning,
                stacklevel=4,
            )
            entry = "fal_v3"
        if entry not in _REPOSITORIES:
            raise ValueError(
                f"unknown upload repository {entry!r}; use 'fal_v3' (or its alias 'cdn') or 'fal'"
            )
        if entry not in ordered:
            ordered.append(entry)
    return ordered
