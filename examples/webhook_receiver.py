"""Webhooks: receive fal's completion callback and verify its Ed25519 signature.

``handle_webhook`` is framework-neutral (headers and raw body in, status and reply out); here it
is served by the standard library's WSGI server, but the same two lines work in Flask, Django,
Starlette or FastAPI (use ``await fal_client.webhooks.verify_async(...)`` in async handlers).

Against a local emulator (`fal-client emulator` prints the variables to export) this script starts
the receiver on 127.0.0.1, submits a job with ``webhook_url`` pointing at it, and prints what
arrived. The JWKS URL defaults to fal's, or to ``$FAL_REST_URL/.well-known/jwks.json`` when
FAL_REST_URL points elsewhere (the emulator). In production the receiver must be reachable
from fal (a public HTTPS URL).
"""

import json
import queue
import threading
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, make_server

import fal_client
from fal_client import webhooks

received: "queue.Queue[dict[str, Any]]" = queue.Queue()


def handle_webhook(headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    """Verify one delivery and act on it; answer 401 to anything not signed by fal."""
    try:
        hook = webhooks.verify(headers, body)
    except webhooks.WebhookVerificationError as exc:
        print("rejected webhook:", exc.code, exc)
        return 401, {"error": exc.code}
    event = hook.json()
    received.put(event)
    return 200, {"ok": True}


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    status, reply = handle_webhook(headers, body)
    start_response(
        f"{status} {'OK' if status == 200 else 'Unauthorized'}",
        [
            ("Content-Type", "application/json"),
        ],
    )
    return [json.dumps(reply).encode()]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    server = make_server("127.0.0.1", 0, wsgi_app, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/fal-webhook"
    try:
        handle = fal_client.submit("fal-ai/echo", {"hello": "webhook"}, webhook_url=url)
        print("submitted", handle.request_id, "with webhook", url)
        event = received.get(timeout=30)
        print("verified webhook:", event["status"], "for", event["request_id"])
        print("payload:", event["payload"])
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
