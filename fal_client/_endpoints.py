"""App ids and every fal URL this client builds: pure functions, no I/O.

fal serves five origins (run, queue, REST, CDN, and the platform API). Each is a full base URL
here, scheme included, so
the same code talks to https://fal.run in production and to http://127.0.0.1:PORT/run on the
emulator. This module is the one place that knows how URLs are shaped.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlencode, urlsplit, urlunsplit

DEFAULT_RUN_URL = "https://fal.run"
DEFAULT_QUEUE_URL = "https://queue.fal.run"
DEFAULT_REST_URL = "https://rest.fal.ai"
DEFAULT_CDN_URL = "https://v3.fal.media"
DEFAULT_API_URL = "https://api.fal.ai/v1"

_NAMESPACES = frozenset({"workflows", "comfy"})
_LEGACY_NUMERIC = re.compile(r"^([0-9]+)-([a-zA-Z0-9-]+)$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")


@dataclass(frozen=True)
class AppId:
    """A parsed fal app id: ``[namespace/]owner/alias[/path...]``.

    ``root`` (namespace, owner, alias) addresses queue requests; ``path`` is only used to submit
    and run, never for status, result or cancel.
    """

    owner: str
    alias: str
    path: Optional[str] = None
    namespace: Optional[str] = None

    @property
    def root(self) -> str:
        """``[namespace/]owner/alias``: the part of the id queue request URLs use."""
        prefix = f"{self.namespace}/" if self.namespace else ""
        return f"{prefix}{self.owner}/{self.alias}"

    @property
    def full(self) -> str:
        """The normalised id with its path, as used to submit and run."""
        return f"{self.root}/{self.path}" if self.path else self.root

    def __str__(self) -> str:
        return self.full

    @classmethod
    def from_endpoint_id(cls, endpoint_id: str) -> AppId:
        """Parse an endpoint id (``parse_app_id``), under the official client's name."""
        return parse_app_id(endpoint_id)


def parse_app_id(app: str) -> AppId:
    """Parse and validate an app id, raising ``ValueError`` naming what is wrong.

    Accepted: ``owner/alias``, ``owner/alias/sub/path``, ``workflows/owner/alias[/path]`` and the
    legacy ``123-alias`` (read as ``123/alias``).
    """
    if not isinstance(app, str):
        raise TypeError(f"app id must be a str like 'fal-ai/fast-sdxl', got {type(app).__name__}")
    return _parse_app_id(app)


# An app calls the same few ids over and over: parse each once (errors are not cached).
@functools.lru_cache(maxsize=1024)
def _parse_app_id(app: str) -> AppId:
    stripped = app.strip().strip("/")
    if not stripped:
        raise ValueError(
            "app id is empty; expected the form '<owner>/<app>', e.g. 'fal-ai/fast-sdxl'"
        )
    if "://" in stripped or "?" in stripped or "#" in stripped:
        raise ValueError(
            f"invalid app id {app!r}: pass the id (e.g. 'fal-ai/fast-sdxl'), not a URL; "
            "set base URLs with FAL_RUN_URL/FAL_QUEUE_URL or the client's options"
        )
    legacy = _LEGACY_NUMERIC.match(stripped)
    if legacy:
        return AppId(owner=legacy.group(1), alias=legacy.group(2))
    segments = stripped.split("/")
    for seg in segments:
        if not seg or not _SEGMENT.match(seg) or seg in (".", ".."):
            raise ValueError(
                f"invalid app id {app!r}: segment {seg!r} is empty or has characters "
                "other than letters, digits, '.', '_', '~' and '-'"
            )
    namespace = None
    if segments[0] in _NAMESPACES:
        namespace, segments = segments[0], segments[1:]
    if len(segments) < 2:
        raise ValueError(
            f"invalid app id {app!r}: must be in the format <appOwner>/<appId>, "
            "e.g. 'fal-ai/fast-sdxl'"
        )
    path = "/".join(segments[2:]) or None
    return AppId(owner=segments[0], alias=segments[1], path=path, namespace=namespace)


def join_path(app: AppId, path: str) -> str:
    """The app's full id with an extra ``path`` (e.g. ``/stream``) appended.

    Appended once, not twice: when the id's own sub-path already ends with ``path``
    (``fal-ai/x/stream`` with ``/stream``), it is not repeated. Only the sub-path counts, never
    the app's name: ``owner/stream`` with ``/stream`` is ``owner/stream/stream``, as in the
    official client.
    """
    suffix = path.strip("/")
    full = app.full
    if not suffix:
        return full
    if app.path is not None and (app.path == suffix or app.path.endswith("/" + suffix)):
        return full
    return f"{full}/{suffix}"


