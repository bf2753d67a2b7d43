"""fal-shaped OpenAPI documents for the schema, type and example tests.

Written by hand after the shape of fal's queue documents
(``https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=...``): OpenAPI 3.0, the input
behind ``POST /{endpoint_id}``, the output behind ``GET /{endpoint_id}/requests/{request_id}``,
the queue's own status and cancel paths beside them, every model in ``components.schemas``.
Each test gets a fresh copy (the functions), so none can change another's document.
"""

from __future__ import annotations

import copy
from typing import Any

_QUEUE_STATUS = {
    "type": "object",
    "title": "QueueStatus",
    "properties": {
        "status": {"type": "string", "enum": ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]},
        "request_id": {"type": "string", "description": "The request id."},
        "response_url": {"type": "string", "description": "The response url."},
        "queue_position": {"type": "integer", "description": "The queue position."},
    },
    "required": ["status", "request_id"],
}

_FLUX_DEV: dict[str, Any] = {
    "openapi": "3.0.4",
    "info": {
        "title": "Queue OpenAPI for fal-ai/flux/dev",
        "version": "1.0.0",
        "description": "The OpenAPI schema for the fal-ai/flux/dev queue.",
        "x-fal-metadata": {"endpointId": "fal-ai/flux/dev", "category": "text-to-image"},
    },
    "components": {
        "securitySchemes": {
            "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "Authorization"}
        },
        "schemas": {
            "QueueStatus": _QUEUE_STATUS,
            "FluxDevInput": {
                "title": "BaseInput",
                "type": "object",
                "x-fal-order-properties": ["prompt", "image_size", "num_inference_steps"],
                "properties": {
                    "prompt": {
                        "title": "Prompt",
                        "type": "string",
                        "description": "The prompt to generate an image from.",
                        "examples": ["Extreme close-up of a single tiger eye, direct frontal view"],
                    },
                    "image_size": {
                        "title": "Image Size",
                        "description": "The size of the generated image.",
                        "default": "landscape_4_3",
                        "anyOf": [
                            {"$ref": "#/components/schemas/ImageSize"},
                            {
                                "type": "string",
                                "enum": [
                                    "square_hd",
                                    "square",
                                    "portrait_4_3",
                                    "portrait_16_9",
                                    "landscape_4_3",
                                    "landscape_16_9",
                                ],
                            },
                        ],
                    },
                    "num_inference_steps": {
                        "title": "Num Inference Steps",
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 50,
                        "default": 28,
                        "description": "The number of inference steps to perform.",
                    },
                    "seed": {
                        "title": "Seed",
                        "type": "integer",
                        "nullable": True,
                        "description": (
                            "The same seed and the same prompt given to the same version of "
                            "the model will output the same image every time."
                        ),
                    },
                    "guidance_scale": {
                        "title": "Guidance scale (CFG)",
                        "type": "number",
                        "minimum": 1,
                        "maximum": 20,
                        "default": 3.5,
                    },
                    "num_images": {
                        "title": "Num Images",
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 4,
                        "description": "The number of images to generate.",
                    },
                    "enable_safety_checker": {
                        "title": "Enable Safety Checker",
                        "type": "boolean",
                        "default": True,
                    },
                    "output_format": {
                        "title": "Output Format",
                        "type": "string",
                        "enum": ["jpeg", "png"],
                        "default": "jpeg",
                    },
                    "acceleration": {
                        "title": "Acceleration",
                        "type": "string",
                        "enum": ["none", "regular", "high"],
                        "nullable": True,
                    },
                    "loras": {
                        "title": "Loras",
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/LoraWeight"},
                        "default": [],
                        "description": "The LoRAs to use for the image generation.",
                    },
                },
                "required": ["prompt"],
            },
            "ImageSize": {
                "title": "ImageSize",
                "type": "object",
                "properties": {
                    # OpenAPI 3.0's boolean exclusiveMinimum: width > 0.
                    "width": {
                        "type": "integer",
                        "minimum": 0,
                        "exclusiveMinimum": True,
                        "maximum": 14142,
                        "default": 512,
                        "description": "The width of the generated image.",
                    },
                    "height": {
                        "type": "integer",
                        "minimum": 0,
                        "exclusiveMinimum": True,
                        "maximum": 14142,
                        "default": 512,
                        "description": "The height of the generated image.",
                    },
                },
            },
            "LoraWeight": {
                "title": "LoraWeight",
                "type": "object",
                "properties": {
                    "path": {
                        "type": "string",
                        "description": "URL or the path to the LoRA weights.",
                        "examples": ["https://example.com/lora.safetensors"],
                    },
                    "scale": {
                        "type": "number",
                        "minimum": 0,
                        "maximum": 4,
                        "default": 1,
                        "description": "The scale of the LoRA weight.",
                    },
                },
                "required": ["path"],
            },
            "FluxDevOutput": {
                "title": "Output",
                "type": "object",
                "properties": {
                    "images": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Image"},
                        "description": "The generated image files info.",
                    },
                    "timings": {"type": "object", "additionalProperties": {"type": "number"}},
                    "seed": {"type": "integer", "description": "Seed of the generated Image."},
                    "has_nsfw_concepts": {
                        "type": "array",
                        "items": {"type": "boolean"},
                        "description": "Whether the generated images contain NSFW concepts.",
                    },
                    "prompt": {"type": "string"},
                },
                "required": ["images", "timings", "seed", "has_nsfw_concepts", "prompt"],
            },
            "Image": {
                "title": "Image",
                "type": "object",
                "description": "Represents an image file.",
                "properties": {
                    "url": {
                        "type": "string",
                        "description": "The URL where the file can be downloaded from.",
                    },
                    "content_type": {"type": "string", "nullable": True},
                    "file_name": {"type": "string", "nullable": True},
                    "file_size": {"type": "integer", "nullable": True},
                    "width": {"type": "integer", "nullable": True},
                    "height": {"type": "integer", "nullable": True},
                },
                "required": ["url"],
            },
            # Not reachable from this endpoint: must not be returned or rendered.
            "Unused": {"type": "object", "properties": {"x": {"type": "string"}}},
        },
    },
    "paths": {
        "/fal-ai/flux/dev/requests/{request_id}/status": {
            "get": {
                "parameters": [{"name": "request_id", "in": "path", "required": True}],
                "responses": {
                    "200": {
                        "description": "The request status.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/QueueStatus"}
                            }
                        },
                    }
                },
            }
        },
        "/fal-ai/flux/dev/requests/{request_id}/cancel": {
            "put": {"responses": {"200": {"description": "Cancelled."}}}
        },
        "/fal-ai/flux/dev": {
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/FluxDevInput"}
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The request status.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/QueueStatus"}
                            }
                        },
                    }
                },
            }
        },
        "/fal-ai/flux/dev/requests/{request_id}": {
            "get": {
                "parameters": [{"name": "request_id", "in": "path", "required": True}],
                "responses": {
                    "200": {
                        "description": "Result of the request.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/FluxDevOutput"}
                            }
                        },
                    }
                },
            }
        },
    },
}

