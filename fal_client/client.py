"""The official client's ``fal_client.client`` module, for code that imports from it.

Code written for the official ``fal-client`` imports from here (``from fal_client.client
import SyncClient, AppId``), reads ``fal_client.client.X`` and assigns the module's constants
to redirect the client, usually at a proxy or a local server::

    fal_client.client.QUEUE_URL_FORMAT = "http://127.0.0.1:8000/queue/"
    fal_client.client.MAX_ATTEMPTS = 1

Every name is the package's own object (``fal_client.client.SyncClient is
fal_client.SyncClient``). An assignment takes effect for clients created afterwards, as with
the official package: the URL constants set that base URL (before the ``FAL_*_URL``
environment), ``MAX_ATTEMPTS``/``BASE_DELAY``/``MAX_DELAY``/``RETRY_CODES``/
``INGRESS_ERROR_CODES`` set the default ``RetryPolicy``. Assigning the original value back (as
``monkeypatch`` does when a test ends) restores the default. Constants that do nothing here
refuse assignment with an error that names what to use instead, rather than being ignored.
New code should pass these as options (``AsyncClient(queue_url=..., retry=...)``).
"""

from __future__ import annotations

import logging
import sys
import types
from functools import partial
from typing import Any, Callable, Literal, cast

from ._client import AnyJSON, AsyncClient, AsyncRequestHandle, Priority
from ._encoding import encode, encode_file, encode_image
from ._endpoints import AppId, Endpoints, set_legacy_base
from ._errors import FalClientError, FalClientHTTPError, FalClientTimeoutError
from ._headers import (
    MIN_REQUEST_TIMEOUT_SECONDS,
    QUEUE_PRIORITY_HEADER,
    REQUEST_TIMEOUT_HEADER,
    REQUEST_TIMEOUT_TYPE_HEADER,
    RUNNER_HINT_HEADER,
    add_fal_app_context_headers,
    add_hint_header,
    add_priority_header,
    add_timeout_header,
    handle_response_headers,
)
from ._lifecycle import (
    DEFAULT_FALLBACK_REPOSITORIES,
    DEFAULT_REPOSITORY,
    ObjectExpiration,
    StorageACL,
    StorageACLDecision,
    StorageACLRule,
    StorageSettings,
)
from ._realtime import OPEN_TIMEOUT_SECONDS, AsyncRealtimeConnection, RealtimeConnection
from ._realtime_protocol import (
    DEFAULT_TOKEN_EXPIRATION,
    MAX_BUFFERING_RANGE,
    RealtimeError,
)
from ._realtime_protocol import msgpack_decode as msgpack_decode_message
from ._realtime_protocol import msgpack_encode as msgpack_encode_message
from ._retry import DEFAULT_RETRY_POLICY, set_legacy_default
from ._status import Completed, InProgress, Queued, Status
from ._sync import SyncClient, SyncRequestHandle
from ._transport import USER_AGENT
from ._upload import CDNToken
from ._upload_options import UploadOptions
from .auth import (
    FAL_QUEUE_RUN_HOST,
    FAL_RUN_HOST,
    AuthCredentials,
    fetch_auth_credentials,
    fetch_auth_credentials_async,
)

__all__ = [
    "APP_NAMESPACES",
    "BASE_DELAY",
    "CDN_URL",
    "DEFAULT_QUEUE_POLL_INTERVAL",
    "DEFAULT_UPLOAD_FALLBACK_REPOSITORY",
    "DEFAULT_UPLOAD_REPOSITORY",
    "FAL_QUEUE_RUN_HOST",
    "FAL_RUN_HOST",
    "INGRESS_ERROR_CODES",
    "MAX_ATTEMPTS",
    "MAX_DELAY",
    "MIN_REQUEST_TIMEOUT_SECONDS",
    "MULTIPART_CHUNK_SIZE",
    "MULTIPART_MAX_CONCURRENCY",
    "MULTIPART_THRESHOLD",
    "QUEUE_PRIORITY_HEADER",
    "QUEUE_URL_FORMAT",
    "REALTIME_MAX_BUFFERING",
    "REALTIME_OPEN_TIMEOUT",
    "REALTIME_TOKEN_EXPIRATION_SECONDS",
    "REALTIME_URL_FORMAT",
    "REQUEST_TIMEOUT_HEADER",
    "REQUEST_TIMEOUT_TYPE_HEADER",
    "REST_URL",
    "RETRY_CODES",
    "RUNNER_HINT_HEADER",
    "RUN_URL_FORMAT",
    "USER_AGENT",
    "AnyJSON",
    "AppId",
    "AsyncClient",
    "AsyncRealtimeConnection",
    "AsyncRequestHandle",
    "AuthCredentials",
    "CDNToken",
    "Completed",
    "FalClientError",
    "FalClientHTTPError",
    "FalClientTimeoutError",
    "InProgress",
    "LifecyclePreferencePayload",
    "ObjectExpiration",
    "Priority",
    "Queued",
    "RealtimeConnection",
    "RealtimeError",
    "Status",
    "StorageACL",
    "StorageACLDecision",
    "StorageACLRule",
    "StorageSettings",
    "SyncClient",
    "SyncRequestHandle",
    "UploadRepositoryId",
    "add_fal_app_context_headers",
    "add_hint_header",
    "add_priority_header",
    "add_timeout_header",
    "encode",
    "encode_file",
    "encode_image",
    "fetch_auth_credentials",
    "fetch_auth_credentials_async",
    "handle_response_headers",
    "logger",
    "msgpack_decode_message",
    "msgpack_encode_message",
]

logger = logging.getLogger("fal_client")

