"""The real-world usage census: one observation per usage pattern, for either client.

Each case does what public code that uses the official ``fal-client`` does (see the census
table in ``docs/migration.md``) and returns a JSON-able observation. The same function runs
against both packages:

* the OFFICIAL client, in its throwaway venv, as this file's ``__main__`` (through
  ``benchmarks/_official_shim.py``): every case once, in one process, printing ONE JSON object
  ``{"official_version": ..., "cases": {name: {"sync": obs, "async": obs}}}``;
* THIS package, in-process, from ``test_census.py`` (sync, asyncio and trio).

A case receives the ``fal_client`` module under test and a context dict (the emulators' base
URLs, the key, a scratch directory). It never sleeps and never imports anything but the standard
library, ``httpx`` (a dependency of both clients) and ``PIL`` (installed next to both).

The apps the cases call (``census/...``) are registered by ``test_census.py`` on two emulators,
which answer ``{"server": "emu1"}`` and ``{"server": "emu2"}`` so a case can tell which one
it reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import inspect
import io
import json
import os
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional
from unittest import mock

import httpx

# --- the registry --------------------------------------------------------------------------------

SYNC: dict[str, Callable[..., Any]] = {}
ASYNC: dict[str, Callable[..., Any]] = {}
# Cases that start event loops of their own: the official run does them last.
OWN_LOOPS: dict[str, Callable[..., Any]] = {}
POLL = 0.02  # seconds between the official client's status polls (its default is 0.1)


def sync_case(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        SYNC[name] = fn
        return fn

    return register


def async_case(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        ASYNC[name] = fn
        return fn

    return register


def own_loops_case(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        OWN_LOOPS[name] = fn
        return fn

    return register


# --- shared helpers ------------------------------------------------------------------------------


def opened(ctx: dict[str, Any], client: Any) -> Any:
    """Note a client the case creates, so the runner closes it afterwards.

    The official clients have no ``close``/``aclose`` (so real code never closes them); this
    package's do, and a client left open would only show up as a ``ResourceWarning`` in some
    later test. Not closing is a pattern of its own (``unclosed_async_client``).
    """
    ctx.setdefault("_opened", []).append(client)
    return client


def close_opened_sync(ctx: dict[str, Any]) -> None:
    for client in ctx.pop("_opened", []):
        close = getattr(client, "close", None)
        if callable(close):
            close()


async def close_opened(ctx: dict[str, Any]) -> None:
    for client in ctx.pop("_opened", []):
        aclose = getattr(client, "aclose", None)
        close = getattr(client, "close", None)
        if callable(aclose):
            await aclose()
        elif callable(close):
            close()


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def http_error_view(fc: Any, exc: BaseException) -> dict[str, Any]:
    """What code reads on a ``FalClientHTTPError``: text, message, status, headers, response."""
    response = getattr(exc, "response", None)
    body: Any = None
    if response is not None:
        try:
            body = response.json()
        except Exception as err:  # a non-JSON body is an observation too
            body = f"<not json: {type(err).__name__}>"
    headers = getattr(exc, "response_headers", None)
    return {
        "is_http_error": isinstance(exc, fc.FalClientHTTPError),
        "is_client_error": isinstance(exc, fc.FalClientError),
        "str": str(exc),
        "message": getattr(exc, "message", "<missing>"),
        "status_code": getattr(exc, "status_code", None),
        "status_code_type": type(getattr(exc, "status_code", None)).__name__,
        "response_headers_type": type(headers).__name__,
        "response_headers_is_dict": isinstance(headers, dict),
        "has_request_id_header": isinstance(headers, dict) and "x-fal-request-id" in headers,
        "response_status_code": getattr(response, "status_code", None),
        "response_json": body,
        "response_text_type": type(getattr(response, "text", None)).__name__,
        "error_type": getattr(exc, "error_type", "<missing>"),
    }


def status_view(fc: Any, status: Any) -> dict[str, Any]:
    logs = getattr(status, "logs", None)
    return {
        "type": type(status).__name__,
        "is_status": isinstance(status, fc.Status),
        "is_queued": isinstance(status, fc.Queued),
        "is_in_progress": isinstance(status, fc.InProgress),
        "is_completed": isinstance(status, fc.Completed),
        "logs": None if logs is None else [entry["message"] for entry in logs],
        "log_keys": None if not logs else sorted(logs[0]),
        "str_has_type_name": type(status).__name__ in str(status),
    }


@contextlib.contextmanager
def environ(**changes: Optional[str]) -> Iterator[None]:
    """Set (or, with None, remove) environment variables for the block."""
    saved = {name: os.environ.get(name) for name in changes}
    try:
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def secondary_env(ctx: dict[str, Any]) -> dict[str, Optional[str]]:
    """Every FAL_* variable either client reads, pointed at the second emulator."""
    second = ctx["secondary"]
    run_host = second["FAL_RUN_URL"].split("://", 1)[1]
    queue_host = second["FAL_QUEUE_URL"].split("://", 1)[1]
    return {
        "FAL_RUN_URL": second["FAL_RUN_URL"],
        "FAL_QUEUE_URL": second["FAL_QUEUE_URL"],
        "FAL_REST_URL": second["FAL_REST_URL"],
        "FAL_CDN_URL": second["FAL_CDN_URL"],
        # The official client's own (host-only, read at import) names.
        "FAL_RUN_HOST": run_host,
        "FAL_QUEUE_RUN_HOST": queue_host,
    }


def which_server(url: str, ctx: dict[str, Any]) -> str:
    if url.startswith(ctx["secondary"]["root"]):
        return "emu2"
    if url.startswith(ctx["primary"]["root"]):
        return "emu1"
    return f"elsewhere: {url}"


def fetch_bytes(url: str) -> bytes:
    response = httpx.get(url, timeout=10.0, trust_env=False)
    response.raise_for_status()
    return response.content


async def fetch_bytes_async(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
        response = await http.get(url)
    response.raise_for_status()
    return response.content


def sample_image() -> Any:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (24, 16), (10, 120, 200))
    ImageDraw.Draw(img).rectangle((4, 4, 12, 10), fill=(250, 200, 0))
    return img


def pixels_sha(data_url: str) -> str:
    import base64

    from PIL import Image

    raw = base64.b64decode(data_url.split(",", 1)[1])
    return hashlib.sha256(Image.open(io.BytesIO(raw)).convert("RGB").tobytes()).hexdigest()


def public_names(module: types.ModuleType) -> list[str]:
    """The public names a module defines or re-exports from its own package.

    Left out: modules, the ``typing`` toolbox, and classes or functions imported from outside the
    package (``dataclass``, ``Path``, ``urlencode``...). Kept: everything defined in the package,
    UPPER_CASE constants and the package's own type aliases (``AnyJSON``, ``Priority``...).
    """
    package = module.__name__.split(".", 1)[0]
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if getattr(typing, name, None) is value or name in ("annotations", "TYPE_CHECKING"):
            continue
        if inspect.isclass(value) or inspect.isfunction(value):
            if not str(getattr(value, "__module__", "")).startswith(package):
                continue
        elif not (name.isupper() or typing.get_origin(value) is not None):
            continue  # lower-case module state such as ``logger``
        names.append(name)
    return sorted(names)


# --- module paths and names ----------------------------------------------------------------------

CORE_CLIENT_NAMES = (
    "SyncClient",
    "AsyncClient",
    "SyncRequestHandle",
    "AsyncRequestHandle",
    "Status",
    "Queued",
    "InProgress",
    "Completed",
    "FalClientError",
    "FalClientHTTPError",
    "FalClientTimeoutError",
    "AppId",
    "RUN_URL_FORMAT",
    "QUEUE_URL_FORMAT",
    "REALTIME_URL_FORMAT",
    "REST_URL",
    "CDN_URL",
)


@sync_case("client_module")
def client_module(fc: Any, ctx: dict[str, Any]) -> Any:
    """``import fal_client.client`` and ``from fal_client.client import X`` for each name."""
    import fal_client.client as module

    importable = {}
    for name in CORE_CLIENT_NAMES:
        scope: dict[str, Any] = {}
        try:
            exec(f"from fal_client.client import {name}", scope)
            importable[name] = True
        except ImportError:
            importable[name] = False
    same_object = {
        name: getattr(module, name, None) is getattr(fc, name)
        for name in CORE_CLIENT_NAMES
        if hasattr(fc, name)
    }
    return {
        "module_name": module.__name__,
        "attribute_is_module": getattr(fc, "client", None) is module,
        "importable": importable,
        "same_object_as_top_level": same_object,
        "url_constants_are_str": {
            name: isinstance(getattr(module, name, None), str)
            for name in CORE_CLIENT_NAMES
            if name.endswith(("_FORMAT", "_URL"))
        },
        "public_names": public_names(module),
    }


@sync_case("client_attribute_without_import")
def client_attribute_without_import(fc: Any, ctx: dict[str, Any]) -> Any:
    """``import fal_client`` then ``fal_client.client.X``, in a fresh interpreter."""
    code = (
        "import json, fal_client; m = fal_client.client; "
        "print(json.dumps([m.__name__, m.SyncClient is fal_client.SyncClient]))"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("FAL_")},
    )
    if proc.returncode != 0:
        return {"ok": False, "error": proc.stderr.strip().splitlines()[-1:]}
    name, same = json.loads(proc.stdout)
    return {"ok": True, "module": name, "same_sync_client": same}


@sync_case("auth_module")
def auth_module(fc: Any, ctx: dict[str, Any]) -> Any:
    """``from fal_client.auth import MissingCredentialsError, fetch_credentials, ...``."""
    from fal_client.auth import (
        FAL_QUEUE_RUN_HOST,
        FAL_RUN_HOST,
        AuthCredentials,
        MissingCredentialsError,
        fetch_credentials,
    )

    creds = AuthCredentials("Key", "census-token")
    with environ(**_no_credentials(ctx)):
        try:
            opened(ctx, fc.SyncClient()).run("census/echo", {})
            raised: Any = "no error"
        except Exception as exc:
            raised = isinstance(exc, MissingCredentialsError)
    return {
        "raised_is_auth_class": raised,
        "hosts_are_str": [isinstance(FAL_RUN_HOST, str), isinstance(FAL_QUEUE_RUN_HOST, str)],
        "missing_is_exception": issubclass(MissingCredentialsError, Exception),
        "fetch_credentials_is_env_key": fetch_credentials() == os.environ["FAL_KEY"],
        "header_value": creds.header_value,
        "as_headers": creds.as_headers(),
        "fields": [creds.scheme, creds.token],
    }


@sync_case("top_level_names")
def top_level_names(fc: Any, ctx: dict[str, Any]) -> Any:
    """Every name of the official ``__all__`` plus the module attributes code reaches for."""
    extra = ["sync_client", "async_client", "client", "auth", "ws_connect", "ws_connect_async"]
    extra += ["upload", "upload_async", "upload_file", "upload_file_async", "upload_image"]
    extra += ["upload_image_async", "__version__", "version_tuple"]
    names = sorted(set(getattr(fc, "__all__", [])) | set(extra))
    return {"names": [name for name in names if hasattr(fc, name)]}


@sync_case("appid_from_endpoint_id")
def appid_from_endpoint_id(fc: Any, ctx: dict[str, Any]) -> Any:
    """``AppId.from_endpoint_id(...)`` and its owner/alias/path/namespace (queue URLs by hand)."""
    from fal_client.client import AppId

    out = {}
    for endpoint in ("fal-ai/flux/dev", "fal-ai/fast-sdxl", "workflows/fal-ai/sdxl-sticker"):
        app = AppId.from_endpoint_id(endpoint)
        out[endpoint] = [app.owner, app.alias, app.path, app.namespace]
    legacy = AppId.from_endpoint_id("123-census")
    out["123-census"] = [legacy.owner, legacy.alias, legacy.path, legacy.namespace]
    try:
        AppId.from_endpoint_id("nonsense")
        out["invalid"] = "accepted"
    except ValueError as exc:
        out["invalid"] = f"ValueError: {exc}"
    return out


# --- default clients -----------------------------------------------------------------------------


@sync_case("default_clients")
def default_clients_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``fal_client.sync_client.run(...)``, ``.submit(...).get()``, ``.status(...)``."""
    client = fc.sync_client
    handle = client.submit("census/echo", {"via": "sync_client"})
    result = handle.get()
    status = client.status("census/echo", handle.request_id)
    return {
        "is_sync_client": isinstance(client, fc.SyncClient),
        "same_object_twice": fc.sync_client is client,
        "run": client.run("census/echo", {"via": "run"})["server"],
        "queue": result["server"],
        "status": type(status).__name__,
    }


