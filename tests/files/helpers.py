"""Helpers of the files tests: a small multipart threshold, and the emulator's view of uploads."""

from __future__ import annotations

import hashlib
from typing import Any

from fal_client.testing import Emulator

#: Small sizes so every multipart path runs in milliseconds.
THRESHOLD = 64 * 1024
CHUNK = 16 * 1024
SMALL_PARTS: dict[str, Any] = {"multipart_threshold": THRESHOLD, "chunk_size": CHUNK}


def payload(size: int, seed: int = 0) -> bytes:
    """``size`` bytes that differ between parts (so a mixed-up order would be noticed)."""
    block = hashlib.sha256(str(seed).encode()).digest()
    repeated = (block * (size // len(block) + 1))[:size]
    return bytes((b + i // CHUNK) % 256 for i, b in enumerate(repeated))


def stored(emu: Emulator, url: str) -> Any:
    """The emulator's record of the file at ``url``."""
    (info,) = [f for f in emu.files() if f.url == url]
    return info


def completes(emu: Emulator) -> list[Any]:
    """Every multipart complete request the emulator saw."""
    return [r for r in emu.requests() if r.path.endswith("/complete")]


def parts(emu: Emulator) -> list[Any]:
    """Every part PUT the emulator saw."""
    return [r for r in emu.requests() if r.operation == "part"]
