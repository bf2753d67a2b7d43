"""fal_client: an async-first, structured-concurrency client for fal.ai.

The same public names as the official ``fal-client`` package, on one AnyIO engine that runs
under asyncio and trio, with a sync API driven through a blocking portal.

    import fal_client
    result = fal_client.subscribe("fal-ai/fast-sdxl", {"prompt": "a cat"})
"""

from ._auth import fetch_credentials
from ._batch import BatchResult, MapResults, Progress
from ._client import AnyJSON, AsyncClient, AsyncRequestHandle, Priority
from ._encoding import encode, encode_file, encode_image
from ._endpoints import AppId, Endpoints, parse_app_id
from ._errors import (
    AuthenticationError,
    FalClientConnectionError,
    FalClientError,
    FalClientHTTPError,
    FalClientTimeoutError,
    JobCancelledError,
    JobFailedError,
    MissingCredentialsError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StartTimeoutError,
    SubmitNotConfirmedError,
    UnexpectedResponseError,
    ValidationError,
)
from ._module_api import (
    cancel,
    cancel_async,
    download,
    download_async,
    get_handle,
    get_handle_async,
    map,
    map_async,
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
)
from ._retry import RetryPolicy
from ._status import Completed, InProgress, Queued, Status
from ._sync import SyncClient, SyncRequestHandle
from ._version import __version__

__all__ = [
    "AnyJSON",
    "AppId",
    "AsyncClient",
    "AsyncRequestHandle",
    "AuthenticationError",
    "BatchResult",
    "Completed",
    "Endpoints",
    "FalClientConnectionError",
    "FalClientError",
    "FalClientHTTPError",
    "FalClientTimeoutError",
    "InProgress",
    "JobCancelledError",
    "JobFailedError",
    "MapResults",
    "MissingCredentialsError",
    "NotFoundError",
    "Priority",
    "Progress",
    "Queued",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "StartTimeoutError",
    "Status",
    "SubmitNotConfirmedError",
    "SyncClient",
    "SyncRequestHandle",
    "UnexpectedResponseError",
    "ValidationError",
    "__version__",
    "cancel",
    "cancel_async",
    "download",
    "download_async",
    "encode",
    "encode_file",
    "encode_image",
    "fetch_credentials",
    "get_handle",
    "get_handle_async",
    "map",
    "map_async",
    "parse_app_id",
    "result",
    "result_async",
    "run",
    "run_async",
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
]
