"""Demo apps under ``fal-ai/`` that look like real fal apps, for demos and client tests."""

from __future__ import annotations

import hashlib
import io
import random
import time
from typing import Any, AsyncIterator, Callable, Dict, Optional, Sequence, Tuple

import anyio

from ._apps import AppContext
from ._errors import AppError

# fast-sdxl's named sizes, scaled down 4x: the emulator draws small images so a call takes
# milliseconds, and reports the size it really drew.
_IMAGE_SIZES: Dict[str, Tuple[int, int]] = {
    "square_hd": (256, 256),
    "square": (128, 128),
    "portrait_4_3": (192, 256),
    "portrait_16_9": (144, 256),
    "landscape_4_3": (256, 192),
    "landscape_16_9": (256, 144),
}
_MAX_SIDE = 512
# image-to-image keeps the input's size; inputs beyond 4096 x 4096 are refused as too large.
_MAX_INPUT_PIXELS = 4096 * 4096


def _image_size(raw: Any) -> Tuple[int, int]:
    if raw is None:
        return _IMAGE_SIZES["square_hd"]
    if isinstance(raw, str):
        if raw not in _IMAGE_SIZES:
            raise AppError(
                422,
                [
                    {
                        "loc": ["body", "image_size"],
                        "msg": f"Input should be one of {sorted(_IMAGE_SIZES)}",
                        "type": "enum",
                        "input": raw,
                    }
                ],
            )
        return _IMAGE_SIZES[raw]
    if (
        isinstance(raw, dict)
        and isinstance(raw.get("width"), int)
        and isinstance(raw.get("height"), int)
    ):
        return (max(1, min(_MAX_SIDE, raw["width"])), max(1, min(_MAX_SIDE, raw["height"])))
    raise AppError(
        422,
        [
            {
                "loc": ["body", "image_size"],
                "msg": "Invalid image size",
                "type": "value_error",
                "input": raw,
            }
        ],
    )


