"""Property tests (hypothesis) for data URLs and URL building."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

import fal_client
from fal_client import Endpoints, parse_app_id

mime = st.from_regex(r"[a-z]{1,10}/[a-z0-9.+-]{1,15}", fullmatch=True)
segment = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,8}", fullmatch=True)
request_id = st.from_regex(r"[A-Za-z0-9-]{1,36}", fullmatch=True)


@given(data=st.binary(max_size=2048), content_type=mime)
def test_data_urls_round_trip(data: bytes, content_type: str) -> None:
    url = fal_client.encode(data, content_type)
    header, _, payload = url.partition(",")
    assert header == f"data:{content_type};base64"
    assert base64.b64decode(payload, validate=True) == data


@given(text=st.text(max_size=200))
def test_str_data_is_utf8(text: str) -> None:
    payload = fal_client.encode(text, "text/plain").partition(",")[2]
    assert base64.b64decode(payload).decode("utf-8") == text


@given(owner=segment, alias=segment, path=st.lists(segment, max_size=3), rid=request_id)
def test_queue_urls_are_consistent(owner: str, alias: str, path: list[str], rid: str) -> None:
    if owner in ("workflows", "comfy"):
        return
    app = parse_app_id("/".join([owner, alias, *path]))
    e = Endpoints(queue_url="http://127.0.0.1:9/queue", run_url="http://127.0.0.1:9/run")
    base = e.request(app, rid)
    assert base == f"http://127.0.0.1:9/queue/{owner}/{alias}/requests/{rid}"
    assert e.status(app, rid) == base + "/status"
    assert e.status_stream(app, rid) == base + "/status/stream"
    assert e.cancel(app, rid) == base + "/cancel"
    assert e.submit(app).endswith("/" + app.full) and e.run(app).startswith(e.run_url + "/")
    for url in (base, e.submit(app), e.run(app)):
        assert e.is_fal_url(url)


@given(hook=st.text(min_size=1, max_size=60).map(lambda t: "http://127.0.0.1/h?" + t))
def test_webhook_url_survives_encoding(hook: str) -> None:
    e = Endpoints()
    query = urlsplit(e.submit(parse_app_id("me/app"), webhook_url=hook)).query
    assert parse_qs(query, keep_blank_values=True)["fal_webhook"] == [hook]
