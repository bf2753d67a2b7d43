"""The engine: what every operation of one client needs, shared by its resources.

One ``Engine`` per client: the transport (HTTP library, pool, retry policy, credentials and the
rule of which origins get them), the CDN upload tokens, the upload options, whether inputs are
auto-uploaded, and which origins answered that they have no status stream. The resources
(``_queue.Queue``, ``_run.Runs``, ``_files_api.Files``, ``_batch_api.Batch``,
``_realtime_api.Realtime``) each receive it; none reads another's private state, and the
clients (``_client.AsyncClient``, the generated ``SyncClient``) only delegate to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import anyio

from ._endpoints import Endpoints, origin_of
from ._errors import UnexpectedResponseError
from ._transport import Transport
from ._upload import CDNTokenCache
from ._upload_options import UploadOptions

__all__ = [
    "STATUS_STREAM_OFF_SECONDS",
    "Engine",
    "StatusStreamSupport",
    "decode_json",
    "get_platform_json",
]

# An origin that answered "no status stream here" is polled for this long, then tried again.
STATUS_STREAM_OFF_SECONDS = 300.0


class StatusStreamSupport:
    """Which origins have no status stream (they answered 405/501 or not with SSE).

    Per origin and for a while only: one proxy without streams must not turn them off for every
    other server this client talks to, nor for the rest of the process.
    """

    def __init__(self) -> None:
        self._off_until: dict[str, float] = {}

    def usable(self, url: str) -> bool:
        """Whether to try the status stream of ``url``'s origin."""
        until = self._off_until.get(origin_of(url))
        return until is None or anyio.current_time() >= until

    def turn_off(self, url: str) -> None:
        """Poll ``url``'s origin for ``STATUS_STREAM_OFF_SECONDS``."""
        self._off_until[origin_of(url)] = anyio.current_time() + STATUS_STREAM_OFF_SECONDS


class Engine:
    """The shared state of one client's operations (see the module docstring)."""

    def __init__(self, transport: Transport, *, upload_options: UploadOptions, auto_upload: bool):
        self.transport = transport
        self.cdn_tokens = CDNTokenCache()
        #: How uploads are cut into parts.
        self.upload_options = upload_options
        #: Upload files, bytes and images found in arguments and send their URLs instead.
        self.auto_upload = auto_upload
        self.status_streams = StatusStreamSupport()

    @property
    def endpoints(self) -> Endpoints:
        """The base URLs."""
        return self.transport.endpoints

    def __repr__(self) -> str:
        return f"<Engine {self.transport!r}>"


def decode_json(response: Any, *, app: str, request_id: Optional[str]) -> Any:
    """The JSON body of a success response, or ``UnexpectedResponseError`` saying what it was."""
    try:
        return response.json()
    except ValueError as exc:
        raise UnexpectedResponseError(
            f"expected a JSON body, got {response.headers.get('content-type', 'no content type')}",
            body=response.content[:200],
            app=app,
            request_id=request_id,
        ) from exc


async def get_platform_json(
    engine: Engine, path: str, query: Sequence[tuple[str, str]], *, about: str
) -> Any:
    """``GET`` a path of the platform API and decode its JSON body. Read-only, so retried as
    any repeatable request is; ``about`` (an endpoint id) names the call in errors."""
    url = engine.endpoints.platform(path, query)
    response = await engine.transport.request(
        "GET", url, repeatable=True, app=about, retry_server_errors=True
    )
    return decode_json(response, app=about, request_id=None)
