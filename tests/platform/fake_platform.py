"""A fake of fal's platform API (and of a queue that records submits) on httpx.MockTransport.

For the client side's unit tests: what the client asks, exactly, and how it reads answers
shaped the ways fal's docs allow. The emulator's own platform API is tested end to end in
tests/platform/test_platform_emulator.py.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import httpx

import fal_client

API = "https://api.fal.ai/v1"


def text_to_image_openapi(endpoint_id: str) -> dict[str, Any]:
    """An OpenAPI document shaped like fal's per-model ones."""
    return {
        "openapi": "3.0.4",
        "info": {"title": endpoint_id},
        "paths": {
            f"/{endpoint_id}": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/TextToImageInput"}
                            }
                        },
                    }
                }
            },
            f"/{endpoint_id}/requests/{{request_id}}": {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/TextToImageOutput"}
                                }
                            }
                        }
                    }
                }
            },
        },
        "components": {
            "schemas": {
                "TextToImageInput": {
                    "type": "object",
                    "required": ["prompt"],
                    "properties": {
                        "prompt": {"type": "string"},
                        "num_images": {"type": "integer", "minimum": 1, "maximum": 4},
                        "image_size": {
                            "anyOf": [
                                {"$ref": "#/components/schemas/ImageSize"},
                                {"type": "string", "enum": ["square", "landscape_4_3"]},
                            ]
                        },
                        "seed": {"type": "integer", "nullable": True},
                        "guidance_scale": {
                            "type": "number",
                            "minimum": 0,
                            "exclusiveMinimum": True,
                        },
                        "output_format": {"type": "string", "enum": ["jpeg", "png"]},
                        "image_url": {"type": "string"},
                    },
                },
                "ImageSize": {
                    "type": "object",
                    "properties": {
                        "width": {"type": "integer", "maximum": 4096},
                        "height": {"type": "integer", "maximum": 4096},
                    },
                },
                "TextToImageOutput": {
                    "type": "object",
                    "properties": {"images": {"type": "array", "items": {"type": "object"}}},
                },
            }
        },
    }


@dataclass
class FakePlatform:
    """Serves ``/v1/models...`` for the endpoints in ``docs``; everything else answers what
    ``queue`` says (default: a submit's 200)."""

    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    prices: dict[str, tuple[float, str]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    history_page_size: int = 2
    requests: list[httpx.Request] = field(default_factory=list)
    #: When set, every platform request answers this status.
    platform_status: Optional[int] = None
    queue: Optional[Callable[[httpx.Request], httpx.Response]] = None

    def platform_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if str(r.url).startswith(API)]

    def queue_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if not str(r.url).startswith(API)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url)
        if not url.startswith(API):
            if self.queue is not None:
                return self.queue(request)
            return httpx.Response(200, json={"request_id": f"r{len(self.queue_requests())}"})
        if self.platform_status is not None:
            return httpx.Response(self.platform_status, json={"detail": "platform down"})
        path = request.url.path.removeprefix("/v1/")
        params = request.url.params
        ids = [i for v in params.get_list("endpoint_id") for i in v.split(",")]
        if path == "models":
            expand = "openapi-3.0" in params.get_list("expand")
            models = [
                {
                    "endpoint_id": i,
                    "metadata": {"display_name": i.upper(), "category": "text-to-image"},
                    **({"openapi": self.docs[i]} if expand else {}),
                }
                for i in ids
                if i in self.docs
            ]
            return httpx.Response(200, json={"models": models, "next_cursor": None})
        if path == "models/pricing":
            prices = [
                {"endpoint_id": i, "unit_price": p, "unit": u, "currency": "USD"}
                for i, (p, u) in self.prices.items()
                if i in ids
            ]
            return httpx.Response(200, json={"prices": prices, "has_more": False})
        if path == "models/pricing/estimate":
            body = json.loads(request.content)
            total = 0.0
            for endpoint_id, quantity in body["endpoints"].items():
                price = self.prices[endpoint_id][0]
                total += price * quantity.get("call_quantity", quantity.get("unit_quantity", 0))
            kind = body["estimate_type"]
            return httpx.Response(
                200, json={"estimate_type": kind, "total_cost": total, "currency": "USD"}
            )
        if path == "models/requests/by-endpoint":
            page = int(base64.b64decode(params.get("cursor", "MA==")))
            size = self.history_page_size
            items = self.history[page * size : (page + 1) * size]
            more = (page + 1) * size < len(self.history)
            cursor = base64.b64encode(str(page + 1).encode()).decode() if more else None
            page_body = {"items": items, "next_cursor": cursor, "has_more": more}
            return httpx.Response(200, json=page_body)
        return httpx.Response(404, json={"detail": f"no route {path}"})


def async_client(fake: FakePlatform, **options: Any) -> fal_client.AsyncClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return fal_client.AsyncClient(
        key="secret-key", http_client=http, retry=fal_client.RetryPolicy(max_attempts=1), **options
    )


def sync_client(fake: FakePlatform, **options: Any) -> fal_client.SyncClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return fal_client.SyncClient(
        key="secret-key", http_client=http, retry=fal_client.RetryPolicy(max_attempts=1), **options
    )


def instant_queue(request: httpx.Request) -> httpx.Response:
    """A queue whose jobs finish at once: submit, a completed status (no stream), a result."""
    path = request.url.path
    if request.method == "POST":
        body = json.loads(request.content or b"{}")
        return httpx.Response(200, json={"request_id": f"req-{body.get('n', 0)}"})
    if path.endswith("/status/stream"):
        return httpx.Response(405)
    request_id = path.split("/requests/")[1].split("/")[0]
    if path.endswith("/status"):
        return httpx.Response(200, json={"status": "COMPLETED", "request_id": request_id})
    return httpx.Response(200, json={"echo": request_id}, headers={"x-fal-request-id": request_id})