#: Where uploads go: fal's CDN v3 (``"cdn"`` is its old name) or the REST-signed storage.
UploadRepositoryId = Literal["fal_v3", "cdn", "fal"]
#: The object lifecycle preferences sent with an upload.
LifecyclePreferencePayload = dict[str, Any]

# The base URLs in the official form (run, queue and realtime end with "/"), as this process's
# environment configures them when the package is imported.
_ENV = Endpoints.from_env()
RUN_URL_FORMAT: str = _ENV.run_url + "/"
QUEUE_URL_FORMAT: str = _ENV.queue_url + "/"
REALTIME_URL_FORMAT: str = _ENV.realtime_base + "/"
REST_URL: str = _ENV.rest_url
CDN_URL: str = _ENV.cdn_url

# This client's actual defaults, under the official names.
MAX_ATTEMPTS: int = DEFAULT_RETRY_POLICY.max_attempts
BASE_DELAY: float = DEFAULT_RETRY_POLICY.base_delay
MAX_DELAY: float = DEFAULT_RETRY_POLICY.max_delay
RETRY_CODES: list[int] = sorted(DEFAULT_RETRY_POLICY.retry_statuses)
INGRESS_ERROR_CODES: list[int] = sorted(DEFAULT_RETRY_POLICY.ingress_statuses)
DEFAULT_QUEUE_POLL_INTERVAL: float = 0.1
DEFAULT_UPLOAD_REPOSITORY = cast(UploadRepositoryId, DEFAULT_REPOSITORY)
DEFAULT_UPLOAD_FALLBACK_REPOSITORY = [
    cast(UploadRepositoryId, name) for name in DEFAULT_FALLBACK_REPOSITORIES
]
MULTIPART_THRESHOLD: int = UploadOptions().multipart_threshold
MULTIPART_CHUNK_SIZE: int = UploadOptions().chunk_size
MULTIPART_MAX_CONCURRENCY: int = UploadOptions().max_concurrency
REALTIME_TOKEN_EXPIRATION_SECONDS: int = DEFAULT_TOKEN_EXPIRATION
REALTIME_MAX_BUFFERING: tuple[int, int] = MAX_BUFFERING_RANGE
REALTIME_OPEN_TIMEOUT: float = OPEN_TIMEOUT_SECONDS
APP_NAMESPACES: list[str] = ["workflows", "comfy"]


def _retry_field(field: str, convert: Callable[[Any], Any] = lambda v: v) -> Callable[[Any], None]:
    def apply(value: Any) -> None:
        set_legacy_default(field, convert(value))

    return apply


# Constant -> what assigning it changes, for clients created afterwards.
_APPLIES: dict[str, Callable[[Any], None]] = {
    "RUN_URL_FORMAT": partial(set_legacy_base, "run_url"),
    "QUEUE_URL_FORMAT": partial(set_legacy_base, "queue_url"),
    "REALTIME_URL_FORMAT": partial(set_legacy_base, "realtime_url"),
    "REST_URL": partial(set_legacy_base, "rest_url"),
    "CDN_URL": partial(set_legacy_base, "cdn_url"),
    "MAX_ATTEMPTS": _retry_field("max_attempts"),
    "BASE_DELAY": _retry_field("base_delay"),
    "MAX_DELAY": _retry_field("max_delay"),
    "RETRY_CODES": _retry_field("retry_statuses", frozenset),
    "INGRESS_ERROR_CODES": _retry_field("ingress_statuses", frozenset),
}

# Constants that configure nothing here, with what does.
_INSTEAD: dict[str, str] = {
    "DEFAULT_QUEUE_POLL_INTERVAL": "pass interval= to subscribe()/get()/iter_events()",
    "MIN_REQUEST_TIMEOUT_SECONDS": "it is fal's limit for start_timeout, not a setting",
    "DEFAULT_UPLOAD_REPOSITORY": "pass repository= to upload()",
    "DEFAULT_UPLOAD_FALLBACK_REPOSITORY": "pass fallback_repository= to upload()",
    "MULTIPART_THRESHOLD": "pass upload_options=UploadOptions(multipart_threshold=...)",
    "MULTIPART_CHUNK_SIZE": "pass upload_options=UploadOptions(chunk_size=...)",
    "MULTIPART_MAX_CONCURRENCY": "pass upload_options=UploadOptions(max_concurrency=...)",
    "REALTIME_TOKEN_EXPIRATION_SECONDS": "pass token_expiration= to realtime()",
    "REALTIME_MAX_BUFFERING": "pass max_buffering= to realtime()",
    "REALTIME_OPEN_TIMEOUT": "it is this client's fixed websocket open timeout",
    "USER_AGENT": "pass headers={'User-Agent': ...} to the client",
    "APP_NAMESPACES": "it lists fal's namespaces, it is not a setting",
    "FAL_RUN_HOST": "assign RUN_URL_FORMAT, or set FAL_RUN_URL before creating a client",
    "FAL_QUEUE_RUN_HOST": "assign QUEUE_URL_FORMAT, or set FAL_QUEUE_URL",
}


class _ConstantsModule(types.ModuleType):
    """This module, with assignments to the official constants applied (or refused)."""

    def __setattr__(self, name: str, value: Any) -> None:
        apply = _APPLIES.get(name)
        if apply is not None:
            # The value it had at import means "as configured" again: monkeypatch's undo.
            apply(None if value == _ORIGINAL[name] else value)
        elif name in _INSTEAD:
            raise AttributeError(
                f"fal_client.client.{name} configures nothing in this client: {_INSTEAD[name]}"
            )
        super().__setattr__(name, value)


_ORIGINAL: dict[str, Any] = {name: globals()[name] for name in _APPLIES}

sys.modules[__name__].__class__ = _ConstantsModule
