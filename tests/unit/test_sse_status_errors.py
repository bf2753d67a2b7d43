"""SSE decoding, status parsing and error mapping: pure, no I/O."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fal_client
from fal_client import Completed, InProgress, Queued
from fal_client._errors import error_from_response
from fal_client._sse import SSEDecoder
from fal_client._status import parse_status


def decode(text: str) -> list[str]:
    decoder = SSEDecoder()
    out = []
    for line in text.split("\n"):
        event = decoder.feed(line)
        if event is not None:
            out.append(event.data)
    return out


def test_sse_joins_data_lines_and_ignores_comments() -> None:
    assert decode(': hi\ndata: {"a":\ndata: 1}\n\nevent: x\ndata: 2\n\n') == ['{"a":\n1}', "2"]


def test_sse_drops_an_unterminated_event() -> None:
    assert decode("data: 1\n\ndata: 2") == ["1"]


@given(st.lists(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), max_size=5))
def test_sse_round_trips_json_events(payloads: list[dict[str, int]]) -> None:
    text = "".join(f"data: {json.dumps(p)}\r\n\r\n" for p in payloads)
    decoder = SSEDecoder()
    got = []
    for line in text.split("\n"):
        event = decoder.feed(line)
        if event is not None:
            got.append(event.json())
    assert got == payloads


def test_parse_status_reads_all_three_states() -> None:
    assert parse_status({"status": "IN_QUEUE", "queue_position": 3}) == Queued(3)
    assert parse_status({"status": "IN_PROGRESS", "logs": [{"message": "x"}]}) == InProgress(
        [{"message": "x"}]
    )
    done = parse_status({"status": "COMPLETED", "logs": None, "metrics": {"inference_time": 1.0}})
    assert done == Completed(None, {"inference_time": 1.0})
    failed = parse_status(
        {"status": "COMPLETED", "error": "boom", "error_type": "runner_disconnected"}
    )
    assert isinstance(failed, Completed) and failed.error_type == "runner_disconnected"


@pytest.mark.parametrize("bad", [{"status": "EXPLODED"}, {}, [], "x", {"status": 3}])
def test_parse_status_rejects_malformed(bad: object) -> None:
    with pytest.raises(fal_client.UnexpectedResponseError):
        parse_status(bad, app="me/x", request_id="r1")


@pytest.mark.parametrize(
    ("status", "headers", "cls"),
    [
        (401, {}, fal_client.AuthenticationError),
        (403, {}, fal_client.AuthenticationError),
        (404, {}, fal_client.NotFoundError),
        (422, {}, fal_client.ValidationError),
        (429, {"Retry-After": "7"}, fal_client.RateLimitError),
        (499, {}, fal_client.JobCancelledError),
        (504, {"X-Fal-Request-Timeout-Type": "user"}, fal_client.StartTimeoutError),
        (502, {}, fal_client.ServerError),
        (418, {}, fal_client.FalClientHTTPError),
    ],
)
def test_error_classes_by_status(status: int, headers: dict[str, str], cls: type) -> None:
    err = error_from_response(
        status, {**headers, "x-fal-request-id": "r9"}, b'{"detail": "nope"}', app="me/x"
    )
    assert type(err) is cls
    assert isinstance(err, fal_client.FalClientHTTPError)
    assert err.request_id == "r9" and err.app == "me/x" and err.status_code == status
    assert "nope" in str(err) and "r9" in str(err)


def test_validation_error_keeps_structured_detail_and_readable_message() -> None:
    detail = [{"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}]
    err = error_from_response(422, {}, json.dumps({"detail": detail}).encode())
    assert isinstance(err, fal_client.ValidationError)
    assert err.detail == detail
    assert err.message == detail  # the official client's message: the list itself
    assert err.summary == "prompt: field required"
    assert str(err).startswith(str(detail))
    assert err.field_errors == detail


def test_rate_limit_error_carries_retry_after_and_timeouts_are_timeout_errors() -> None:
    err = error_from_response(429, {"Retry-After": "7"}, b"")
    assert isinstance(err, fal_client.RateLimitError) and err.retry_after == 7.0
    assert isinstance(
        error_from_response(504, {"x-fal-request-timeout-type": "user"}, b""), TimeoutError
    )
    assert issubclass(fal_client.FalClientTimeoutError, TimeoutError)


def test_error_type_from_body_or_header_and_non_json_bodies() -> None:
    err = error_from_response(500, {"X-Fal-Error-Type": "internal_error"}, b"<html>nginx</html>")
    assert err.error_type == "internal_error" and "nginx" in err.message