@async_case("default_clients")
async def default_clients_async(fc: Any, ctx: dict[str, Any]) -> Any:
    client = fc.async_client
    handle = await client.submit("census/echo", {"via": "async_client"})
    result = await handle.get()
    status = await client.status("census/echo", handle.request_id)
    return {
        "is_async_client": isinstance(client, fc.AsyncClient),
        "same_object_twice": fc.async_client is client,
        "run": (await client.run("census/echo", {"via": "run"}))["server"],
        "queue": result["server"],
        "status": type(status).__name__,
    }


@contextlib.contextmanager
def url_constants_at(fc: Any, env: dict[str, str]) -> Iterator[None]:
    """Assign ``fal_client.client``'s URL constants the way proxies and tests do."""
    module = fc.client
    names = ("RUN_URL_FORMAT", "QUEUE_URL_FORMAT", "REST_URL", "CDN_URL")
    saved = {name: getattr(module, name) for name in names}
    try:
        module.RUN_URL_FORMAT = env["FAL_RUN_URL"] + "/"
        module.QUEUE_URL_FORMAT = env["FAL_QUEUE_URL"] + "/"
        module.REST_URL = env["FAL_REST_URL"]
        module.CDN_URL = env["FAL_CDN_URL"]
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


@sync_case("url_constants")
def url_constants_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """Assigned URL constants redirect a client created afterwards (run, queue, upload)."""
    with url_constants_at(fc, ctx["secondary"]):
        client = opened(ctx, fc.SyncClient(key=ctx["key"]))
        run = client.run("census/echo", {"to": "secondary"})["server"]
        queued = client.submit("census/echo", {"to": "secondary"}).get()["server"]
        url = client.upload(b"census upload", "text/plain")
    return {"run": run, "queue": queued, "upload": which_server(url, ctx)}


