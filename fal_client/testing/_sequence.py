"""One counter for every record the inspection API lists: a cursor is "after this number"."""

from __future__ import annotations

import itertools

_sequence = itertools.count(1)


def next_seq() -> int:
    """A number larger than every one handed out before (``next`` on a count is atomic)."""
    return next(_sequence)
