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

# Eager: cheap modules (no event loop, no HTTP library) that most programs touch. The
# module-level functions load the engine on their first call (``_defaults``).
from ._app_context import set_get_current_app
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
from ._status import Completed, InProgress, Queued, Status
from ._version import __version__, version_tuple

# Lazy: public name -> the private module that defines it, imported on first access (PEP 562
# ``__getattr__`` below). These pull in the engine, the event-loop portal, the platform API,
# fan-out, realtime, webhook crypto: a program pays for the ones it uses. The TYPE_CHECKING
# block below imports the same names for type checkers; tests/test_tooling.py holds the two
# to each other and to the objects they name.
_LAZY: dict[str, str] = {
    "AnyJSON": "_client",
    "AsyncClient": "_client",
    "AsyncRequestHandle": "_client",
    "Priority": "_client",
    "AsyncRealtimeConnection": "_realtime",
    "RealtimeConnection": "_realtime",
    "RealtimeError": "_realtime",
    "BatchResult": "_batch",
    "MapResults": "_batch",
    "Progress": "_batch",
    "CostEstimate": "_platform",
    "HistoryItem": "_platform",
    "ModelInfo": "_platform",
    "Price": "_platform",
    "EndpointSchema": "_schema_cache",
    "SchemaUnavailableWarning": "_schema_cache",
    "ObjectExpiration": "_lifecycle",
    "StorageACL": "_lifecycle",
    "StorageACLDecision": "_lifecycle",
    "StorageACLRule": "_lifecycle",
    "StorageSettings": "_lifecycle",
    "Platform": "_platform_api",
    "SyncIterator": "_portal",
    "RetryPolicy": "_retry",
    "SyncClient": "_sync",
    "SyncPlatform": "_sync",
    "SyncRequestHandle": "_sync",
    "UploadOptions": "_upload_options",
    "encode": "_encoding",
    "encode_file": "_encoding",
    "encode_image": "_encoding",
    "fetch_credentials": "_auth",
    "webhooks": "webhooks",
}

if TYPE_CHECKING:
    from . import webhooks as webhooks
    from ._auth import fetch_credentials as fetch_credentials
    from ._batch import BatchResult as BatchResult
    from ._batch import MapResults as MapResults
    from ._batch import Progress as Progress
    from ._client import AnyJSON as AnyJSON
    from ._client import AsyncClient as AsyncClient
    from ._client import AsyncRequestHandle as AsyncRequestHandle
    from ._client import Priority as Priority
    from ._encoding import encode as encode
    from ._encoding import encode_file as encode_file
    from ._encoding import encode_image as encode_image
    from ._lifecycle import ObjectExpiration as ObjectExpiration
    from ._lifecycle import StorageACL as StorageACL
    from ._lifecycle import StorageACLDecision as StorageACLDecision
    from ._lifecycle import StorageACLRule as StorageACLRule
    from ._lifecycle import StorageSettings as StorageSettings
    from ._platform import CostEstimate as CostEstimate
    from ._platform import HistoryItem as HistoryItem
    from ._platform import ModelInfo as ModelInfo
    from ._platform import Price as Price
    from ._platform_api import Platform as Platform
    from ._portal import SyncIterator as SyncIterator
    from ._realtime import AsyncRealtimeConnection as AsyncRealtimeConnection
    from ._realtime import RealtimeConnection as RealtimeConnection
    from ._realtime import RealtimeError as RealtimeError
    from ._retry import RetryPolicy as RetryPolicy
    from ._schema_cache import EndpointSchema as EndpointSchema
    from ._schema_cache import SchemaUnavailableWarning as SchemaUnavailableWarning
    from ._sync import SyncClient as SyncClient
    from ._sync import SyncPlatform as SyncPlatform
    from ._sync import SyncRequestHandle as SyncRequestHandle
    from ._upload_options import UploadOptions as UploadOptions

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
        module = _LAZY.get(name)
        if module is not None:
            import importlib

            found = importlib.import_module(f"{__name__}.{module}")
            value = found if module == name else getattr(found, name)  # a submodule: itself
            globals()[name] = value  # later look-ups find it without coming back here
            return value
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

    def __dir__() -> list[str]:
        # The lazy names are part of the surface before their first use too.
        return sorted({*globals(), *__all__})