def _normalise_base(url: str, what: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    if not isinstance(url, str):
        raise TypeError(f"{what} must be a URL string, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        example = "wss://fal.run" if "wss" in schemes else "https://fal.run"
        raise ValueError(f"{what} must be a {'/'.join(schemes)} URL like {example!r}, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not carry a query or fragment, got {url!r}")
    return url.rstrip("/")


# Base URLs set by assigning the official module's constants (``fal_client.client.QUEUE_URL_FORMAT
# = ...``), which code written for the official client does to redirect it: field name -> URL.
# Written only by ``fal_client.client`` (through ``set_legacy_base``), read by ``from_env``.
_legacy_bases: dict[str, str] = {}
_LEGACY_FIELDS = ("run_url", "queue_url", "rest_url", "cdn_url", "realtime_url")


def set_legacy_base(field: str, url: Optional[str]) -> None:
    """Make clients created from now on use ``url`` as the base URL ``field`` (``None``: the
    environment again). Checked at once, so a bad assignment fails where it is written."""
    if field not in _LEGACY_FIELDS:
        raise ValueError(f"unknown base URL {field!r}; expected one of {_LEGACY_FIELDS}")
    if url is None:
        _legacy_bases.pop(field, None)
        return
    schemes = ("ws", "wss") if field == "realtime_url" else ("http", "https")
    _legacy_bases[field] = _normalise_base(url, field, schemes)


def legacy_bases() -> dict[str, str]:
    """The base URLs set through the official module's constants (a copy)."""
    return dict(_legacy_bases)


#: The fields of ``Endpoints`` that are http(s) base URLs (the realtime one is ws/wss).
_HTTP_BASES = ("run_url", "queue_url", "rest_url", "cdn_url", "api_url")


@dataclass(frozen=True)
class Endpoints:
    """The fal base URLs. Build with ``Endpoints.from_env()`` or pass your own.

    ``realtime_url`` (``ws``/``wss``) is derived from ``run_url`` unless given.
    """

    run_url: str = DEFAULT_RUN_URL
    queue_url: str = DEFAULT_QUEUE_URL
    rest_url: str = DEFAULT_REST_URL
    cdn_url: str = DEFAULT_CDN_URL
    realtime_url: Optional[str] = None
    #: The platform API (model metadata and schemas, prices, request history).
    api_url: str = DEFAULT_API_URL

    def __post_init__(self) -> None:
        for name in _HTTP_BASES:
            object.__setattr__(self, name, _normalise_base(getattr(self, name), name))
        if self.realtime_url is not None:
            url = _normalise_base(self.realtime_url, "realtime_url", ("ws", "wss"))
            object.__setattr__(self, "realtime_url", url)

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> Endpoints:
        """Read ``FAL_RUN_URL``, ``FAL_QUEUE_URL``, ``FAL_REST_URL``, ``FAL_CDN_URL``,
        ``FAL_API_URL``.

        The official client's ``FAL_RUN_HOST`` and ``FAL_QUEUE_RUN_HOST`` (host names, https
        implied) are honoured when the URL variables are not set. A base URL assigned through
        the official module's constants (``fal_client.client.QUEUE_URL_FORMAT = ...``) comes
        before all of these.
        """
        env = os.environ if env is None else env
        run_host = env.get("FAL_RUN_HOST")
        run_url = env.get("FAL_RUN_URL") or (f"https://{run_host}" if run_host else DEFAULT_RUN_URL)
        queue_host = env.get("FAL_QUEUE_RUN_HOST") or (f"queue.{run_host}" if run_host else None)
        queue_url = env.get("FAL_QUEUE_URL") or (
            f"https://{queue_host}" if queue_host else DEFAULT_QUEUE_URL
        )
        return cls(
            **{
                "run_url": run_url,
                "queue_url": queue_url,
                "rest_url": env.get("FAL_REST_URL") or DEFAULT_REST_URL,
                "cdn_url": env.get("FAL_CDN_URL") or DEFAULT_CDN_URL,
                "api_url": env.get("FAL_API_URL") or DEFAULT_API_URL,
                **_legacy_bases,
            }
        )

    @property
    def realtime_base(self) -> str:
        """Base URL of realtime websockets: ``realtime_url``, else the run URL as ws/wss."""
        if self.realtime_url is not None:
            return self.realtime_url
        scheme, rest = self.run_url.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}"

    def origins(self) -> frozenset[str]:
        """The origins (scheme://host:port) that may receive the API key."""
        return frozenset(origin_of(getattr(self, name)) for name in _HTTP_BASES)

    def is_fal_url(self, url: str) -> bool:
        """Whether ``url`` is on one of the fal origins (the only ones the key goes to)."""
        # Fast path for the URLs this client builds itself; anything else is parsed.
        for prefix in self._prefixes:
            if url.startswith(prefix):
                return True
        return origin_of(url) in self._origins

    @functools.cached_property
    def _origins(self) -> frozenset[str]:
        return self.origins()

    @functools.cached_property
    def _prefixes(self) -> tuple[str, ...]:
        # "scheme://host[:port]/" of each base URL, exactly as configured.
        prefixes = set()
        for name in _HTTP_BASES:
            parts = urlsplit(getattr(self, name))
            prefixes.add(f"{parts.scheme}://{parts.netloc}/")
        return tuple(prefixes)

    # --- URL builders -------------------------------------------------------------------
    def run(self, app: AppId, path: str = "") -> str:
        """``POST`` URL of a synchronous run."""
        return f"{self.run_url}/{join_path(app, path)}"

    def submit(self, app: AppId, path: str = "", webhook_url: Optional[str] = None) -> str:
        """``POST`` URL that enqueues a job."""
        url = f"{self.queue_url}/{join_path(app, path)}"
        if webhook_url is not None:
            url += "?" + urlencode({"fal_webhook": webhook_url})
        return url

    def request(self, app: AppId, request_id: str) -> str:
        """``GET`` URL of a queued request's result (``response_url``)."""
        return f"{self.queue_url}/{app.root}/requests/{request_id}"

    def status(self, app: AppId, request_id: str) -> str:
        """``GET`` URL of a queued request's status."""
        return f"{self.request(app, request_id)}/status"

    def status_stream(self, app: AppId, request_id: str) -> str:
        """``GET`` URL of a queued request's status as server-sent events."""
        return f"{self.request(app, request_id)}/status/stream"

    def cancel(self, app: AppId, request_id: str) -> str:
        """``PUT`` URL that cancels a queued request."""
        return f"{self.request(app, request_id)}/cancel"

    def cdn_token(self) -> str:
        """``POST`` URL of the CDN v3 upload token."""
        return f"{self.rest_url}/storage/auth/token?storage_type=fal-cdn-v3"

    def realtime_token(self) -> str:
        """``POST`` URL of the short-lived realtime token."""
        return f"{self.rest_url}/tokens/"

    def storage_initiate(self, multipart: bool) -> str:
        """``POST`` URL that starts a REST-signed upload (one body, or in parts)."""
        kind = "initiate-multipart" if multipart else "initiate"
        return f"{self.rest_url}/storage/upload/{kind}?storage_type=fal-cdn-v3"

    def platform(self, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
        """URL of the platform API's ``path`` (``"models"``, ``"models/pricing"``...).

        ``query`` is a list of pairs because the platform API repeats names
        (``endpoint_id=a&endpoint_id=b``).
        """
        url = f"{self.api_url}/{path}"
        return f"{url}?{urlencode(list(query))}" if query else url


# --- storage URLs handed out by fal (a CDN token's base URL, an upload's own URL) -------------
def cdn_upload(base_url: str, multipart: bool) -> str:
    """``POST`` URL of a CDN v3 upload (one body), or of a multipart upload's creation."""
    return f"{base_url}/files/upload/multipart" if multipart else f"{base_url}/files/upload"


def cdn_multipart_part(access_url: str, upload_id: str, part: object) -> str:
    """``PUT`` URL of part ``part`` (a number, or ``"complete"``) of a CDN multipart upload."""
    return f"{access_url.rstrip('/')}/multipart/{upload_id}/{part}"


def signed_multipart_part(upload_url: str, part: object) -> str:
    """``PUT`` URL of part ``part`` (a number, or ``"complete"``) of a REST-signed multipart
    upload: appended to the signed URL's path, its query (the signature) kept."""
    parts = urlsplit(upload_url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{part}"))


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, with default ports made explicit, lower-cased."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port or {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme, 0)
    return f"{scheme}://{host}:{port}"
