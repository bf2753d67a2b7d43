"""What a request is: its service, operation, app and handler, decided from method and path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable, Optional, Tuple

from starlette.responses import Response

from ._app_ids import EndpointPath, QueueRequestPath
from ._apps import AppSpec

if TYPE_CHECKING:
    from ._exchange import Exchange

#: Auth an endpoint requires.
AUTH_KEY = "key"  # Authorization: Key <key> (or a realtime JWT for the addressed app)
AUTH_CDN = "cdn"  # Authorization: Bearer <CDN token>
AUTH_PUBLIC = "public"  # none: file downloads, signed upload URLs, JWKS
AUTH_OPTIONAL_KEY = "optional_key"  # none, or a valid key: the platform API's model search

Handler = Callable[["Exchange", "Route"], Awaitable[Optional[Response]]]


@dataclass
class Route:
    """A classified request.

    Attributes:
        operation: the fal operation (for faults and the request log), or None.
        handler: the coroutine that answers it (returns a response, or None if it already
            answered or dropped the connection).
        auth: which credentials it needs.
        endpoint: the addressed app endpoint, for run and queue requests.
        app: the registered app, when the endpoint names one.
        app_path: the endpoint sub-path beyond the registered app name.
        queue_request: the parsed per-request queue URL, for status/result/cancel.
        params: extra path parameters (file ids, upload ids, part numbers).
    """

    operation: Optional[str]
    handler: Handler
    auth: str
    endpoint: Optional[EndpointPath] = None
    app: Optional[AppSpec] = None
    app_path: Optional[str] = None
    queue_request: Optional[QueueRequestPath] = None
    params: Tuple[str, ...] = field(default_factory=tuple)

    def fault_targets(self) -> Tuple[str, ...]:
        """Names a fault's ``app=`` may use to target this request."""
        names = []
        if self.app is not None:
            names.append(self.app.name)
        if self.endpoint is not None:
            names.append(self.endpoint.root)
            if self.endpoint.rest:
                names.append("/".join((self.endpoint.root, *self.endpoint.rest)))
        return tuple(names)