# The awkward corners: keyword and non-identifier keys, a recursive component, descriptions
# that could break a docstring, unions, allOf, a nullable $ref, OpenAPI 3.1's null type.
_AWKWARD: dict[str, Any] = {
    "openapi": "3.0.4",
    "info": {"title": "Queue OpenAPI for acme/awkward", "version": "1.0.0"},
    "components": {
        "schemas": {
            "AwkwardInput": {
                "type": "object",
                "description": (
                    'Tricky text: a """triple""" quote, a back\\slash, and a "last quote"'
                ),
                "properties": {
                    "from": {"type": "string", "description": "A keyword key."},
                    "image-url": {"type": "string", "description": "Not an identifier."},
                    "__private": {"type": "integer", "description": "Mangled in a class body."},
                    "tree": {"$ref": "#/components/schemas/Node"},
                    "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
                    "style": {
                        "description": "A nullable reference.",
                        "allOf": [{"$ref": "#/components/schemas/Style"}],
                        "nullable": True,
                    },
                    "value": {
                        "description": "A union.",
                        "anyOf": [
                            {"type": "string"},
                            {"type": "integer"},
                            {"type": "array", "items": {"type": "number"}},
                        ],
                    },
                    "strength": {
                        "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}],
                        "description": "OpenAPI 3.1's spelling of nullable.",
                    },
                    "crop": {
                        "description": "An inline object inside a union.",
                        "anyOf": [
                            {
                                "type": "object",
                                "properties": {
                                    "x": {"type": "integer"},
                                    "y": {"type": "integer"},
                                },
                                "required": ["x", "y"],
                            },
                            {"type": "null"},
                        ],
                    },
                    "meta": {"type": "object", "description": "Free-form\nmetadata."},
                    "merged": {
                        "allOf": [
                            {"$ref": "#/components/schemas/Style"},
                            {
                                "type": "object",
                                "properties": {"weight": {"type": "number"}},
                                "required": ["weight"],
                            },
                        ]
                    },
                    "version": {"const": 2},
                    "secret": {"$ref": "#/components/schemas/Secret"},
                },
                "required": ["from", "image-url", "tree", "version"],
            },
            "Node": {
                "type": "object",
                # Everything that could end a docstring early or not survive in source.
                "description": (
                    'A tree node.\r\n"""Quoted""" and \\backslash\\, a tab:\tand a NUL:\x00 "'
                ),
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                    "parent": {"$ref": "#/components/schemas/Node"},
                },
                "required": ["name"],
            },
            # Its only key would be mangled by a class body ("_Secret__token").
            "Secret": {"type": "object", "properties": {"__token": {"type": "string"}}},
            "Style": {
                "type": "object",
                "properties": {
                    "color": {"type": "string", "enum": ["red", "green", None], "nullable": True}
                },
                "required": ["color"],
            },
            "AwkwardOutput": {
                "type": "object",
                "properties": {
                    "class": {"type": "string"},
                    "ok": {"type": "boolean"},
                },
                "required": ["class", "ok"],
            },
        }
    },
    "paths": {
        "/acme/awkward": {
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/AwkwardInput"}
                        }
                    }
                },
                "responses": {"200": {"description": "Queued."}},
            }
        },
        "/acme/awkward/requests/{request_id}": {
            "get": {
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/AwkwardOutput"}
                            }
                        }
                    }
                }
            }
        },
    },
}


def flux_dev() -> dict[str, Any]:
    """A text-to-image endpoint's queue document, as fal serves ``fal-ai/flux/dev``'s."""
    return copy.deepcopy(_FLUX_DEV)


def awkward() -> dict[str, Any]:
    """An endpoint ``acme/awkward`` whose schemas use every corner the generator handles."""
    return copy.deepcopy(_AWKWARD)


def app_document(root_path: str = "/", sub_path: str = "/image-to-image") -> dict[str, Any]:
    """An app's own document: paths relative to the app, the output answered by the POST."""

    def operation(name: str) -> dict[str, Any]:
        return {
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{name}In"}}
                    }
                },
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{name}Out"}
                            }
                        }
                    }
                },
            }
        }

    def model(field: str) -> dict[str, Any]:
        return {"type": "object", "properties": {field: {"type": "string"}}, "required": [field]}

    return {
        "openapi": "3.0.4",
        "info": {"title": "an app", "version": "1"},
        "components": {
            "schemas": {
                "RootIn": model("prompt"),
                "RootOut": model("url"),
                "SubIn": model("image_url"),
                "SubOut": model("mask_url"),
            }
        },
        "paths": {root_path: operation("Root"), sub_path: operation("Sub")},
    }
