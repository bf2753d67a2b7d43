"""The fal emulator: a local, fal-compatible server for testing fal clients and fal-based code.

It serves fal.run (``/run``), queue.fal.run (``/queue``), rest.fal.ai (``/rest``), the CDN
(``/cdn``) and the platform API api.fal.ai/v1 (``/api/v1``) on one loopback port, with apps
written as plain Python functions::

    from fal_client.testing import Emulator, AppContext

    emu = Emulator()

    @emu.app("me/upscale")
    async def upscale(arguments: dict, ctx: AppContext) -> dict:
        ctx.log("starting")
        return {"ok": True}

    with emu:
        print(emu.env)   # FAL_KEY, FAL_RUN_URL, FAL_QUEUE_URL, ..., FAL_API_URL

Importing this package is cheap: the server stack (Starlette, uvicorn, ...) is imported on first
use of a name that needs it, so the pytest plugin can import it without the ``testing`` extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._apps import AppContext
    from ._emulator import DEFAULT_KEY, Emulator
    from ._errors import AppError
    from ._faults import FaultHandle
    from ._gate import Gate
    from ._pricing import Price
    from ._records import (
        AppInfo,
        FileInfo,
        JobInfo,
        RequestRecord,
        StreamInfo,
        WebhookDelivery,
    )
    from ._serve import serve_forever

__all__ = [
    "DEFAULT_KEY",
    "AppContext",
    "AppError",
    "AppInfo",
    "Emulator",
    "FaultHandle",
    "FileInfo",
    "Gate",
    "JobInfo",
    "Price",
    "RequestRecord",
    "StreamInfo",
    "WebhookDelivery",
    "serve_forever",
]

_HOMES = {
    "DEFAULT_KEY": "._emulator",
    "AppContext": "._apps",
    "AppError": "._errors",
    "AppInfo": "._records",
    "Emulator": "._emulator",
    "FaultHandle": "._faults",
    "FileInfo": "._records",
    "Gate": "._gate",
    "JobInfo": "._records",
    "Price": "._pricing",
    "RequestRecord": "._records",
    "StreamInfo": "._records",
    "WebhookDelivery": "._records",
    "serve_forever": "._serve",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