@async_case("url_constants")
async def url_constants_async(fc: Any, ctx: dict[str, Any]) -> Any:
    with url_constants_at(fc, ctx["secondary"]):
        client = opened(ctx, fc.AsyncClient(key=ctx["key"]))
        run = (await client.run("census/echo", {"to": "secondary"}))["server"]
        handle = await client.submit("census/echo", {"to": "secondary"})
        queued = (await handle.get())["server"]
        url = await client.upload(b"census upload", "text/plain")
    return {"run": run, "queue": queued, "upload": which_server(url, ctx)}


def _no_credentials(ctx: dict[str, Any]) -> dict[str, Optional[str]]:
    return {
        "FAL_KEY": None,
        "FAL_KEY_ID": None,
        "FAL_KEY_SECRET": None,
        "FAL_FORCE_AUTH_BY_USER": None,
        "FAL_HOME_DIR": ctx["empty_home"],
    }


@sync_case("missing_key_then_set")
def missing_key_then_set_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """A script calls before ``FAL_KEY`` is set, sets it, and calls again."""
    with environ(**_no_credentials(ctx)):
        try:
            fc.run("census/echo", {"attempt": 1})
            first: Any = "no error"
        except Exception as exc:
            first = {
                "type": type(exc).__name__,
                "is_auth_missing": type(exc).__name__ == "MissingCredentialsError",
                "mentions_fal_key": "FAL_KEY" in str(exc),
            }
        os.environ["FAL_KEY"] = ctx["key"]
        second = fc.run("census/echo", {"attempt": 2})["server"]
    return {"first": first, "second": second}


@async_case("missing_key_then_set")
async def missing_key_then_set_async(fc: Any, ctx: dict[str, Any]) -> Any:
    with environ(**_no_credentials(ctx)):
        try:
            await fc.run_async("census/echo", {"attempt": 1})
            first: Any = "no error"
        except Exception as exc:
            first = {
                "type": type(exc).__name__,
                "is_auth_missing": type(exc).__name__ == "MissingCredentialsError",
                "mentions_fal_key": "FAL_KEY" in str(exc),
            }
        os.environ["FAL_KEY"] = ctx["key"]
        second = (await fc.run_async("census/echo", {"attempt": 2}))["server"]
    return {"first": first, "second": second}


@sync_case("defaults_follow_env")
def defaults_follow_env_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """A notebook starts a second emulator, points FAL_* at it and calls the module again."""
    before = fc.run("census/echo", {})["server"]
    with environ(**secondary_env(ctx)):
        after = fc.run("census/echo", {})["server"]
        queued = fc.submit("census/echo", {}).get()["server"]
    return {"before": before, "after": after, "queue_after": queued}


@async_case("defaults_follow_env")
async def defaults_follow_env_async(fc: Any, ctx: dict[str, Any]) -> Any:
    before = (await fc.run_async("census/echo", {}))["server"]
    with environ(**secondary_env(ctx)):
        after = (await fc.run_async("census/echo", {}))["server"]
        handle = await fc.submit_async("census/echo", {})
        queued = (await handle.get())["server"]
    return {"before": before, "after": after, "queue_after": queued}


@sync_case("module_api_key_assignment")
def module_api_key_assignment(fc: Any, ctx: dict[str, Any]) -> Any:
    """``fal_client.api_key = ...`` (no effect in the official client) must not break calls."""
    fc.api_key = "census-not-a-key"
    try:
        return {"run": fc.run("census/echo", {})["server"]}
    finally:
        del fc.api_key


# --- clients and handles -------------------------------------------------------------------------


@sync_case("client_attributes")
def client_attributes(fc: Any, ctx: dict[str, Any]) -> Any:
    """``SyncClient(key=..., default_timeout=...)``, ``AsyncClient(key=...)``, ``.key``."""
    sync = opened(ctx, fc.SyncClient(key="census-key", default_timeout=7.5))
    asyn = opened(ctx, fc.AsyncClient(key="census-async-key"))
    return {
        "sync_key": sync.key,
        "sync_default_timeout": sync.default_timeout,
        "async_key": asyn.key,
        "async_default_timeout": asyn.default_timeout,
        "positional": opened(ctx, fc.SyncClient("census-positional", 9.0)).default_timeout,
        "key_when_not_given": opened(ctx, fc.SyncClient()).key,
    }


@sync_case("get_handle")
def get_handle_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``client.get_handle(app, request_id)`` on a request submitted elsewhere."""
    client = opened(ctx, fc.SyncClient(key=ctx["key"]))
    request_id = client.submit("census/echo", {"n": 1}).request_id
    handle = client.get_handle("census/echo", request_id)
    return {
        "type": type(handle).__name__,
        "same_id": handle.request_id == request_id,
        "result": handle.get()["server"],
    }


@async_case("get_handle")
async def get_handle_async(fc: Any, ctx: dict[str, Any]) -> Any:
    """``await client.get_handle(...)``: a coroutine in the official AsyncClient."""
    client = opened(ctx, fc.AsyncClient(key=ctx["key"]))
    request_id = (await client.submit("census/echo", {"n": 1})).request_id
    handle = await client.get_handle("census/echo", request_id)
    return {
        "type": type(handle).__name__,
        "same_id": handle.request_id == request_id,
        "result": (await handle.get())["server"],
    }


def _handles_view(submitted: Any, first: Any, second: Any) -> dict[str, Any]:
    request_id = submitted.request_id
    return {
        "by_id_equal": first == second,
        "by_id_hash_equal": len({first, second}) == 1,
        "submitted_equals_by_id": submitted == first,
        "response_url_names_app": submitted.response_url.endswith(
            "/census/echo/requests/" + request_id
        ),
        "status_url": submitted.status_url == submitted.response_url + "/status",
        "cancel_url": submitted.cancel_url == submitted.response_url + "/cancel",
        # How metering code recovers the app from a handle (the path before /requests/).
        "app_from_response_url": httpx.URL(submitted.response_url)
        .path.rpartition("/requests/")[0]
        .endswith("/census/echo"),
    }


@sync_case("handles")
def handles_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """Two handles of one request compare equal; their URLs name the app and the request."""
    client = opened(ctx, fc.SyncClient(key=ctx["key"]))
    submitted = client.submit("census/echo", {})
    first = client.get_handle("census/echo", submitted.request_id)
    second = client.get_handle("census/echo", submitted.request_id)
    view = _handles_view(submitted, first, second)
    submitted.get()
    return view


@async_case("handles")
async def handles_async(fc: Any, ctx: dict[str, Any]) -> Any:
    client = opened(ctx, fc.AsyncClient(key=ctx["key"]))
    submitted = await client.submit("census/echo", {})
    first = await client.get_handle("census/echo", submitted.request_id)
    second = await client.get_handle("census/echo", submitted.request_id)
    view = _handles_view(submitted, first, second)
    await submitted.get()
    return view


@sync_case("status_by_id")
def status_by_id_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``fal_client.status(app, request_id=..., with_logs=...)``, ``result(app, request_id=)``."""
    request_id = fc.submit("census/echo", {"k": "v"}).request_id
    result = fc.result("census/echo", request_id=request_id)
    status = fc.status("census/echo", request_id=request_id, with_logs=True)
    return {"result": result["received"], "status": type(status).__name__}


