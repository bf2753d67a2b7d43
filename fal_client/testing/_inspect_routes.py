"""Inspection and control over HTTP under ``/__emulator/`` (no auth), so that tests written in
any language can see what the emulator saw and steer it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Dict, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._faults import make_rule
from ._responses import dumps

if TYPE_CHECKING:
    from ._emulator import Emulator

PREFIX = "/__emulator/"

_FAULT_FIELDS = ("kind", "app", "operation", "count", "probability", "seed")


def _json(status_code: int, body: Any) -> Response:
    return Response(dumps(body), status_code, media_type="application/json")


async def serve_inspection(emulator: Emulator, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one ``/__emulator/...`` request."""
    request = Request(scope, receive)
    name = scope["path"][len(PREFIX) :].strip("/")
    method = scope["method"]
    response = await _dispatch(emulator, request, method, name)
    await response(scope, receive, send)


async def _dispatch(emulator: Emulator, request: Request, method: str, name: str) -> Response:
    if method == "GET":
        listings: Dict[str, Callable[[], Sequence[Any]]] = {
            "apps": emulator.apps,
            "requests": emulator.requests,
            "jobs": emulator.jobs,
            "files": emulator.files,
            "webhooks": emulator.webhooks,
            "streams": emulator.streams,
        }
        if name in listings:
            return _json(200, [_as_json(item) for item in listings[name]()])
        if name == "faults":
            return _json(200, [rule.as_dict() for rule in emulator._state.faults.rules()])
        if name == "jwks":
            return _json(200, emulator._state.signer.jwks())
    if method == "POST" and name == "reset":
        await emulator._reset_on_loop()
        return _json(200, {"reset": True})
    if method == "POST" and name == "faults":
        return await _add_fault(emulator, request)
    if method == "DELETE" and name == "faults":
        emulator.clear_faults()
        return _json(200, {"cleared": True})
    if method == "DELETE" and name.startswith("faults/"):
        try:
            rule_id = int(name.split("/", 1)[1])
        except ValueError:
            return _json(404, {"detail": "No such fault"})
        removed = emulator._state.faults.remove(rule_id)
        return _json(200 if removed else 404, {"cleared": removed})
    return _json(404, {"detail": f"No inspection endpoint {method} /__emulator/{name}"})


def _as_json(item: Any) -> Any:
    as_dict = getattr(item, "as_dict", None)
    return as_dict() if callable(as_dict) else item


async def _add_fault(emulator: Emulator, request: Request) -> Response:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return _json(422, {"detail": "Body must be a JSON object"})
    if not isinstance(body, dict) or "kind" not in body:
        return _json(422, {"detail": "Body must be a JSON object with at least 'kind'"})
    fields: Dict[str, Any] = {key: body.get(key) for key in _FAULT_FIELDS}
    params = dict(body.get("params") or {})
    params.update({k: v for k, v in body.items() if k not in _FAULT_FIELDS and k != "params"})
    try:
        rule = make_rule(fields.pop("kind"), params=params, **fields)
    except (TypeError, ValueError) as exc:
        return _json(422, {"detail": str(exc)})
    emulator._state.faults.add(rule)
    return _json(200, rule.as_dict())
