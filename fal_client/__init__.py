"""fal_client: an async-first, structured-concurrency client for fal.ai.

The same public names as the official ``fal-client`` package, on one AnyIO engine that runs
under asyncio and trio, with a sync API driven through a blocking portal.

    import fal_client
    result = fal_client.subscribe("fal-ai/fast-sdxl", {"prompt": "a cat"})

The official package's module paths work too: ``fal_client.client`` and ``fal_client.auth``
(loaded on first use), and ``fal_client.sync_client``/``fal_client.async_client``, the default
clients behind the module-level functions (rebuilt when the ``FAL_*`` environment changes).
"""

from typing import TYPE_CHECKING, Any

from . import webhooks
from ._app_context import set_get_current_app
from ._auth import fetch_credentials
from ._batch import BatchResult, MapResults, Progress
from ._client import AnyJSON, AsyncClient, AsyncRequestHandle, Priority
from ._encoding import encode, encode_file, encode_image
from ._endpoints import AppId, Endpoints, parse_app_id
from ._errors import (
    AuthenticationError,
    BudgetExceededError,
    FalClientConnectionError,
    FalClientError,
    FalClientHTTPError,
    FalClientTimeoutError,
    InputProblem,
    InputValidationError,
    JobCancelledError,
    JobFailedError,
    MissingCredentialsError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StartTimeoutError,
    SubmitNotConfirmedError,
    SubmitNotRecoveredError,
    UnexpectedResponseError,
    UnknownEndpointError,
    ValidationError,
)
from ._lifecycle import (
    ObjectExpiration,
    StorageACL,
    StorageACLDecision,
    StorageACLRule,
    StorageSettings,
)
from ._module_api import (
    cancel,
    cancel_async,
    download,
    download_async,
    download_files,
    download_files_async,
    get_handle,
    get_handle_async,
    map,
    map_async,
    realtime,
    realtime_async,
    result,
    result_async,
    run,
    run_async,
    status,
    status_async,
    stream,
    stream_async,
    submit,
    submit_async,
    subscribe,
    subscribe_async,
    upload,
    upload_async,
    upload_file,
    upload_file_async,
    upload_image,
    upload_image_async,
    ws_connect,
    ws_connect_async,
)
from ._platform import CostEstimate, HistoryItem, ModelInfo, Price
from ._platform_api import Platform
from ._portal import SyncIterator
from ._realtime import AsyncRealtimeConnection, RealtimeConnection, RealtimeError
from ._retry import RetryPolicy
from ._schema_cache import EndpointSchema, SchemaUnavailableWarning
from ._status import Completed, InProgress, Queued, Status
from ._sync import SyncClient, SyncPlatform, SyncRequestHandle
from ._upload_options import UploadOptions
from ._version import __version__, version_tuple

__all__ = [
    "AnyJSON",
    "AppId",
    "AsyncClient",
    "AsyncRealtimeConnection",
    "AsyncRequestHandle",
    "AuthenticationError",
    "BatchResult",
    "BudgetExceededError",
    "Completed",
    "CostEstimate",
    "EndpointSchema",
    "Endpoints",
    "FalClientConnectionError",
    "FalClientError",
    "FalClientHTTPError",
    "FalClientTimeoutError",
    "HistoryItem",
    "InProgress",
    "InputProblem",
    "InputValidationError",
    "JobCancelledError",
    "JobFailedError",
    "MapResults",
    "MissingCredentialsError",
    "ModelInfo",
    "NotFoundError",
    "ObjectExpiration",
    "Platform",
    "Price",
    "Priority",
    "Progress",
    "Queued",
    "RateLimitError",
    "RealtimeConnection",
    "RealtimeError",
    "RetryPolicy",
    "SchemaUnavailableWarning",
    "ServerError",
    "StartTimeoutError",
    "Status",
    "StorageACL",
    "StorageACLDecision",
    "StorageACLRule",
    "StorageSettings",
    "SubmitNotConfirmedError",
    "SubmitNotRecoveredError",
    "SyncClient",
    "SyncIterator",
    "SyncPlatform",
    "SyncRequestHandle",
    "UnexpectedResponseError",
    "UnknownEndpointError",
    "UploadOptions",
    "ValidationError",
    "__version__",
    "cancel",
    "cancel_async",
    "download",
    "download_async",
    "download_files",
    "download_files_async",
    "encode",
    "encode_file",
    "encode_image",
    "fetch_credentials",
    "get_handle",
    "get_handle_async",
    "map",
    "map_async",
    "parse_app_id",
    "realtime",
    "realtime_async",
    "result",
    "result_async",
    "run",
    "run_async",
    "set_get_current_app",
    "status",
    "status_async",
    "stream",
    "stream_async",
    "submit",
    "submit_async",
    "subscribe",
    "subscribe_async",
    "upload",
    "upload_async",
    "upload_file",
    "upload_file_async",
    "upload_image",
    "upload_image_async",
    "version_tuple",
    "webhooks",
    "ws_connect",
    "ws_connect_async",
]

if TYPE_CHECKING:
    from . import auth as auth
    from . import client as client

    #: The default ``SyncClient`` behind ``fal_client.run`` and the other sync functions.
    sync_client: SyncClient
    #: The default ``AsyncClient`` behind ``fal_client.run_async`` and the other async functions.
    async_client: AsyncClient
else:

    def __getattr__(name: str) -> Any:
        # Loaded on first use: most programs never touch the official module paths, and the
        # default clients must be the ones matching the environment at the time of the call.
        if name in ("client", "auth"):
            import importlib

            return importlib.import_module(f"{__name__}.{name}")
        if name == "sync_client":
            from ._defaults import default_sync_client

            return default_sync_client()
        if name == "async_client":
            from ._defaults import default_async_client

            return default_async_client()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
