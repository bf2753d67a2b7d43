"""The HTTP library seam. Everything else talks to the module this file picks.

Two libraries with the same API are supported: ``httpx2`` (the default: measured faster on both
AnyIO backends, see ``benchmarks/RESULTS.md``) and ``httpx``. ``FAL_CLIENT_HTTP_LIBRARY=httpx``
or the client's ``http_library=`` option selects the other one; an injected client brings its own.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any, Optional

DEFAULT_LIBRARY = "httpx2"
SUPPORTED_LIBRARIES = ("httpx2", "httpx")


def load_library(name: Optional[str] = None) -> ModuleType:
    """Import the HTTP library by name (default: env ``FAL_CLIENT_HTTP_LIBRARY``, then httpx2)."""
    chosen = name or os.environ.get("FAL_CLIENT_HTTP_LIBRARY") or DEFAULT_LIBRARY
    if chosen not in SUPPORTED_LIBRARIES:
        raise ValueError(
            f"http_library must be one of {', '.join(SUPPORTED_LIBRARIES)}, got {chosen!r}"
        )
    return importlib.import_module(chosen)


def library_of(client: Any) -> ModuleType:
    """The library module an injected ``AsyncClient`` belongs to."""
    root = type(client).__module__.split(".")[0]
    if root not in SUPPORTED_LIBRARIES:
        raise TypeError(
            f"http_client must be an httpx2.AsyncClient or httpx.AsyncClient, got {type(client)!r}"
        )
    return importlib.import_module(root)


def never_sent(lib: ModuleType, exc: BaseException) -> bool:
    """Whether a transport error proves the request never reached the server."""
    return isinstance(exc, (lib.ConnectError, lib.ConnectTimeout, lib.PoolTimeout))
