"""How uploads are cut into parts: ``UploadOptions`` and the part plan. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

__all__ = ["MAX_PARTS", "MiB", "UploadOptions", "plan_parts"]

MiB = 1024 * 1024


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


@dataclass(frozen=True)
class UploadOptions:
    """How uploads are cut into parts. Set per client (``client.upload_options = ...``) or
    override a field per call (``multipart_threshold=``, ``chunk_size=``, ``max_concurrency=``).

    Args:
        multipart_threshold: bodies strictly larger than this many bytes go multipart.
        chunk_size: bytes per part (raised automatically if a file would need more than
            10,000 parts). fal's CDN, like S3, may require at least 5 MiB for all but the last.
        max_concurrency: parts in flight at once.
    """

    multipart_threshold: int = 100 * MiB
    chunk_size: int = 10 * MiB
    max_concurrency: int = 10

    def __post_init__(self) -> None:
        _positive_int("multipart_threshold", self.multipart_threshold, 0)
        _positive_int("chunk_size", self.chunk_size)
        _positive_int("max_concurrency", self.max_concurrency)

    def override(
        self,
        multipart_threshold: Optional[int] = None,
        chunk_size: Optional[int] = None,
        max_concurrency: Optional[int] = None,
    ) -> UploadOptions:
        """A copy with the given fields replaced (``None`` keeps a field)."""
        return UploadOptions(
            multipart_threshold=self.multipart_threshold
            if multipart_threshold is None
            else multipart_threshold,
            chunk_size=self.chunk_size if chunk_size is None else chunk_size,
            max_concurrency=self.max_concurrency if max_concurrency is None else max_concurrency,
        )


MAX_PARTS = 10_000


def plan_parts(size: int, chunk_size: int) -> list[tuple[int, int, int]]:
    """``(part_number, offset, length)`` for each part (1-based), none of them empty.

    The chunk size grows when ``size`` would otherwise need more than ``MAX_PARTS`` parts.
    """
    if size <= 0:
        return []
    chunk = max(chunk_size, -(-size // MAX_PARTS))
    return [
        (number, offset, min(chunk, size - offset))
        for number, offset in enumerate(range(0, size, chunk), start=1)
    ]
