"""What the emulator's routes may ask of the running emulator beyond its state.

The routes (``_asgi``, ``_inspect_routes``) receive the ``EmulatorState`` and this small
object, never the public ``Emulator``: they cannot reach its private state, and the modules
import no circle.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Callable, Dict

__all__ = ["EmulatorControl"]


@dataclass(frozen=True)
class EmulatorControl:
    """Operations on the emulator as a whole, given to its routes.

    Attributes:
        env: the ``FAL_*`` settings that point a client at it (empty while it is stopped).
        reset: forget every job, request, file and fault (in the emulator's event loop).
        clear_faults: remove every injected fault.
    """

    env: Callable[[], Dict[str, str]]
    reset: Callable[[], Awaitable[None]]
    clear_faults: Callable[[], None]