@async_case("status_by_id")
async def status_by_id_async(fc: Any, ctx: dict[str, Any]) -> Any:
    request_id = (await fc.submit_async("census/echo", {"k": "v"})).request_id
    result = await fc.result_async("census/echo", request_id=request_id)
    status = await fc.status_async("census/echo", request_id=request_id, with_logs=True)
    return {"result": result["received"], "status": type(status).__name__}


@sync_case("handle_from_request_id")
def handle_from_request_id_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``SyncRequestHandle.from_request_id(fal_client.sync_client._client, app, id)``."""
    request_id = fc.submit("census/echo", {}).request_id
    try:
        handle = fc.SyncRequestHandle.from_request_id(
            fc.sync_client._client, "census/echo", request_id
        )
        return {"outcome": "ok", "result": handle.get()["server"]}
    except Exception as exc:
        return {"outcome": "error", "error": describe_error(exc)}


@async_case("handle_from_request_id")
async def handle_from_request_id_async(fc: Any, ctx: dict[str, Any]) -> Any:
    request_id = (await fc.submit_async("census/echo", {})).request_id
    try:
        handle = fc.AsyncRequestHandle.from_request_id(
            await fc.async_client._client, "census/echo", request_id
        )
        return {"outcome": "ok", "result": (await handle.get())["server"]}
    except Exception as exc:
        return {"outcome": "error", "error": describe_error(exc)}


UNKNOWN_REQUEST_ID = "00000000-0000-4000-8000-000000000000"


@sync_case("unknown_request_id")
def unknown_request_id_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """Scripts that resume request ids saved in a file: ``status``/``result`` of an id the
    server does not know (expired, or from another account), then carry on."""
    client = opened(ctx, fc.SyncClient(key=ctx["key"]))
    out: dict[str, Any] = {}
    for how in ("status", "result"):
        try:
            getattr(client, how)("census/echo", UNKNOWN_REQUEST_ID)
            out[how] = "no error"
        except Exception as exc:
            out[how] = http_error_view(fc, exc)
    handle = client.submit("census/echo", {"after": "unknown"})
    out["after"] = handle.get()["server"]
    out["after_id"] = handle.request_id
    return out


@async_case("unknown_request_id")
async def unknown_request_id_async(fc: Any, ctx: dict[str, Any]) -> Any:
    client = opened(ctx, fc.AsyncClient(key=ctx["key"]))
    out: dict[str, Any] = {}
    for how in ("status", "result"):
        try:
            await getattr(client, how)("census/echo", UNKNOWN_REQUEST_ID)
            out[how] = "no error"
        except Exception as exc:
            out[how] = http_error_view(fc, exc)
    handle = await client.submit("census/echo", {"after": "unknown"})
    out["after"] = (await handle.get())["server"]
    out["after_id"] = handle.request_id
    return out


# --- statuses and logs ---------------------------------------------------------------------------


@sync_case("status_logs")
def status_logs_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``iter_events(with_logs=True)`` and ``subscribe(on_queue_update=...)``, reading
    ``isinstance(update, fal_client.InProgress)``, ``update.logs`` and ``log["message"]``."""
    client = opened(ctx, fc.SyncClient(key=ctx["key"]))
    handle = client.submit("census/steps", {"n": 4})
    events = [status_view(fc, s) for s in handle.iter_events(with_logs=True, interval=POLL)]
    updates: list[dict[str, Any]] = []
    client.subscribe(
        "census/steps",
        {"n": 3},
        with_logs=True,
        interval=POLL,
        on_queue_update=lambda s: updates.append(status_view(fc, s)),
    )
    return {"iter_events": events, "subscribe": updates}


@async_case("status_logs")
async def status_logs_async(fc: Any, ctx: dict[str, Any]) -> Any:
    client = opened(ctx, fc.AsyncClient(key=ctx["key"]))
    handle = await client.submit("census/steps", {"n": 4})
    events = [status_view(fc, s) async for s in handle.iter_events(with_logs=True, interval=POLL)]
    updates: list[dict[str, Any]] = []
    await client.subscribe(
        "census/steps",
        {"n": 3},
        with_logs=True,
        interval=POLL,
        on_queue_update=lambda s: updates.append(status_view(fc, s)),
    )
    return {"iter_events": events, "subscribe": updates}


@sync_case("construct_statuses")
def construct_statuses(fc: Any, ctx: dict[str, Any]) -> Any:
    """Tests build statuses to feed their own code: ``Queued(position=0)`` and friends."""
    logs = [{"message": "rendering"}]
    built = {
        "queued": fc.Queued(position=3),
        "queued_positional": fc.Queued(3),
        "in_progress_none": fc.InProgress(logs=None),
        "in_progress": fc.InProgress(logs=logs),
        "completed": fc.Completed(logs=None, metrics={}),
        "completed_error": fc.Completed(
            logs=logs, metrics={"inference_time": 1.5}, error="boom", error_type="runner_crash"
        ),
    }
    out: dict[str, Any] = {name: status_view(fc, value) for name, value in built.items()}
    out["queued_position"] = built["queued"].position
    out["completed_fields"] = [
        built["completed_error"].metrics,
        built["completed_error"].error,
        built["completed_error"].error_type,
        built["completed"].error,
    ]
    out["equal"] = fc.Queued(position=1) == fc.Queued(position=1)
    out["unequal"] = fc.Queued(position=1) == fc.Queued(position=2)
    out["repr_starts_with_type"] = {
        name: repr(value).startswith(type(value).__name__ + "(") for name, value in built.items()
    }
    return out


# --- errors --------------------------------------------------------------------------------------


@sync_case("http_errors")
def http_errors_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """What code reads on HTTP errors of run and subscribe: 422 list, content policy, string."""
    client = opened(ctx, fc.SyncClient(key=ctx["key"]))
    out: dict[str, Any] = {}
    for app in ("census/invalid", "census/flagged", "census/locked"):
        for how in ("run", "subscribe"):
            try:
                getattr(client, how)(app, {"prompt": "census"})
                out[f"{app} {how}"] = "no error"
            except Exception as exc:
                out[f"{app} {how}"] = http_error_view(fc, exc)
    return out


@async_case("http_errors")
async def http_errors_async(fc: Any, ctx: dict[str, Any]) -> Any:
    client = opened(ctx, fc.AsyncClient(key=ctx["key"]))
    out: dict[str, Any] = {}
    for app in ("census/invalid", "census/flagged", "census/locked"):
        for how in ("run", "subscribe"):
            try:
                await getattr(client, how)(app, {"prompt": "census"})
                out[f"{app} {how}"] = "no error"
            except Exception as exc:
                out[f"{app} {how}"] = http_error_view(fc, exc)
    return out


