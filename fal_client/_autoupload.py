"""Auto-upload of inputs: files, bytes and images inside ``arguments`` become URLs.

Like fal's JS client (``storage.transformInput``), but for Python values. The walk goes
through dicts (any ``Mapping``), lists and tuples (tuples come back as lists, as JSON would
have them); these leaves are replaced:

* ``pathlib.Path``: the file, streamed from disk;
* an open binary file (``open(p, "rb")``, ``io.BytesIO``): from its current position;
* ``bytes``, ``bytearray``, ``memoryview``: as ``application/octet-stream``;
* a PIL image: saved as PNG (lossless; Pillow is only used if the caller already imported it).

Everything else, ``str`` included (URLs and data URLs stay as they are), passes through. Each
distinct object is uploaded once, all of them concurrently in one task group; the first failure
cancels the rest and is raised as is.

Inline data URLs: a leaf of at most ``inline_limit`` bytes becomes a ``data:`` URL instead of an
upload. The default is 0 (always upload), because fal names inline files from their MIME type
and some models reject what comes out (an ``audio/wav`` data URL arrives as ``.bin``); raise it
(e.g. to 64 KiB) to save a round trip for small inputs your model reads fine inline.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Optional

import anyio

from ._encoding import (
    DEFAULT_CONTENT_TYPE,
    encode,
    guess_content_type,
    image_bytes,
    is_pil_image,
    read_file_checked,
)
from ._lifecycle import normalize_repositories
from ._tasks import until_first_failure
from ._upload import UploadRequest, upload
from ._upload_source import BytesSource, FileObjectSource, FileSource, UploadSource
from ._validate import validate_json

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = [
    "DEFAULT_INLINE_LIMIT",
    "UPLOAD_PLACEHOLDER_URL",
    "as_sent",
    "check_arguments",
    "serialise",
    "upload_inputs",
]

#: What a value still to be uploaded stands as when the arguments are validated before the
#: upload (a schema wants a URL string there; the real one is only known afterwards).
UPLOAD_PLACEHOLDER_URL = "https://v3.fal.media/files/upload-pending"

#: Leaves up to this many bytes become data URLs; 0 means every leaf is uploaded.
DEFAULT_INLINE_LIMIT = 0
#: Uploads in flight at once.
DEFAULT_MAX_CONCURRENCY = 8


@dataclass
class _Leaf:
    """One value to replace: its source, and the URL once known."""

    source: UploadSource
    content_type: str
    file_name: Optional[str]
    inline: Optional[bytes] = None
    url: Optional[str] = None


def is_uploadable(value: Any) -> bool:
    """Whether ``upload_inputs`` replaces this value."""
    return isinstance(value, (PurePath, bytes, bytearray, memoryview, io.IOBase)) or is_pil_image(
        value
    )


def contains_uploadable(arguments: Any) -> bool:
    """Whether anything inside ``arguments`` would be uploaded (cheap; no I/O)."""
    if is_uploadable(arguments):
        return True
    if isinstance(arguments, Mapping):
        return any(contains_uploadable(v) for v in arguments.values())
    if isinstance(arguments, (list, tuple)):
        return any(contains_uploadable(v) for v in arguments)
    return False


def _leaf(value: Any, inline_limit: int) -> _Leaf:
    source: UploadSource
    name: Optional[str] = None
    if isinstance(value, PurePath):
        path = read_file_checked(value)
        source, name = FileSource(path, path.stat().st_size), path.name
        content_type = guess_content_type(path)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        source, content_type = BytesSource(value), DEFAULT_CONTENT_TYPE
    elif isinstance(value, io.IOBase):
        source = FileObjectSource.open(value)
        raw_name = getattr(value, "name", None)
        if isinstance(raw_name, (str, os.PathLike)):
            name = os.path.basename(os.fspath(raw_name)) or None
        content_type = guess_content_type(name) if name else DEFAULT_CONTENT_TYPE
    else:
        data, content_type = image_bytes(value, "png")
        source, name = BytesSource(data), "image.png"
    leaf = _Leaf(source, content_type, name)
    if source.size <= inline_limit:
        leaf.inline = _read_small(value, source)
    return leaf


def _read_small(value: Any, source: UploadSource) -> bytes:
    # Only sources of at most ``inline_limit`` bytes get here; read them now, in this thread.
    if isinstance(source, FileSource):
        return source.path.read_bytes()
    if isinstance(source, FileObjectSource):
        position = value.tell()
        data: bytes = value.read()
        value.seek(position)
        return data
    assert isinstance(source, BytesSource)
    return source.read_all()


def _plan(arguments: Any, inline_limit: int) -> tuple[Any, list[_Leaf]]:
    """A copy of ``arguments`` with each uploadable leaf replaced by its ``_Leaf``.

    Every check (missing file, text-mode file, bad image) happens here, before any request.
    """
    leaves: dict[Any, _Leaf] = {}

    def walk(value: Any) -> Any:
        if is_uploadable(value):
            key: Any = ("path", os.fspath(value)) if isinstance(value, PurePath) else id(value)
            if key not in leaves:
                leaves[key] = _leaf(value, inline_limit)
            return leaves[key]
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return value

    return walk(arguments), list(leaves.values())


def _fill(value: Any) -> Any:
    if isinstance(value, _Leaf):
        assert value.url is not None
        return value.url
    if isinstance(value, dict):
        return {k: _fill(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v) for v in value]
    return value


def check_arguments(engine: Engine, arguments: Any) -> Optional[bytes]:
    """The JSON body of ``arguments``, checked now, before anything is sent; ``None`` when
    files in them must be uploaded first (auto-upload), everything else having been checked.

    A fal app's input is a JSON object: a list, a string or ``None`` is refused here.
    """
    if not isinstance(arguments, Mapping):
        raise TypeError(
            f"arguments must be a dict (a JSON object of the app's inputs), "
            f"got {type(arguments).__name__}"
        )
    if engine.auto_upload and contains_uploadable(arguments):
        validate_json(arguments, placeholder=is_uploadable)
        return None
    return validate_json(arguments)


def as_sent(arguments: Any, checked: Optional[bytes]) -> Any:
    """The JSON value the app will receive: ``checked`` decoded, or, while files in
    ``arguments`` are still to be uploaded, the arguments with each standing as a URL."""
    if checked is not None:
        return json.loads(checked)

    def walk(value: Any) -> Any:
        if is_uploadable(value):
            return UPLOAD_PLACEHOLDER_URL
        if isinstance(value, Mapping):
            return {str(k): walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return value

    return walk(arguments)


async def serialise(engine: Engine, arguments: Any, checked: Optional[bytes]) -> bytes:
    """The JSON body to send: ``checked`` itself, or ``arguments`` with files uploaded."""
    if checked is not None:
        return checked
    return validate_json(await upload_inputs(engine, arguments))


async def upload_inputs(
    engine: Engine,
    arguments: Any,
    *,
    inline_limit: int = DEFAULT_INLINE_LIMIT,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
) -> Any:
    """A copy of ``arguments`` whose files, bytes and images are replaced by URLs.

    Args:
        engine: the client's engine to upload with (its ``upload_options`` apply).
        arguments: the job's input; dicts, lists and tuples are walked (see the module doc).
        inline_limit: leaves of at most this many bytes become ``data:`` URLs instead of
            uploads (default 0: always upload).
        max_concurrency: uploads in flight at once.

    Returns:
        The new arguments; the input is not modified. Without anything to upload, an equal copy.

    Raises:
        FileNotFoundError, IsADirectoryError, PermissionError, TypeError, ValueError: a bad
            leaf (missing file, text-mode file, unserialisable image), before any request.
        FalClientError: an upload failed (the others are cancelled).
    """
    if not isinstance(inline_limit, int) or isinstance(inline_limit, bool) or inline_limit < 0:
        raise ValueError(f"inline_limit must be an int >= 0, got {inline_limit!r}")
    if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool):
        raise ValueError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
    if not contains_uploadable(arguments):
        return _fill(_plan(arguments, inline_limit)[0])
    # File checks, reads of small inputs and image encoding block: keep them off the loop.
    planned, leaves = await anyio.to_thread.run_sync(_plan, arguments, inline_limit)
    repositories = normalize_repositories(None, None)
    limiter = anyio.CapacityLimiter(max_concurrency)

    async def send(leaf: _Leaf) -> None:
        if leaf.inline is not None:
            leaf.url = encode(leaf.inline, leaf.content_type)
            return
        request = UploadRequest(
            leaf.source,
            leaf.content_type,
            leaf.file_name,
            repositories,
            None,
            engine.upload_options,
        )
        async with limiter:
            leaf.url = await upload(engine.transport, engine.cdn_tokens, request)

    await until_first_failure(partial(send, leaf) for leaf in leaves)
    return _fill(planned)
