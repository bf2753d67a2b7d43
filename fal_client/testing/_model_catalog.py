"""The emulator's apps as fal model endpoints (``GET /api/v1/models``): their metadata, which
of them a query finds, and the items it answers. No I/O.

Every registered app that is not realtime is a model endpoint, under its registered name. A
sub-path the app serves (``fal-ai/fast-sdxl/image-to-image`` served by ``fal-ai/fast-sdxl``) is
not an endpoint of its own here: register it as an app to describe and price it.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from ._apps import REALTIME, AppSpec
from ._model_openapi import model_document

#: The statuses a model can have.
STATUSES = ("active", "deprecated")

#: The category of an app registered without one.
DEFAULT_CATEGORY = "other"

_STRING_FIELDS = ("display_name", "category", "description")


def check_metadata(metadata: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """A copy of the ``metadata=`` an app is registered with, checked: ``display_name``,
    ``category`` and ``description`` are strings, ``status`` is ``"active"`` or
    ``"deprecated"``, ``tags`` a list of strings; other keys (fal's ``thumbnail_url``,
    ``highlighted``, ...) are any JSON values and are served as given.

    Raises:
        TypeError: for a value of the wrong type, or one that is not JSON.
        ValueError: for an unknown status.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata= must be a dict, got {type(metadata).__name__}")
    for name in _STRING_FIELDS:
        if name in metadata and not isinstance(metadata[name], str):
            raise TypeError(f"metadata[{name!r}] must be a string, got {metadata[name]!r}")
    if "status" in metadata and metadata["status"] not in STATUSES:
        raise ValueError(
            f"metadata['status'] must be one of {STATUSES}, got {metadata['status']!r}"
        )
    tags = metadata.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise TypeError(f"metadata['tags'] must be a list of strings, got {tags!r}")
    try:
        copied: Dict[str, Any] = json.loads(json.dumps(dict(metadata)))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata= must be JSON: {exc}") from None
    return copied


def is_model(spec: AppSpec) -> bool:
    """Whether an app is listed as a model endpoint (realtime apps are not)."""
    return spec.kind != REALTIME


def metadata_of(spec: AppSpec, base_url: str) -> Dict[str, Any]:
    """An app's model metadata: what it was registered with over these defaults: its name as
    ``display_name``, ``category`` ``"other"``, its docstring's summary as ``description``,
    ``status`` ``"active"``, no ``tags``, and its ``/run`` URL as ``model_url``."""
    return {
        "display_name": spec.name,
        "category": DEFAULT_CATEGORY,
        "description": spec.doc.description,
        "status": "active",
        "tags": [],
        "model_url": f"{base_url}/run/{spec.name}",
        **spec.metadata,
    }


def _matches(
    metadata: Mapping[str, Any],
    endpoint_id: str,
    q: Optional[str],
    category: Optional[str],
    status: Optional[str],
) -> bool:
    if category is not None and str(metadata.get("category", "")).lower() != category.lower():
        return False
    if status is not None and metadata.get("status") != status:
        return False
    if q is not None:
        # Free text: every word somewhere in the id, name, description, category or tags.
        haystack = " ".join(
            [
                endpoint_id,
                *(str(metadata.get(name, "")) for name in _STRING_FIELDS),
                *(str(tag) for tag in metadata.get("tags", [])),
            ]
        ).lower()
        return all(word in haystack for word in q.lower().split())
    return True


def find_models(
    specs: Iterable[AppSpec],
    base_url: str,
    *,
    endpoint_ids: Sequence[str] = (),
    q: Optional[str] = None,
    category: Optional[str] = None,
    status: Optional[str] = None,
) -> List[AppSpec]:
    """The model endpoints a query finds: those named by ``endpoint_ids`` (in that order; an
    id no app is registered under is simply absent) or all of them (by id), narrowed by the
    search filters."""
    models = {spec.name: spec for spec in specs if is_model(spec)}
    if endpoint_ids:
        chosen = [models[name] for name in endpoint_ids if name in models]
    else:
        chosen = [models[name] for name in sorted(models)]
    return [
        spec
        for spec in chosen
        if _matches(metadata_of(spec, base_url), spec.name, q, category, status)
    ]


def model_item(spec: AppSpec, base_url: str, *, openapi: bool) -> Dict[str, Any]:
    """One item of ``models``, with its OpenAPI document if ``openapi``."""
    metadata = metadata_of(spec, base_url)
    item: Dict[str, Any] = {"endpoint_id": spec.name, "metadata": metadata}
    if openapi:
        item["openapi"] = model_document(spec.name, spec.schema, metadata, f"{base_url}/queue")
    return item