@sync_case("cancel_finished")
def cancel_finished_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``handle.cancel()`` after completion: code checks ``exc.status_code == 400``."""
    client = opened(ctx, fc.SyncClient(key=ctx["key"]))
    handle = client.submit("census/echo", {})
    handle.get()
    try:
        handle.cancel()
        return "no error"
    except Exception as exc:
        return http_error_view(fc, exc)


@async_case("cancel_finished")
async def cancel_finished_async(fc: Any, ctx: dict[str, Any]) -> Any:
    client = opened(ctx, fc.AsyncClient(key=ctx["key"]))
    handle = await client.submit("census/echo", {})
    await handle.get()
    try:
        await handle.cancel()
        return "no error"
    except Exception as exc:
        return http_error_view(fc, exc)


@sync_case("construct_errors")
def construct_errors(fc: Any, ctx: dict[str, Any]) -> Any:
    """Test suites build the official errors to drive their retry and error-mapping code."""
    request = httpx.Request("POST", "https://queue.fal.run/census/app")
    response = httpx.Response(422, json={"detail": "bad"}, request=request)
    built = {
        "positional_4": fc.FalClientHTTPError("boom", 500, {}, None),
        "positional_5": fc.FalClientHTTPError("bad", 422, {"x": "1"}, response, "validation"),
        "keywords": fc.FalClientHTTPError(
            message="locked", status_code=403, response_headers={}, response=response
        ),
        "mixed": fc.FalClientHTTPError(
            "private provider message", status_code=429, response_headers={}, response=None
        ),
    }
    out: dict[str, Any] = {}
    for name, exc in built.items():
        out[name] = {
            "str": str(exc),
            "message": exc.message,
            "status_code": exc.status_code,
            "response_headers": exc.response_headers,
            "error_type": exc.error_type,
            "is_client_error": isinstance(exc, fc.FalClientError),
        }
    out["response_identity"] = built["positional_5"].response is response
    timeouts = {
        "timeout_only": fc.FalClientTimeoutError(60.0),
        "with_request_id": fc.FalClientTimeoutError(60.0, "census-request"),
        "keywords": fc.FalClientTimeoutError(timeout=5, request_id="census-kw"),
    }
    for name, exc in timeouts.items():
        out[f"timeout {name}"] = {
            "str": str(exc),
            "timeout": exc.timeout,
            "request_id": exc.request_id,
            "is_timeout_error": isinstance(exc, TimeoutError),
            "is_client_error": isinstance(exc, fc.FalClientError),
        }
    out["client_error"] = str(fc.FalClientError("API down"))
    return out


@sync_case("missing_credentials_error")
def missing_credentials_error(fc: Any, ctx: dict[str, Any]) -> Any:
    """``raise MissingCredentialsError()`` with no arguments, and with a message (taken from
    ``fal_client.auth`` as real code does, else from the top level: the module path has a
    test of its own)."""
    try:
        from fal_client.auth import MissingCredentialsError
    except ImportError:
        MissingCredentialsError = fc.MissingCredentialsError

    bare = MissingCredentialsError()
    return {
        "str_bare": str(bare),
        "str_message": str(MissingCredentialsError("set FAL_KEY")),
        "is_exception": isinstance(bare, Exception),
    }


@sync_case("client_timeout")
def client_timeout_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``subscribe(..., client_timeout=...)`` on a job that outlives it."""
    client = opened(ctx, fc.SyncClient(key=ctx["key"]))
    enqueued: list[str] = []
    try:
        client.subscribe(
            "census/hold", {}, client_timeout=1.05, interval=POLL, on_enqueue=enqueued.append
        )
        return "no error"
    except Exception as exc:
        return _timeout_view(fc, exc, enqueued)


@async_case("client_timeout")
async def client_timeout_async(fc: Any, ctx: dict[str, Any]) -> Any:
    client = opened(ctx, fc.AsyncClient(key=ctx["key"]))
    enqueued: list[str] = []
    try:
        await client.subscribe(
            "census/hold", {}, client_timeout=1.05, interval=POLL, on_enqueue=enqueued.append
        )
        return "no error"
    except Exception as exc:
        return _timeout_view(fc, exc, enqueued)


def _timeout_view(fc: Any, exc: BaseException, enqueued: list[str]) -> dict[str, Any]:
    return {
        "type_is_timeout": isinstance(exc, fc.FalClientTimeoutError),
        "is_builtin_timeout": isinstance(exc, TimeoutError),
        "str": str(exc),
        "timeout": getattr(exc, "timeout", None),
        "request_id": getattr(exc, "request_id", None),
        "enqueued": enqueued,
    }


# --- streaming -----------------------------------------------------------------------------------


@sync_case("stream_urls")
def stream_urls_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``stream("owner/stream")``, a namespaced ``workflows/...`` id and ``path="/stream"``."""
    client = opened(ctx, fc.SyncClient(key=ctx["key"]))
    return {
        "alias_stream": list(client.stream("census/stream", {"n": 2})),
        "workflow": list(client.stream("workflows/census/flow", {"n": 2})),
        "explicit_path": list(client.stream("census/stream", {"n": 1}, path="/stream")),
    }


@async_case("stream_urls")
async def stream_urls_async(fc: Any, ctx: dict[str, Any]) -> Any:
    client = opened(ctx, fc.AsyncClient(key=ctx["key"]))
    return {
        "alias_stream": [e async for e in client.stream("census/stream", {"n": 2})],
        "workflow": [e async for e in client.stream("workflows/census/flow", {"n": 2})],
        "explicit_path": [
            e async for e in client.stream("census/stream", {"n": 1}, path="/stream")
        ],
    }


# --- keyword arguments seen on the wire ----------------------------------------------------------

HINT = "census-hint"
EXTRA = {"x-census-header": "census"}


def webhook_url(ctx: dict[str, Any]) -> str:
    # Deliveries to this path are refused (404): only the query on the submit matters here.
    return ctx["primary"]["root"] + "/__emulator/census-webhook-sink"


@sync_case("call_options")
def call_options_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``webhook_url``, ``priority``, ``hint``, ``start_timeout``, ``headers``, ``path``,
    ``on_enqueue`` and ``interval`` by keyword; the test reads what the server received."""
    client = opened(ctx, fc.SyncClient(key=ctx["key"]))
    handle = client.submit(
        "census/echo",
        {"op": "submit"},
        webhook_url=webhook_url(ctx),
        priority="low",
        hint=HINT,
        start_timeout=30,
        headers=EXTRA,
    )
    handle.get()
    run = client.run(
        "census/echo", {"op": "run"}, path="sub", hint=HINT, start_timeout=30, headers=EXTRA
    )
    enqueued: list[str] = []
    updates: list[str] = []
    subscribed = client.subscribe(
        "census/echo",
        {"op": "subscribe"},
        priority="normal",
        hint=HINT,
        start_timeout=30,
        headers=EXTRA,
        with_logs=True,
        interval=POLL,
        on_enqueue=enqueued.append,
        on_queue_update=lambda s: updates.append(type(s).__name__),
    )
    return {
        "submit_id": handle.request_id,
        "run_id": run["request_id"],
        "subscribe_id": subscribed["request_id"],
        "enqueued_is_id": enqueued == [subscribed["request_id"]],
        "last_update": updates[-1] if updates else None,
    }


