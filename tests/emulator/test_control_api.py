"""The documented control API under /__emulator/: index, OpenAPI, filters, pages, errors."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from typing import Any, Dict, Iterator, List

import httpx
import jsonschema
import pytest

from fal_client.testing import AppContext, Emulator
from fal_client.testing._inspect_routes import ENDPOINTS, openapi_document

pytestmark = [pytest.mark.timeout(30)]


@pytest.fixture
def control(emulator: Emulator) -> Iterator[httpx.Client]:
    """A client for the control API (no credentials)."""
    with httpx.Client(base_url=emulator.url, timeout=10) as http:
        yield http


@pytest.fixture
def fal(emulator: Emulator) -> Iterator[httpx.Client]:
    """A client for the fal services, with the key."""
    with httpx.Client(
        base_url=emulator.url, headers={"Authorization": f"Key {emulator.key}"}, timeout=10
    ) as http:
        yield http


def _all_pages(control: httpx.Client, url: str) -> List[Dict[str, Any]]:
    items: List[Dict[str, Any]] = []
    next_url: Any = url
    while next_url:
        response = control.get(next_url)
        assert response.status_code == 200, response.text
        items += response.json()
        next_url = response.links.get("next", {}).get("url")
        assert (next_url is None) == ("x-next-cursor" not in response.headers)
    return items


# --- finding one's way ---------------------------------------------------------------------


def test_index_says_where_everything_is(emulator: Emulator, control: httpx.Client) -> None:
    @emulator.app("me/new-app")
    async def new_app(arguments: Dict[str, Any], ctx: AppContext) -> None:
        return None

    index = control.get("/__emulator/").json()

    assert index["env"] == emulator.env
    assert index["dashboard"].endswith("/__emulator/ui")
    assert index["openapi"].endswith("/__emulator/openapi.json")
    assert index["apps"] == [app.name for app in emulator.apps()]
    assert "me/new-app" in index["apps"]
    listed = {(e["method"], e["path"]) for e in index["endpoints"]}
    assert listed == {(e.method, e.path) for e in ENDPOINTS}
    assert {kind["kind"] for kind in index["fault_kinds"]} >= {"ingress_503", "latency"}
    assert all(kind["description"] for kind in index["fault_kinds"])


def test_browsers_get_pages_curl_gets_json(emulator: Emulator, control: httpx.Client) -> None:
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}

    root_json = control.get("/").json()
    root_page = control.get("/", headers=html)
    index_page = control.get("/__emulator/", headers=html)
    reference = control.get("/__emulator/docs")

    assert root_json["dashboard"].endswith("/__emulator/ui") and root_json["env"] == emulator.env
    assert "/__emulator/ui" in root_page.text and "export FAL_KEY=" in root_page.text
    assert index_page.headers["content-type"].startswith("text/html")
    for endpoint in ENDPOINTS:
        assert endpoint.path in reference.text
        assert endpoint.operation_id in reference.text
    assert "X-Next-Cursor" in reference.text and "queue_position" in reference.text
    assert control.get("/__emulator", follow_redirects=False).status_code == 308
    assert control.get("/favicon.ico").status_code == 204  # what a browser asks first
    assert emulator.requests() == []  # none of that is a fal request


def test_unknown_paths_point_to_the_index(control: httpx.Client) -> None:
    elsewhere = control.get("/elsewhere")
    nothing = control.get("/__emulator/nothing")
    wrong_method = control.delete("/__emulator/jobs")

    assert elsewhere.status_code == 404 and "/__emulator/" in elsewhere.json()["detail"]
    assert nothing.status_code == 404 and "GET /__emulator/" in nothing.json()["detail"]
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "GET"


# --- the OpenAPI document ---------------------------------------------------------------------


def test_openapi_document_is_valid_and_covers_every_endpoint(control: httpx.Client) -> None:
    document = control.get("/__emulator/openapi.json").json()

    if importlib.util.find_spec("openapi_spec_validator") is not None:
        from openapi_spec_validator import validate

        validate(document)
    assert document["servers"][0]["url"] == str(control.base_url).rstrip("/")
    documented = {
        (method.upper(), path) for path, methods in document["paths"].items() for method in methods
    }
    assert documented == {(e.method, e.path) for e in ENDPOINTS}
    jobs = document["paths"]["/__emulator/jobs"]["get"]
    names = [param["name"] for param in jobs["parameters"]]
    assert {"app", "status", "since", "limit", "cursor"} <= set(names)
    assert "X-Next-Cursor" in jobs["responses"]["200"]["headers"]
    fields = document["components"]["schemas"]["JobInfo"]["properties"]
    assert fields["queue_position"]["description"].startswith("how many queued jobs")


def _validator(document: Dict[str, Any], schema: Dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {**schema, "components": document["components"]}  # so "#/components/..." resolves
    )


def test_live_answers_match_the_document(
    emulator: Emulator, control: httpx.Client, fal: httpx.Client
) -> None:
    # Something in every list: jobs (one failed), requests, files, streams, a webhook, a fault.
    fal.post("/run/fal-ai/fast-sdxl", json={"prompt": "x"})
    fal.post("/run/fal-ai/fail", json={})
    with fal.stream("POST", "/run/fal-ai/echo/stream", json={}) as response:
        response.read()
    queued = fal.post("/queue/fal-ai/echo?fal_webhook=http://example.com/hook", json={}).json()
    emulator.wait_webhook_delivery(queued["request_id"])
    emulator.faults("latency", operation="status", seconds=0.01)
    document = openapi_document(emulator.url)

    checked = 0
    for endpoint in ENDPOINTS:
        if endpoint.method != "GET" or endpoint.media_type != "application/json":
            continue
        path = endpoint.path.replace("{request_id}", queued["request_id"])
        answer = control.get(path)
        assert answer.status_code == 200, (path, answer.text)
        body = answer.json()
        if endpoint.listing is not None:
            assert body, f"{path} is empty: the test should fill it"
        _validator(document, endpoint.response).validate(body)
        checked += 1
    assert checked >= 9


# --- errors for what a list does not take -----------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_every_endpoint_refuses_unknown_parameters(
    endpoint: Any, emulator: Emulator, control: httpx.Client
) -> None:
    path = endpoint.path.replace("{request_id}", "r").replace("{fault_id}", "1")
    path = path.replace("{file_id}", "f").replace("{asset}", "dashboard.js")
    emulator.faults("status_500", operation="status")

    answer = control.request(endpoint.method, path, params={"bogus": "1"})

    assert answer.status_code == 400, answer.text
    assert answer.json()["parameter"] == "bogus" and "'bogus'" in answer.json()["detail"]
    # Nothing was done: not reset, not cleared.
    assert len(control.get("/__emulator/faults").json()) == 1


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("app=fal-ai/echo&colour=red", "colour"),
        ("limit=0", "limit"),
        ("status=DONE", "status"),
        ("since=last-tuesday", "since"),
        ("order=random", "order"),
        ("cursor=xyz", "cursor"),
    ],
)
def test_bad_list_parameters_are_400(query: str, parameter: str, control: httpx.Client) -> None:
    answer = control.get(f"/__emulator/jobs?{query}")

    assert answer.status_code == 400
    assert answer.json()["parameter"] == parameter


# --- filters and pages on every list ---------------------------------------------------------


def test_jobs_filter_by_app_status_since_and_via(
    emulator: Emulator, control: httpx.Client, fal: httpx.Client
) -> None:
    gate = emulator.gate()

    @emulator.app("me/held", workers=1)
    async def held(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        await gate.wait()
        return {}

    before = time.time()
    fal.post("/run/fal-ai/echo", json={})
    fal.post("/run/fal-ai/fail", json={})
    running = fal.post("/queue/me/held", json={}).json()["request_id"]
    waiting = fal.post("/queue/me/held", json={}).json()["request_id"]
    emulator.wait_job_status(running, status="IN_PROGRESS")

    def ids(query: str) -> List[str]:
        return [job["request_id"] for job in control.get(f"/__emulator/jobs?{query}").json()]

    assert ids("app=me/held") == [running, waiting]
    assert ids("app=me/*&status=IN_QUEUE") == [waiting]
    assert control.get("/__emulator/jobs?status=IN_QUEUE").json()[0]["queue_position"] == 0
    assert ids("status=IN_QUEUE,IN_PROGRESS") == [running, waiting]
    assert len(ids("status=COMPLETED&via=run")) == 2
    assert [job["app"] for job in control.get("/__emulator/jobs?status=FAILED").json()] == [
        "fal-ai/fail"
    ]
    assert len(ids(f"since={before}")) == 4 and ids(f"since={time.time() + 60}") == []
    assert ids(f"request_id={waiting}") == [waiting]
    gate.open()


def test_requests_filter_by_status_class_app_and_operation(
    emulator: Emulator, control: httpx.Client, fal: httpx.Client
) -> None:
    fal.post("/run/fal-ai/echo", json={})
    fal.post("/run/fal-ai/fail", json={})
    fal.get("/queue/fal-ai/echo/requests/nope/status")
    emulator.faults("status_500", operation="submit", count=1)
    fal.post("/queue/fal-ai/echo", json={})

    def paths(query: str) -> List[Any]:
        answer = control.get(f"/__emulator/requests?{query}").json()
        return [(r["path"], r["status_code"]) for r in answer]

    assert paths("status=4xx") == [
        ("/run/fal-ai/fail", 422),
        ("/queue/fal-ai/echo/requests/nope/status", 404),
    ]
    assert paths("status=5xx") == [("/queue/fal-ai/echo", 500)]
    assert paths("status=200&app=fal-ai/echo") == [("/run/fal-ai/echo", 200)]
    assert paths("operation=status") == [("/queue/fal-ai/echo/requests/nope/status", 404)]
    newest = control.get("/__emulator/requests?order=desc&limit=1").json()[0]
    assert newest["fault"] == "status_500" and newest["duration"] is not None


def test_requests_page_through_a_large_log(
    emulator: Emulator, control: httpx.Client, fal: httpx.Client
) -> None:
    for i in range(23):
        fal.post("/run/fal-ai/echo", json={"i": i})

    everything = control.get("/__emulator/requests").json()
    first = control.get("/__emulator/requests?limit=10")
    paged = _all_pages(control, "/__emulator/requests?limit=10")
    newest_first = _all_pages(control, "/__emulator/requests?limit=7&order=desc")

    assert len(everything) == 23 and first.headers["x-total-count"] == "23"
    assert len(first.json()) == 10
    assert paged == everything
    assert newest_first == everything[::-1]


def test_files_webhooks_streams_faults_and_apps_filter(
    emulator: Emulator, control: httpx.Client, fal: httpx.Client
) -> None:
    image = fal.post("/run/fal-ai/fast-sdxl", json={"prompt": "x"}).json()
    queued = fal.post("/queue/fal-ai/echo?fal_webhook=http://example.com/h", json={}).json()
    emulator.wait_webhook_delivery(queued["request_id"])
    with fal.stream("POST", "/run/fal-ai/text-streamer/stream", json={"text": "a b"}) as r:
        r.read()
    emulator.wait_stream_finished(r.headers["x-fal-request-id"])
    emulator.faults("status_500", app="fal-ai/echo", count=0)
    emulator.faults("latency", seconds=0.001)

    files = control.get("/__emulator/files?app=fal-ai/fast-sdxl&source=app").json()
    assert [f["url"] for f in files] == [image["images"][0]["url"]]
    assert control.get("/__emulator/files?source=cdn").json() == []
    failed = control.get("/__emulator/webhooks?status=failed").json()
    assert [w["request_id"] for w in failed] == [queued["request_id"]]
    assert failed[0]["app"] == "fal-ai/echo" and failed[0]["created_at"] > 0
    assert control.get("/__emulator/webhooks?status=delivered").json() == []
    streams = control.get("/__emulator/streams?kind=stream&status=finished").json()
    assert [s["app"] for s in streams] == ["fal-ai/text-streamer"]
    assert control.get("/__emulator/streams?status=open").json() == []
    exhausted = control.get("/__emulator/faults?status=exhausted").json()
    assert [f["kind"] for f in exhausted] == ["status_500"]
    assert [f["kind"] for f in control.get("/__emulator/faults?app=fal-ai/*").json()] == [
        "status_500"
    ]
    streaming = [a["name"] for a in control.get("/__emulator/apps?kind=streaming").json()]
    assert "fal-ai/text-streamer" in streaming
    assert streaming == [a.name for a in emulator.apps() if a.kind == "streaming"]
    apps = _all_pages(control, "/__emulator/apps?limit=2")
    assert [a["name"] for a in apps] == [a.name for a in emulator.apps()]


# --- single items ------------------------------------------------------------------------------


def test_job_detail_has_input_logs_and_result(
    emulator: Emulator, control: httpx.Client, fal: httpx.Client
) -> None:
    gate = emulator.gate()

    @emulator.app("me/logs")
    async def logs(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        ctx.log("first")
        await gate.wait()
        ctx.log("second", level="WARN")
        return {"done": arguments["n"]}

    request_id = fal.post("/queue/me/logs", json={"n": 7}).json()["request_id"]
    emulator.wait_until(lambda: len(emulator.job_logs(request_id)) == 1)
    running = control.get(f"/__emulator/jobs/{request_id}").json()
    gate.open()
    emulator.wait_job_status(request_id, status="COMPLETED")
    done = control.get(f"/__emulator/jobs/{request_id}").json()
    failed_id = fal.post("/run/fal-ai/fail", json={}).headers["x-fal-request-id"]
    failed = control.get(f"/__emulator/jobs/{failed_id}").json()

    assert running["status"] == "IN_PROGRESS" and running["arguments"] == {"n": 7}
    assert [line["message"] for line in running["logs"]] == ["first"]
    assert done["result"] == {"done": 7} and done["error"] is None
    assert done["arguments"] == {"n": 7}  # kept after completion
    assert [line["level"] for line in done["logs"]] == ["INFO", "WARN"]
    assert failed["status_code"] == 422 and failed["error"] and failed["result"]["detail"]
    assert control.get("/__emulator/jobs/no-such-job").status_code == 404


def test_file_content_is_neither_recorded_nor_faulted(
    emulator: Emulator, control: httpx.Client, fal: httpx.Client
) -> None:
    image = fal.post("/run/fal-ai/fast-sdxl", json={"prompt": "x"}).json()["images"][0]
    stored = emulator.files()[0]
    emulator.faults("status_500")  # every fal request fails now
    recorded = len(emulator.requests())

    content = control.get(f"/__emulator/files/{stored.file_id}/content")

    assert content.status_code == 200 and content.headers["content-type"] == "image/png"
    assert content.headers["content-security-policy"] == "sandbox"
    assert content.content[:8] == b"\x89PNG\r\n\x1a\n" and len(content.content) == stored.size
    assert stored.url == image["url"] and stored.app == "fal-ai/fast-sdxl"
    assert len(emulator.requests()) == recorded
    assert control.get("/__emulator/files/nope/content").status_code == 404


def test_dashboard_is_served_by_the_package_with_a_strict_policy(control: httpx.Client) -> None:
    page = control.get("/__emulator/ui")
    script = control.get("/__emulator/ui/dashboard.js")
    style = control.get("/__emulator/ui/dashboard.css")

    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "/__emulator/ui/dashboard.js" in page.text and "http" not in page.text.split("<body")[0]
    assert script.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in script.text
    assert style.headers["content-type"].startswith("text/css")
    assert control.get("/__emulator/ui/secret.py").status_code == 404


# --- live change events -------------------------------------------------------------------


class _Events:
    """Reads /__emulator/events in a thread; the test waits on what arrived."""

    def __init__(self, url: str) -> None:
        self.events: List[str] = []
        self.ended = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()

    def _read(self, url: str) -> None:
        try:
            with httpx.stream("GET", url, timeout=httpx.Timeout(10, read=None)) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        with self._changed:
                            self.events.append(line[6:])
                            self._changed.notify_all()
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def wait_for(self, text: str, *, after: int = 0, timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(after, len(self.events)):
                    if text in self.events[index]:
                        return index
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no event with {text!r}: {self.events}")
                self._changed.wait(left)


def test_events_name_what_changed_and_survive_a_reset(
    emulator: Emulator, fal: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    events = _Events(f"{emulator.url}/__emulator/events")
    hello = events.wait_for('"topics"')
    assert "apps" in events.events[hello]

    fal.post("/run/fal-ai/echo", json={})
    seen = events.wait_for('"jobs"', after=hello + 1)
    emulator.faults("status_500", count=1)
    seen = events.wait_for('"faults"', after=seen + 1)
    emulator.reset()
    seen = events.wait_for('"files"', after=seen + 1)  # a reset says everything changed
    fal.post("/run/fal-ai/echo", json={})
    events.wait_for('"requests"', after=seen + 1)

    started = time.monotonic()
    emulator.stop()
    assert events.ended.wait(5)
    # An open event stream must not hold up stop() for uvicorn's 2 s graceful shutdown, nor
    # leave the server complaining about an unfinished response.
    assert time.monotonic() - started < 1.5
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