def _draw_png(prompt: str, width: int, height: int, seed: int) -> bytes:
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    background = (rng.randrange(40, 200), rng.randrange(40, 200), rng.randrange(40, 200))
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    # Wrap the prompt into lines that fit (the default bitmap font is about 6 px per char).
    per_line = max(1, (width - 8) // 6)
    words, lines, line = prompt.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if len(candidate) > per_line and line:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    for index, text in enumerate(lines[: max(1, (height - 8) // 12)]):
        draw.text((4, 4 + 12 * index), text[:per_line], fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _seed_for(prompt: str, seed: Optional[int]) -> int:
    if isinstance(seed, int):
        return seed
    return int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "big")


def _missing(field: str) -> AppError:
    return AppError(422, [{"loc": ["body", field], "msg": "Field required", "type": "missing"}])


def _required_prompt(arguments: Dict[str, Any]) -> str:
    prompt = arguments.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise _missing("prompt")
    return prompt


def _image_count(arguments: Dict[str, Any]) -> int:
    count = arguments.get("num_images", 1)
    if not isinstance(count, int) or not 1 <= count <= 8:
        raise AppError(
            422,
            [
                {
                    "loc": ["body", "num_images"],
                    "msg": "Input should be between 1 and 8",
                    "type": "value_error",
                    "input": count,
                }
            ],
        )
    return count


def _image_output(
    pngs: Sequence[bytes],
    width: int,
    height: int,
    seed: int,
    prompt: str,
    started: float,
    ctx: AppContext,
) -> Dict[str, Any]:
    images = []
    for index, png in enumerate(pngs):
        url = ctx.save_file(png, content_type="image/png", file_name=f"image-{index}.png")
        images.append({"url": url, "width": width, "height": height, "content_type": "image/png"})
    return {
        "images": images,
        "timings": {"inference": time.perf_counter() - started},
        "seed": seed,
        "has_nsfw_concepts": [False] * len(pngs),
        "prompt": prompt,
    }


def _text_to_image(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
    prompt = _required_prompt(arguments)
    width, height = _image_size(arguments.get("image_size"))
    count = _image_count(arguments)
    seed = _seed_for(prompt, arguments.get("seed"))
    started = time.perf_counter()
    pngs = [_draw_png(prompt, width, height, seed + index) for index in range(count)]
    return _image_output(pngs, width, height, seed, prompt, started, ctx)


def _file_error(field: str, kind: str, message: str, url: str) -> AppError:
    return AppError(
        422,
        [
            {
                "loc": ["body", field],
                "msg": message,
                "type": kind,
                "url": f"https://docs.fal.ai/errors#{kind}",
                # A data URL can be megabytes: fal's errors echo the input, this keeps it short.
                "input": url if len(url) <= 200 else url[:200] + "...",
            }
        ],
    )


def _load_input_image(arguments: Dict[str, Any], ctx: AppContext, field: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    url = arguments.get(field)
    if not isinstance(url, str) or not url:
        raise _missing(field)
    try:
        data = ctx.read_file(url)
    except ValueError as exc:
        raise _file_error(
            field, "file_download_error", f"Failed to download the file: {exc}", url
        ) from None
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > _MAX_INPUT_PIXELS:
            raise AppError(
                422,
                [
                    {
                        "loc": ["body", field],
                        "msg": f"Image too large: at most {_MAX_INPUT_PIXELS} pixels",
                        "type": "image_too_large",
                        "url": "https://docs.fal.ai/errors#image_too_large",
                        "ctx": {"max_pixels": _MAX_INPUT_PIXELS},
                    }
                ],
            )
        return image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise _file_error(
            field, "image_load_error", "Failed to load the image: not a supported image", url
        ) from None


def _strength(arguments: Dict[str, Any]) -> float:
    strength = arguments.get("strength", 0.95)
    if (
        isinstance(strength, bool)
        or not isinstance(strength, (int, float))
        or not 0.05 <= strength <= 1
    ):
        raise AppError(
            422,
            [
                {
                    "loc": ["body", "strength"],
                    "msg": "Input should be between 0.05 and 1",
                    "type": "value_error",
                    "input": strength,
                }
            ],
        )
    return float(strength)


def _image_to_image(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
    from PIL import Image

    source = _load_input_image(arguments, ctx, "image_url")
    prompt = _required_prompt(arguments)
    strength = _strength(arguments)
    count = _image_count(arguments)
    seed = _seed_for(prompt, arguments.get("seed"))
    width, height = source.size
    started = time.perf_counter()
    pngs = []
    for index in range(count):
        drawn = Image.open(io.BytesIO(_draw_png(prompt, width, height, seed + index)))
        # strength 1 ignores the input image, as in SDXL's img2img; lower keeps more of it.
        blended = Image.blend(source, drawn.convert("RGB"), strength)
        buffer = io.BytesIO()
        blended.save(buffer, format="PNG", compress_level=1)
        pngs.append(buffer.getvalue())
    return _image_output(pngs, width, height, seed, prompt, started, ctx)


def fast_sdxl(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
    """``fal-ai/fast-sdxl``: draws the prompt into PNGs stored on the emulator's CDN.

    The text-to-image endpoint takes ``prompt``, ``image_size``, ``num_images`` and ``seed``.
    ``fal-ai/fast-sdxl/image-to-image`` also takes ``image_url`` (a data URL or a file on the
    emulator's CDN) and ``strength``, and returns images of the input image's size. Every
    output echoes the ``seed`` used. Other endpoints answer 404.

    Inputs:
        prompt: the text to draw (required).
        image_size: ``square_hd`` (default), ``square``, ``portrait_4_3``, ``portrait_16_9``,
            ``landscape_4_3``, ``landscape_16_9``, or ``{"width": w, "height": h}``.
        num_images: how many, 1 to 8 (default 1).
        seed: an integer for reproducible pictures (default: from the prompt).
        image_url: ``/image-to-image`` only (required there): a data URL or a CDN file.
        strength: ``/image-to-image`` only: 0.05 to 1 (default 0.95).

    Example:
        {"prompt": "a lighthouse at dawn", "image_size": "square"}
    """
    if ctx.path is None:
        return _text_to_image(arguments, ctx)
    if ctx.path == "image-to-image":
        return _image_to_image(arguments, ctx)
    raise AppError(404, "Not Found")


async def text_streamer(
    arguments: Dict[str, Any], ctx: AppContext
) -> AsyncIterator[Dict[str, Any]]:
    """``fal-ai/text-streamer``: streams the words of ``text`` (or ``prompt``) one by one;
    ``delay`` seconds between words. The last event is the complete output.

    Inputs:
        text: the words to stream (or ``prompt``; default a greeting).
        delay: seconds between words (default 0).

    Example:
        {"text": "streamed one word at a time", "delay": 0.2}
    """
    text = arguments.get("text") or arguments.get("prompt") or "Hello from the fal emulator!"
    delay = float(arguments.get("delay", 0.0))
    words = str(text).split()
    output = ""
    for index, word in enumerate(words):
        if delay:
            await anyio.sleep(delay)
        output = f"{output} {word}".strip()
        yield {"token": word, "index": index, "output": output, "done": False}
    yield {"output": output, "tokens": len(words), "done": True}


_LLM_DEFAULT_MODEL = "google/gemini-flash-1.5"
_JOKES = (
    "Why did the GPU stay calm? It had plenty of cores to lean on.",
    "I told my model a joke about latency. It is still thinking about it.",
    "Why do diffusion models make bad poker players? They always denoise their hand.",
)


def _llm_text(prompt: str, model: str) -> str:
    digest = int.from_bytes(hashlib.sha256(f"{model}|{prompt}".encode()).digest()[:4], "big")
    if "joke" in prompt.lower():
        return _JOKES[digest % len(_JOKES)]
    return f"This is the fal emulator's {model} answering: {prompt}"


async def any_llm(arguments: Dict[str, Any], ctx: AppContext) -> AsyncIterator[Dict[str, Any]]:
    """``fal-ai/any-llm``: a canned, deterministic answer to ``prompt`` (a short joke when the
    prompt asks for one), streamed as fal's LLM apps stream: each event carries the ``output``
    so far with ``partial: true``, and the last one the whole output with ``partial: false``
    (which is also the result of a plain run or a queued request). ``model`` is any
    ``owner/name`` id (default ``google/gemini-flash-1.5``); ``system_prompt`` and ``reasoning``
    are accepted.

    Inputs:
        prompt: what to answer (required).
        model: any ``owner/name`` id (default ``google/gemini-flash-1.5``).
        system_prompt: accepted, not used.
        reasoning: true adds a ``reasoning`` line to the last event.

    Example:
        {"prompt": "tell me a joke", "model": "google/gemini-flash-1.5"}
    """
    prompt = _required_prompt(arguments)
    model = arguments.get("model", _LLM_DEFAULT_MODEL)
    if not isinstance(model, str) or "/" not in model.strip("/"):
        raise AppError(
            422,
            [
                {
                    "loc": ["body", "model"],
                    "msg": "Input should be a model id like 'google/gemini-flash-1.5'",
                    "type": "value_error",
                    "input": model,
                }
            ],
        )
    reasoning = bool(arguments.get("reasoning", False))
    text = _llm_text(prompt, model)
    output = ""
    for word in text.split():
        output = f"{output} {word}".strip()
        yield {"output": output, "partial": True, "error": None, "reasoning": None}
    yield {
        "output": text,
        "partial": False,
        "error": None,
        "reasoning": f"The prompt was {len(prompt)} characters long." if reasoning else None,
    }


async def echo(arguments: Dict[str, Any], ctx: AppContext) -> Any:
    """``fal-ai/echo``: returns its arguments.

    Inputs:
        any: every field comes back as it was sent.

    Example:
        {"hello": "world"}
    """
    return arguments


async def slow(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
    """``fal-ai/slow``: sleeps ``seconds`` (default 1) in ten steps, logging progress.

    Inputs:
        seconds: how long the job runs (default 1).

    Example:
        {"seconds": 5}
    """
    seconds = float(arguments.get("seconds", 1))
    steps = 10
    for step in range(1, steps + 1):
        await anyio.sleep(seconds / steps)
        ctx.log(f"step {step}/{steps}")
    return {"slept": seconds}


async def fail(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
    """``fal-ai/fail``: always fails with a 422 validation error, like a bad input would.

    Inputs:
        message: the error's ``msg`` (default "This app always fails").
        prompt: echoed as the error's ``input``.

    Example:
        {"message": "prompt is too long"}
    """
    ctx.log("validating input", level="ERROR")
    raise AppError(
        422,
        [
            {
                "loc": ["body", "prompt"],
                "msg": arguments.get("message", "This app always fails"),
                "type": "value_error",
                "url": "https://docs.fal.ai/errors#value_error",
                "input": arguments.get("prompt"),
            }
        ],
    )


async def realtime_echo(message: Any, ctx: AppContext) -> Dict[str, Any]:
    """``fal-ai/realtime-echo``: echoes each message, with a per-connection counter.

    Inputs:
        any: each realtime message comes back with a ``counter`` field added.
    """
    counter = ctx.state.get("counter", 0) + 1
    ctx.state["counter"] = counter
    reply = dict(message) if isinstance(message, dict) else {"message": message}
    reply["counter"] = counter
    return reply


# --- what the platform API says about them (/api/v1/models) -------------------------------------
# Written out rather than read from annotations: they say what the apps check (enums, ranges,
# defaults), which a TypedDict cannot. A test validates each docstring's Example against them.

_IMAGE: Dict[str, Any] = {
    "type": "object",
    "title": "Image",
    "properties": {
        "url": {"type": "string"},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "content_type": {"type": "string"},
    },
    "required": ["url", "width", "height", "content_type"],
}

_FAST_SDXL_SCHEMA = {
    "input": {
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "description": "The text to draw."},
            "image_size": {
                "anyOf": [
                    {"type": "string", "enum": sorted(_IMAGE_SIZES)},
                    {
                        "type": "object",
                        "properties": {
                            "width": {"type": "integer"},
                            "height": {"type": "integer"},
                        },
                        "required": ["width", "height"],
                    },
                ],
                "default": "square_hd",
            },
            "num_images": {"type": "integer", "minimum": 1, "maximum": 8, "default": 1},
            "seed": {"type": "integer", "description": "Default: derived from the prompt."},
        },
        "required": ["prompt"],
    },
    "output": {
        "type": "object",
        "properties": {
            "images": {"type": "array", "items": {"$ref": "#/$defs/Image"}},
            "timings": {"type": "object", "additionalProperties": {"type": "number"}},
            "seed": {"type": "integer"},
            "has_nsfw_concepts": {"type": "array", "items": {"type": "boolean"}},
            "prompt": {"type": "string"},
        },
        "required": ["images", "timings", "seed", "has_nsfw_concepts", "prompt"],
        "$defs": {"Image": _IMAGE},
    },
}

_ANY_LLM_SCHEMA = {
    "input": {
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "minLength": 1},
            "model": {"type": "string", "default": _LLM_DEFAULT_MODEL},
            "system_prompt": {"type": "string"},
            "reasoning": {"type": "boolean", "default": False},
        },
        "required": ["prompt"],
    },
    "output": {
        "type": "object",
        "properties": {
            "output": {"type": "string"},
            "partial": {"type": "boolean"},
            "error": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "reasoning": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["output", "partial", "error", "reasoning"],
    },
}

_TEXT_STREAMER_SCHEMA = {
    "input": {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "prompt": {"type": "string"},
            "delay": {"type": "number", "minimum": 0, "default": 0},
        },
    },
    "output": {
        "type": "object",
        "properties": {
            "output": {"type": "string"},
            "tokens": {"type": "integer"},
            "done": {"type": "boolean"},
        },
        "required": ["output", "tokens", "done"],
    },
}

_SLOW_SCHEMA = {
    "input": {
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0, "default": 1}},
    },
    "output": {
        "type": "object",
        "properties": {"slept": {"type": "number"}},
        "required": ["slept"],
    },
}

_FAIL_SCHEMA = {
    "input": {
        "type": "object",
        "properties": {"message": {"type": "string"}, "prompt": {"type": "string"}},
    },
}


def register_builtin_apps(add_app: Callable[..., Any]) -> None:
    """Register the ``fal-ai/...`` demo apps through ``add_app`` (``Emulator.add_app``)."""
    add_app(
        "fal-ai/fast-sdxl",
        fast_sdxl,
        workers=4,
        schema=_FAST_SDXL_SCHEMA,
        metadata={"display_name": "Fast SDXL", "category": "text-to-image"},
    )
    add_app(
        "fal-ai/text-streamer",
        text_streamer,
        workers=4,
        schema=_TEXT_STREAMER_SCHEMA,
        metadata={"display_name": "Text streamer", "category": "llm"},
    )
    add_app(
        "fal-ai/any-llm",
        any_llm,
        workers=4,
        schema=_ANY_LLM_SCHEMA,
        metadata={"display_name": "Any LLM", "category": "llm"},
    )
    add_app("fal-ai/echo", echo, workers=4, metadata={"display_name": "Echo"})
    add_app("fal-ai/slow", slow, workers=4, schema=_SLOW_SCHEMA, metadata={"display_name": "Slow"})
    add_app("fal-ai/fail", fail, workers=4, schema=_FAIL_SCHEMA, metadata={"display_name": "Fail"})
    add_app("fal-ai/realtime-echo", realtime_echo, workers=4, realtime=True)