@async_case("call_options")
async def call_options_async(fc: Any, ctx: dict[str, Any]) -> Any:
    client = opened(ctx, fc.AsyncClient(key=ctx["key"]))
    handle = await client.submit(
        "census/echo",
        {"op": "submit"},
        webhook_url=webhook_url(ctx),
        priority="low",
        hint=HINT,
        start_timeout=30,
        headers=EXTRA,
    )
    await handle.get()
    run = await client.run(
        "census/echo", {"op": "run"}, path="sub", hint=HINT, start_timeout=30, headers=EXTRA
    )
    enqueued: list[str] = []
    updates: list[str] = []
    subscribed = await client.subscribe(
        "census/echo",
        {"op": "subscribe"},
        priority="normal",
        hint=HINT,
        start_timeout=30,
        headers=EXTRA,
        with_logs=True,
        interval=POLL,
        on_enqueue=enqueued.append,
        on_queue_update=lambda s: updates.append(type(s).__name__),
    )
    return {
        "submit_id": handle.request_id,
        "run_id": run["request_id"],
        "subscribe_id": subscribed["request_id"],
        "enqueued_is_id": enqueued == [subscribed["request_id"]],
        "last_update": updates[-1] if updates else None,
    }


# --- files and data URLs -------------------------------------------------------------------------


@sync_case("uploads")
def uploads_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``upload(data, content_type=...)``, ``upload_file(path)``, ``upload_image(img, format=)``."""
    path = Path(ctx["tmp"]) / "census-sync.txt"
    path.write_bytes(b"census file")
    client = opened(ctx, fc.SyncClient(key=ctx["key"]))
    data_url = client.upload(b"census bytes", content_type="text/plain")
    file_url = client.upload_file(path)
    image_url = client.upload_image(sample_image(), format="png")
    return {
        "bytes": fetch_bytes(data_url).decode(),
        "file": fetch_bytes(file_url).decode(),
        "image_is_png": fetch_bytes(image_url)[:8] == b"\x89PNG\r\n\x1a\n",
        "module_level": fetch_bytes(fc.upload(b"module level", "text/plain")).decode(),
    }


@async_case("uploads")
async def uploads_async(fc: Any, ctx: dict[str, Any]) -> Any:
    path = Path(ctx["tmp"]) / "census-async.txt"
    path.write_bytes(b"census file")
    client = opened(ctx, fc.AsyncClient(key=ctx["key"]))
    data_url = await client.upload(b"census bytes", content_type="text/plain")
    file_url = await client.upload_file(path)
    image_url = await client.upload_image(sample_image(), format="png")
    module_url = await fc.upload_async(b"module level", "text/plain")
    return {
        "bytes": (await fetch_bytes_async(data_url)).decode(),
        "file": (await fetch_bytes_async(file_url)).decode(),
        "image_is_png": (await fetch_bytes_async(image_url))[:8] == b"\x89PNG\r\n\x1a\n",
        "module_level": (await fetch_bytes_async(module_url)).decode(),
    }


@sync_case("encode_helpers")
def encode_helpers(fc: Any, ctx: dict[str, Any]) -> Any:
    """``encode``, ``encode_file`` and ``encode_image(img, format=...)`` data URLs."""
    path = Path(ctx["tmp"]) / "census-encode.txt"
    path.write_bytes(b"census encode")
    png = fc.encode_image(sample_image(), format="png")
    jpeg = fc.encode_image(sample_image())
    return {
        "bytes": fc.encode(b"census", "text/plain"),
        "str": fc.encode("census", "text/plain"),
        "file": fc.encode_file(path),
        "png_prefix": png.split(",", 1)[0],
        "png_pixels": pixels_sha(png),
        "jpeg_prefix": jpeg.split(",", 1)[0],
    }


# --- private attributes and patching -------------------------------------------------------------


class Awaited:
    """The official AsyncClient caches ``_client`` as an awaitable; injectors wrap theirs so."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def __await__(self) -> Any:
        if False:
            yield
        return self._value


class MockFal:
    """An ``httpx.MockTransport`` handler that counts the requests it answers."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return httpx.Response(200, json={"server": "mock"})


def _injection_view(mock_fal: MockFal, raised_at: Optional[str], error: Any, result: Any) -> Any:
    return {"raised_at": raised_at, "error": error, "mock_calls": mock_fal.calls, "result": result}


@sync_case("private_client_assignment")
def private_client_assignment_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``client._client = httpx.Client(transport=httpx.MockTransport(...))``."""
    mock_fal = MockFal()
    client = opened(ctx, fc.SyncClient(key=ctx["key"]))
    try:
        client._client = httpx.Client(transport=httpx.MockTransport(mock_fal))
    except Exception as exc:
        return _injection_view(mock_fal, "assign", describe_error(exc), None)
    try:
        result = client.run("census/echo", {})
    except Exception as exc:
        return _injection_view(mock_fal, "call", describe_error(exc), None)
    return _injection_view(mock_fal, None, None, result.get("server"))


@async_case("private_client_assignment")
async def private_client_assignment_async(fc: Any, ctx: dict[str, Any]) -> Any:
    mock_fal = MockFal()
    client = opened(ctx, fc.AsyncClient(key=ctx["key"]))
    try:
        client._client = httpx.AsyncClient(transport=httpx.MockTransport(mock_fal))
    except Exception as exc:
        return _injection_view(mock_fal, "assign", describe_error(exc), None)
    try:
        result = await client.run("census/echo", {})
    except Exception as exc:
        return _injection_view(mock_fal, "call", describe_error(exc), None)
    return _injection_view(mock_fal, None, None, result.get("server"))


@contextlib.contextmanager
def injected(target: Any, value: Any) -> Iterator[None]:
    """``target.__dict__["_client"] = value`` for the block, as test harnesses do."""
    cache = target.__dict__
    had, previous = "_client" in cache, cache.get("_client")
    cache["_client"] = value
    try:
        yield
    finally:
        if had:
            cache["_client"] = previous
        else:
            cache.pop("_client", None)


