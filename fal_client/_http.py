"""The HTTP library seam. Everything else talks to the module this file picks.

Two libraries with the same API are supported: ``httpx2`` (the default where it is installed:
measured faster on both AnyIO backends, see ``benchmarks/RESULTS.md``; it needs Python 3.11+)
and ``httpx`` (the default on older Pythons). ``FAL_CLIENT_HTTP_LIBRARY`` or the client's
``http_library=`` option selects one explicitly; an injected client brings its own.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any, Optional

SUPPORTED_LIBRARIES = ("httpx2", "httpx")


def load_library(name: Optional[str] = None) -> ModuleType:
    """Import the HTTP library: ``name``, else env ``FAL_CLIENT_HTTP_LIBRARY``, else httpx2 when
    installed, else httpx."""
    chosen = name or os.environ.get("FAL_CLIENT_HTTP_LIBRARY")
    if chosen is None:
        try:
            return importlib.import_module("httpx2")
        except ImportError:
            return importlib.import_module("httpx")
    if chosen not in SUPPORTED_LIBRARIES:
        raise ValueError(
            f"http_library must be one of {', '.join(SUPPORTED_LIBRARIES)}, got {chosen!r}"
        )
    try:
        return importlib.import_module(chosen)
    except ImportError as exc:
        raise ImportError(
            f"http_library={chosen!r} is not installed (httpx2 needs Python 3.11+): "
            f"pip install {chosen}"
        ) from exc


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
