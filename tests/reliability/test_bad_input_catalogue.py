"""The bad-input catalogue: every entry names a caller mistake, the exception it must raise, and
words its message must contain; none may send anything. Each API entry runs three ways: the
async client under asyncio and under trio, and the sync client."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

import anyio
import pytest

import fal_client
from fal_client._cli import main as cli
from fal_client.testing import Emulator
from tests.conftest import Driver

Call = Callable[[Any], Any]


def image() -> Any:
    from PIL import Image

    return Image.new("RGB", (2, 2))


# (id, call on a client, exception type, words in the message)
API_CASES: list[tuple[str, Call, type[BaseException], str]] = [
    ("app id without owner", lambda c: c.run("noslash", {}), ValueError, "<appOwner>/<appId>"),
    ("empty app id", lambda c: c.run("", {}), ValueError, "empty"),
    ("URL as app id", lambda c: c.run("https://fal.run/a/b", {}), ValueError, "not a URL"),
    ("empty id segment", lambda c: c.run("a//b", {}), ValueError, "segment"),
    ("dot-dot segment", lambda c: c.run("a/../b", {}), ValueError, "segment"),
    ("app id not a str", lambda c: c.run(123, {}), TypeError, "must be a str"),
    ("object in arguments", lambda c: c.run("test/echo", {"x": object()}), TypeError, "JSON"),
    ("NaN in arguments", lambda c: c.run("test/echo", {"x": float("nan")}), TypeError, "JSON"),
    ("list as arguments", lambda c: c.run("test/echo", [1, 2]), TypeError, "got list"),
    ("str as arguments", lambda c: c.submit("test/echo", "a cat"), TypeError, "JSON object"),
    ("None as arguments", lambda c: c.subscribe("test/echo", None), TypeError, "got NoneType"),
    ("list streamed", lambda c: c.stream("test/tokens", [1]), TypeError, "must be a dict"),
    ("inf in arguments", lambda c: c.run("test/echo", {"x": float("inf")}), TypeError, "JSON"),
    ("bytes without auto_upload", lambda c: c.run("test/echo", {"x": b"1"}), TypeError, "JSON"),
    ("zero timeout", lambda c: c.run("test/echo", {}, timeout=0), ValueError, "timeout"),
    ("negative timeout", lambda c: c.run("test/echo", {}, timeout=-5), ValueError, "timeout"),
    ("timeout as str", lambda c: c.run("test/echo", {}, timeout="5"), TypeError, "timeout"),
    ("bool timeout", lambda c: c.run("test/echo", {}, timeout=True), TypeError, "timeout"),
    (
        "start_timeout <= 1",
        lambda c: c.run("test/echo", {}, start_timeout=1),
        ValueError,
        "start_timeout",
    ),
    ("unknown method", lambda c: c.run("test/echo", {}, method="FETCH"), ValueError, "method"),
    ("GET with a list", lambda c: c.run("test/echo", [1], method="GET"), TypeError, "dict"),
    ("header value not str", lambda c: c.run("test/echo", {}, headers={"X": 1}), TypeError, "str"),
    ("headers not a mapping", lambda c: c.run("test/echo", {}, headers="x"), TypeError, "mapping"),
    (
        "header injection",
        lambda c: c.run("test/echo", {}, headers={"X": "a\r\nb"}),
        ValueError,
        "line break",
    ),
    ("hint with newline", lambda c: c.run("test/echo", {}, hint="a\nb"), ValueError, "hint"),
    (
        "unknown priority",
        lambda c: c.submit("test/echo", {}, priority="high"),
        ValueError,
        "priority",
    ),
    (
        "webhook not http",
        lambda c: c.submit("test/echo", {}, webhook_url="ftp://h/x"),
        ValueError,
        "webhook_url",
    ),
    (
        "webhook not a str",
        lambda c: c.submit("test/echo", {}, webhook_url=5),
        TypeError,
        "webhook_url",
    ),
    (
        "negative client_timeout",
        lambda c: c.subscribe("test/echo", {}, client_timeout=-1),
        ValueError,
        "client_timeout",
    ),
    ("zero interval", lambda c: c.subscribe("test/echo", {}, interval=0), ValueError, "interval"),
    ("empty request id", lambda c: c.status("test/echo", ""), ValueError, "request_id"),
    ("request id with space", lambda c: c.status("test/echo", "a b"), ValueError, "request_id"),
    ("request id with slash", lambda c: c.cancel("test/echo", "a/b"), ValueError, "request_id"),
    ("bad app id for result", lambda c: c.result("bad", "r1"), ValueError, "<appOwner>/<appId>"),
    (
        "stream with bad arguments",
        lambda c: c.stream("test/tokens", {"x": object()}),
        TypeError,
        "JSON",
    ),
    (
        "stream with bad timeout",
        lambda c: c.stream("test/tokens", {}, timeout=-1),
        ValueError,
        "timeout",
    ),
    ("upload without a MIME type", lambda c: c.upload(b"x", "nomime"), ValueError, "content_type"),
    ("upload of a number", lambda c: c.upload(123, "text/plain"), TypeError, "bytes"),
    (
        "upload of a missing file",
        lambda c: c.upload_file("/no/such/file"),
        FileNotFoundError,
        "no such file",
    ),
    ("upload of a directory", lambda c: c.upload_file("/"), IsADirectoryError, "directory"),
    ("upload_image of bytes", lambda c: c.upload_image(b"x"), TypeError, "PIL"),
    (
        "upload_image unknown format",
        lambda c: c.upload_image(image(), "nope"),
        ValueError,
        "format",
    ),
    ("download of a non-URL", lambda c: c.download("not a url", "/tmp"), ValueError, "url"),
    ("map over a string", lambda c: c.map("test/echo", "abc"), TypeError, "iterable"),
    (
        "map with zero concurrency",
        lambda c: c.map("test/echo", [{}], concurrency=0),
        ValueError,
        "concurrency",
    ),
    ("map with a bad app id", lambda c: c.map("bad", [{}]), ValueError, "<appOwner>/<appId>"),
    (
        "realtime max_buffering 0",
        lambda c: c.realtime("test/echo", max_buffering=0),
        ValueError,
        "max_buffering",
    ),
    (
        "realtime max_buffering 61",
        lambda c: c.realtime("test/echo", max_buffering=61),
        ValueError,
        "max_buffering",
    ),
]


def attempt(mode: Driver, call: Call) -> None:
    if mode.is_sync:
        call(mode.sync_client())
        return

    async def main() -> None:
        async with fal_client.AsyncClient(**mode.options) as client:
            value = call(client)
            if inspect.isawaitable(value):
                await value

    anyio.run(main, backend=mode.mode)


@pytest.mark.parametrize(
    ("call", "exc", "words"), [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES]
)
def test_api_bad_input(mode: Driver, emu: Emulator, call: Call, exc: type, words: str) -> None:
    with pytest.raises(exc) as info:
        attempt(mode, call)
    assert words.lower() in str(info.value).lower(), str(info.value)
    assert emu.requests() == [], "nothing may be sent for the caller's mistake"


CONSTRUCTOR_CASES: list[tuple[str, dict[str, Any], type[BaseException], str]] = [
    ("zero default_timeout", {"default_timeout": 0}, ValueError, "default_timeout"),
    ("negative max_retries", {"max_retries": -1}, ValueError, "max_retries"),
    (
        "retry and max_retries",
        {"retry": fal_client.RetryPolicy(), "max_retries": 2},
        ValueError,
        "either",
    ),
    ("non-http run_url", {"run_url": "ftp://x"}, ValueError, "run_url"),
    ("run_url with a query", {"queue_url": "https://q.example/?a=1"}, ValueError, "queue_url"),
    ("empty key", {"key": ""}, ValueError, "key"),
    ("key with a newline", {"key": "a\nb"}, ValueError, "cannot be sent in an HTTP header"),
    ("key with a NUL", {"key": "id:se\x00cret"}, ValueError, "at position 5"),
    ("unknown http library", {"http_library": "requests"}, ValueError, "http_library"),
    ("zero max_connections", {"max_connections": 0}, ValueError, "max_connections"),
    ("auto_upload not a bool", {"auto_upload": "yes"}, TypeError, "auto_upload"),
]


@pytest.mark.parametrize(
    "cls", [fal_client.AsyncClient, fal_client.SyncClient], ids=["async", "sync"]
)
@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [c[1:] for c in CONSTRUCTOR_CASES],
    ids=[c[0] for c in CONSTRUCTOR_CASES],
)
def test_client_options_are_checked(
    cls: type, kwargs: dict[str, Any], exc: type, words: str
) -> None:
    with pytest.raises(exc, match=words):
        cls(**{"key": "k", **kwargs})


@pytest.mark.parametrize(
    ("make", "exc", "words"),
    [
        (lambda: fal_client.RetryPolicy(max_attempts=0), ValueError, "max_attempts"),
        (lambda: fal_client.RetryPolicy(jitter=2), ValueError, "jitter"),
        (lambda: fal_client.encode(b"x", "bad"), ValueError, "content_type"),
        (lambda: fal_client.encode(1, "text/plain"), TypeError, "bytes"),
        (lambda: fal_client.encode_file("/no/such"), FileNotFoundError, "no such file"),
        (
            lambda: fal_client.webhooks.verify({}, b"{}"),
            fal_client.webhooks.WebhookVerificationError,
            "missing",
        ),
    ],
    ids=[
        "retry attempts",
        "retry jitter",
        "encode mime",
        "encode type",
        "encode_file missing",
        "webhook headers",
    ],
)
def test_helpers_check_their_input(make: Callable[[], Any], exc: type, words: str) -> None:
    with pytest.raises(exc) as info:
        make()
    assert words.lower() in str(info.value).lower()


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--emulator", "fal-ai/echo", "-i", "novalue"],
        ["run", "--emulator", "badid", "-i", "a=1"],
        ["run", "--emulator", "fal-ai/echo", "--json", "[1, 2]"],
        ["run", "--emulator", "fal-ai/echo", "--json", "{not json"],
        ["batch", "--emulator", "fal-ai/echo", "/no/such/inputs.jsonl", "-o", "/tmp/x.jsonl"],
    ],
    ids=[
        "input without value",
        "bad app id",
        "json not an object",
        "json unparsable",
        "missing inputs",
    ],
)
def test_cli_bad_input_exits_2(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli(argv) == 2
    assert "error" in capsys.readouterr().err.lower()


def test_the_catalogue_is_big_enough() -> None:
    assert len(API_CASES) + len(CONSTRUCTOR_CASES) + 6 + 5 >= 40