@sync_case("private_client_dict_injection")
def private_client_dict_injection_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``monkeypatch.setitem(fal_client.sync_client.__dict__, "_client", httpx.Client(...))``."""
    out = {}
    for label, target, call in (
        ("client", opened(ctx, fc.SyncClient(key=ctx["key"])), None),
        ("default", fc.sync_client, fc.run),
    ):
        mock_fal = MockFal()
        try:
            with injected(target, httpx.Client(transport=httpx.MockTransport(mock_fal))):
                try:
                    result = (call or target.run)("census/echo", {})
                except Exception as exc:
                    out[label] = _injection_view(mock_fal, "call", describe_error(exc), None)
                    continue
        except Exception as exc:
            out[label] = _injection_view(mock_fal, "inject", describe_error(exc), None)
            continue
        out[label] = _injection_view(mock_fal, None, None, result.get("server"))
    return out


@async_case("private_client_dict_injection")
async def private_client_dict_injection_async(fc: Any, ctx: dict[str, Any]) -> Any:
    out = {}
    for label, target, call in (
        ("client", opened(ctx, fc.AsyncClient(key=ctx["key"])), None),
        ("default", fc.async_client, fc.run_async),
    ):
        mock_fal = MockFal()
        try:
            with injected(
                target, Awaited(httpx.AsyncClient(transport=httpx.MockTransport(mock_fal)))
            ):
                try:
                    result = await (call or target.run)("census/echo", {})
                except Exception as exc:
                    out[label] = _injection_view(mock_fal, "call", describe_error(exc), None)
                    continue
        except Exception as exc:
            out[label] = _injection_view(mock_fal, "inject", describe_error(exc), None)
            continue
        out[label] = _injection_view(mock_fal, None, None, result.get("server"))
    return out


@sync_case("patch_module_functions")
def patch_module_functions_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``mock.patch("fal_client.subscribe")``, ``patch.object(fal_client, "submit")`` and
    ``monkeypatch.setattr(fal_client, "upload_file", fake)``, then the real ones again."""
    out: dict[str, Any] = {}
    with mock.patch("fal_client.subscribe", return_value={"patched": "subscribe"}):
        out["subscribe"] = fc.subscribe("census/echo", arguments={})
    fake_handle = mock.MagicMock()
    fake_handle.get.return_value = {"patched": "submit"}
    with mock.patch.object(fc, "submit", return_value=fake_handle) as submit:
        out["submit"] = fc.submit("census/echo", arguments={}).get()
        out["submit_called_with"] = [list(submit.call_args.args), submit.call_args.kwargs]
    original = fc.upload_file
    fc.upload_file = lambda path: f"https://fake.example/{Path(path).name}"
    try:
        out["upload_file"] = fc.upload_file(Path(ctx["tmp"]) / "x.png")
    finally:
        fc.upload_file = original
    out["real_after"] = fc.subscribe("census/echo", arguments={})["server"]
    return out


@async_case("patch_module_functions")
async def patch_module_functions_async(fc: Any, ctx: dict[str, Any]) -> Any:
    out: dict[str, Any] = {}
    with mock.patch(
        "fal_client.subscribe_async", new_callable=mock.AsyncMock, return_value={"patched": "s"}
    ):
        out["subscribe_async"] = await fc.subscribe_async("census/echo", arguments={})

    async def boom(self: Any, application: str, arguments: Any, **kwargs: Any) -> Any:
        raise fc.FalClientHTTPError("boom", 500, {}, None)

    with mock.patch.object(fc.AsyncClient, "subscribe", boom):
        try:
            await opened(ctx, fc.AsyncClient(key=ctx["key"])).subscribe("census/echo", {})
            out["class_patch"] = "no error"
        except Exception as exc:
            out["class_patch"] = describe_error(exc)
    out["real_after"] = (await fc.subscribe_async("census/echo", arguments={}))["server"]
    return out


WRAPPED = (
    ("SyncClient", "run"),
    ("SyncClient", "submit"),
    ("SyncClient", "subscribe"),
    ("SyncClient", "stream"),
    ("SyncClient", "get_handle"),
    ("SyncRequestHandle", "get"),
    ("AsyncClient", "run"),
    ("AsyncClient", "submit"),
    ("AsyncClient", "subscribe"),
    ("AsyncClient", "stream"),
    ("AsyncClient", "get_handle"),
    ("AsyncRequestHandle", "get"),
)
ALIASES = (
    ("run", "sync_client", "run"),
    ("subscribe", "sync_client", "subscribe"),
    ("submit", "sync_client", "submit"),
    ("stream", "sync_client", "stream"),
    ("run_async", "async_client", "run"),
    ("subscribe_async", "async_client", "subscribe"),
    ("submit_async", "async_client", "submit"),
    ("stream_async", "async_client", "stream"),
)


