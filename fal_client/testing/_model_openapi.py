"""The OpenAPI 3.0 document of one model endpoint, shaped like fal's per-model documents (what
``GET /api/v1/models?expand=openapi-3.0`` puts in ``openapi``). No I/O.

Its ``paths`` are the endpoint's queue URLs: ``POST /{endpoint_id}`` takes the input
(``#/components/schemas/<Name>Input``) and answers a ``QueueStatus``;
``GET /{endpoint_id}/requests/{request_id}`` answers the output (``<Name>Output``). ``<Name>`` is
the endpoint id without its owner, in CamelCase (``fal-ai/flux/dev`` -> ``FluxDev``).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping

from ._app_ids import NAMESPACES
from ._app_schema import AppSchema, Schema
from ._openapi import JSON, ref

#: The version of the documents (fal's are OpenAPI 3.0).
OPENAPI_VERSION = "3.0.3"

_QUEUE_STATUS: Schema = {
    "type": "object",
    "title": "QueueStatus",
    "properties": {
        "status": {"type": "string", "enum": ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]},
        "request_id": {"type": "string", "description": "The request id."},
        "response_url": {"type": "string", "description": "The URL of the result."},
        "status_url": {"type": "string", "description": "The URL of the status."},
        "cancel_url": {"type": "string", "description": "The URL to cancel the request."},
        "queue_position": {"type": "integer", "description": "Requests ahead in the queue."},
    },
    "required": ["status", "request_id"],
}


def schema_name(endpoint_id: str) -> str:
    """The ``<Name>`` of an endpoint's ``<Name>Input``/``<Name>Output`` schemas."""
    parts = endpoint_id.split("/")
    parts = parts[2:] if parts[0] in NAMESPACES else parts[1:]
    words = [word for part in parts for word in re.split(r"[^A-Za-z0-9]+", part) if word]
    return "".join(word[:1].upper() + word[1:] for word in words) or "Model"


def model_document(
    endpoint_id: str, schema: AppSchema, metadata: Mapping[str, Any], queue_url: str
) -> Dict[str, Any]:
    """The OpenAPI 3.0 document of ``endpoint_id``.

    Args:
        endpoint_id: the endpoint, e.g. ``"fal-ai/flux/dev"``.
        schema: its input and output schemas.
        metadata: its model metadata (the title and description come from it).
        queue_url: the queue service's base URL (the document's server).
    """
    components: Dict[str, Schema] = dict(schema.definitions)
    base = schema_name(endpoint_id)

    def add(preferred: str, body: Schema) -> str:
        name, number = preferred, 1
        while name in components:  # a nested schema already has the name
            number += 1
            name = f"{preferred}{number}"
        components[name] = body
        return name

    status_name = add("QueueStatus", _QUEUE_STATUS)
    input_name = add(f"{base}Input", schema.input)
    output_name = add(f"{base}Output", schema.output)
    path = f"/{endpoint_id}"
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": str(metadata.get("display_name") or endpoint_id),
            "description": str(metadata.get("description") or ""),
            "version": "1.0.0",
            "x-fal-metadata": {
                "endpointId": endpoint_id,
                "category": metadata.get("category"),
            },
        },
        "servers": [{"url": queue_url}],
        "security": [{"apiKeyAuth": []}],
        "paths": {
            path: {
                "post": {
                    "summary": f"Submit a request to {endpoint_id}",
                    "requestBody": {
                        "required": True,
                        "content": {JSON: {"schema": ref(input_name)}},
                    },
                    "responses": {
                        "200": {
                            "description": "The request is queued.",
                            "content": {JSON: {"schema": ref(status_name)}},
                        }
                    },
                }
            },
            f"{path}/requests/{{request_id}}": {
                "get": {
                    "summary": f"The result of a request to {endpoint_id}",
                    "parameters": [
                        {
                            "name": "request_id",
                            "in": "path",
                            "required": True,
                            "description": "The request id.",
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The result of the request.",
                            "content": {JSON: {"schema": ref(output_name)}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "apiKeyAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": 'The key, as "Key <FAL_KEY>".',
                }
            },
            "schemas": components,
        },
    }