@contextlib.contextmanager
def metering_wrappers(fc: Any, fired: list[str]) -> Iterator[None]:
    """What a metering middleware does: wrap the class methods found on ``fal_client.client``
    by dotted name, then re-read each module alias from its default client."""
    module = fc.client
    saved_methods = []
    saved_aliases = {alias: vars(fc)[alias] for alias, _, _ in ALIASES if alias in vars(fc)}

    def wrapper(label: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            fired.append(label)
            return original(*args, **kwargs)

        return wrapped

    try:
        for class_name, method in WRAPPED:
            cls = getattr(module, class_name)
            saved_methods.append((cls, method, cls.__dict__.get(method)))
            setattr(cls, method, wrapper(f"{class_name}.{method}", getattr(cls, method)))
        for alias, client_name, method in ALIASES:
            setattr(fc, alias, getattr(getattr(fc, client_name), method))
        yield
    finally:
        for cls, method, original in reversed(saved_methods):
            if original is None:
                delattr(cls, method)
            else:
                setattr(cls, method, original)
        for alias, value in saved_aliases.items():
            setattr(fc, alias, value)


@sync_case("metering_wrappers")
def metering_wrappers_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """revenium's fal middleware: which wrapped methods each module-level call goes through."""
    out: dict[str, Any] = {}
    fired: list[str] = []
    with metering_wrappers(fc, fired):
        out["aliases_are_default_methods"] = all(
            getattr(fc, alias) == getattr(getattr(fc, client), method)
            for alias, client, method in ALIASES
        )

        def record(label: str, call: Callable[[], Any]) -> None:
            fired.clear()
            call()
            out[label] = sorted(fired)

        enqueued: list[str] = []
        record("run", lambda: fc.run("census/echo", {}))
        record("submit_get", lambda: fc.submit("census/echo", {}).get())
        record("subscribe", lambda: fc.subscribe("census/echo", {}, on_enqueue=enqueued.append))
        record("stream", lambda: list(fc.stream("census/stream", {"n": 1})))
        request_id = fc.submit("census/echo", {}).request_id
        record("result", lambda: fc.result("census/echo", request_id))
        record("status", lambda: fc.status("census/echo", request_id))
        out["on_enqueue_calls"] = len(enqueued)
    return out


@async_case("metering_wrappers")
async def metering_wrappers_async(fc: Any, ctx: dict[str, Any]) -> Any:
    out: dict[str, Any] = {}
    fired: list[str] = []
    with metering_wrappers(fc, fired):
        out["aliases_are_default_methods"] = all(
            getattr(fc, alias) == getattr(getattr(fc, client), method)
            for alias, client, method in ALIASES
        )

        async def record(label: str, call: Callable[[], Any]) -> None:
            fired.clear()
            await call()
            out[label] = sorted(fired)

        async def submit_get() -> Any:
            return await (await fc.submit_async("census/echo", {})).get()

        async def stream() -> Any:
            return [e async for e in fc.stream_async("census/stream", {"n": 1})]

        enqueued: list[str] = []
        await record("run", lambda: fc.run_async("census/echo", {}))
        await record("submit_get", submit_get)
        await record(
            "subscribe",
            lambda: fc.subscribe_async("census/echo", {}, on_enqueue=enqueued.append),
        )
        await record("stream", stream)
        request_id = (await fc.submit_async("census/echo", {})).request_id
        await record("result", lambda: fc.result_async("census/echo", request_id))
        await record("status", lambda: fc.status_async("census/echo", request_id))
        out["on_enqueue_calls"] = len(enqueued)
    return out


@sync_case("subclass_client")
def subclass_client_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``class Custom(SyncClient)`` with its own ``__init__`` calling ``super().__init__``."""

    class CustomSyncClient(fc.SyncClient):
        def __init__(self, key: Optional[str] = None, default_timeout: float = 120.0) -> None:
            super().__init__(key=key or os.environ["FAL_KEY"], default_timeout=default_timeout)

    client = opened(ctx, CustomSyncClient(default_timeout=30.0))
    return {
        "run": client.run("census/echo", {})["server"],
        "default_timeout": client.default_timeout,
        "is_sync_client": isinstance(client, fc.SyncClient),
    }


@async_case("subclass_client")
async def subclass_client_async(fc: Any, ctx: dict[str, Any]) -> Any:
    class CustomAsyncClient(fc.AsyncClient):
        def __init__(self, key: Optional[str] = None, default_timeout: float = 120.0) -> None:
            super().__init__(key=key or os.environ["FAL_KEY"], default_timeout=default_timeout)

    client = opened(ctx, CustomAsyncClient(default_timeout=30.0))
    return {
        "run": (await client.run("census/echo", {}))["server"],
        "default_timeout": client.default_timeout,
        "is_async_client": isinstance(client, fc.AsyncClient),
    }


# --- deadlines -----------------------------------------------------------------------------------


@contextlib.contextmanager
def recorded_timeouts(sent: list[Any]) -> Iterator[None]:
    """Record the timeout httpx applies to each POST to fal.run (its ``timeout`` extension)."""
    originals = (httpx.Client.send, httpx.AsyncClient.send)

    def note(request: httpx.Request) -> None:
        if request.method == "POST" and "/run/census/echo" in str(request.url):
            sent.append(request.extensions.get("timeout"))

    def send(self: Any, request: httpx.Request, **kwargs: Any) -> Any:
        note(request)
        return originals[0](self, request, **kwargs)

    async def asend(self: Any, request: httpx.Request, **kwargs: Any) -> Any:
        note(request)
        return await originals[1](self, request, **kwargs)

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]
    try:
        yield
    finally:
        httpx.Client.send, httpx.AsyncClient.send = originals  # type: ignore[method-assign]


@sync_case("run_default_timeout")
def run_default_timeout_sync(fc: Any, ctx: dict[str, Any]) -> Any:
    """``run()`` with default settings: the deadline the official client applies (observed on
    the wire, at httpx), and the documented default of ``timeout``."""
    sent: list[Any] = []
    with recorded_timeouts(sent):
        opened(ctx, fc.SyncClient(key=ctx["key"])).run("census/echo", {})
    return {
        "httpx_timeouts": sent,
        "timeout_default": repr(inspect.signature(fc.SyncClient.run).parameters["timeout"].default),
    }


@async_case("run_default_timeout")
async def run_default_timeout_async(fc: Any, ctx: dict[str, Any]) -> Any:
    sent: list[Any] = []
    with recorded_timeouts(sent):
        await opened(ctx, fc.AsyncClient(key=ctx["key"])).run("census/echo", {})
    signature = inspect.signature(fc.AsyncClient.run)
    return {
        "httpx_timeouts": sent,
        "timeout_default": repr(signature.parameters["timeout"].default),
    }


# --- event loops ---------------------------------------------------------------------------------


@own_loops_case("short_lived_loops")
def short_lived_loops(fc: Any, ctx: dict[str, Any], run_loop: Callable[..., Any]) -> Any:
    """``asyncio.run(fal_client.run_async(...))`` twice (a CLI, a Celery task), and the reset
    people wrote for the official client: popping ``async_client.__dict__["_client"]``."""

    async def call() -> Any:
        return (await fc.run_async("census/echo", {}))["server"]

    async def reset() -> None:
        inst = fc.async_client
        old = inst.__dict__.pop("_client", None)
        inst.__dict__.pop("_token_manager", None)
        if old is not None:
            await old.aclose()

    def attempt(fn: Callable[[], Any]) -> Any:
        try:
            return run_loop(fn)
        except Exception as exc:
            return describe_error(exc)

    first = attempt(call)
    second = attempt(call)
    reset_outcome = attempt(reset)
    after_reset = attempt(call)
    return {"first": first, "second": second, "reset": reset_outcome, "after_reset": after_reset}


@own_loops_case("unclosed_async_client")
def unclosed_async_client(fc: Any, ctx: dict[str, Any], run_loop: Callable[..., Any]) -> Any:
    """``AsyncClient(key=...)`` made per call and never closed: the official client has no
    ``aclose``, so no public code closes one."""
    import gc
    import warnings

    async def call() -> Any:
        client = fc.AsyncClient(key=ctx["key"])
        return (await client.run("census/echo", {}))["server"]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_loop(call)
        gc.collect()
    return {
        "result": result,
        "resource_warnings": sorted({str(w.message).split(" fd=")[0] for w in caught}),
    }


# --- the official run ----------------------------------------------------------------------------

# Cases that use the module-level default clients before anything else does (so their auth is
# not cached yet in the official client).
FIRST = ("missing_key_then_set",)


def _ordered(cases: dict[str, Callable[..., Any]]) -> list[str]:
    return [n for n in FIRST if n in cases] + [n for n in cases if n not in FIRST]


def _guarded(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:
        return {"__error__": describe_error(exc)}


async def _run_async_cases(fc: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in _ordered(ASYNC):
        try:
            out[name] = await ASYNC[name](fc, ctx)
        except Exception as exc:
            out[name] = {"__error__": describe_error(exc)}
        await close_opened(ctx)
    return out


def main(argv: list[str]) -> None:
    import fal_client

    ctx = json.loads(argv[1])
    cases: dict[str, dict[str, Any]] = {}
    for name in _ordered(SYNC):
        cases.setdefault(name, {})["sync"] = _guarded(
            functools.partial(SYNC[name], fal_client, ctx)
        )
        close_opened_sync(ctx)
    # One event loop for every async case: the official AsyncClient keeps its connection pool
    # across calls, so a second asyncio.run() would inherit connections of a closed loop (that
    # is what ``short_lived_loops`` observes, last).
    for name, obs in asyncio.run(_run_async_cases(fal_client, ctx)).items():
        cases.setdefault(name, {})["async"] = obs
    for name, fn in OWN_LOOPS.items():
        cases.setdefault(name, {})["asyncio"] = _guarded(
            functools.partial(fn, fal_client, ctx, lambda f: asyncio.run(f()))
        )
    print(json.dumps({"official_version": fal_client.__version__, "cases": cases}, default=repr))


if __name__ == "__main__":
    main(sys.argv)
