"""The dashboard at /__emulator/ui, in a real browser: headless Chromium (Debian's ``chromium``)
driven by Playwright, against a running emulator.

Everything is driven from Python (submits, gates, faults) and the page must show it without a
reload: the page learns of changes only from the emulator's event stream, so these tests fail
if the live updates break, and every check waits on the page (Playwright's auto-waiting
``expect``, with a deadline), never on a sleep. One browser serves the module; each test gets
a fresh context and fails if the page logged a JavaScript error or asked anything of another
origin (the dashboard must work offline).
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import threading
from typing import Any, Dict, Iterator, List

import httpx
import pytest

import fal_client
from fal_client.testing import AppContext, Emulator

pytestmark = [pytest.mark.timeout(60)]

if os.environ.get("CI"):
    import playwright.sync_api as playwright_api  # CI runs these tests: no skipping there
else:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="needs playwright")

Page = playwright_api.Page
expect = playwright_api.expect

#: What Chromium needs here: no sandbox as root, and none of its own network traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    found = os.environ.get("FAL_TEST_CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    message = "no chromium: apt-get install chromium (CI installs it in .ci/run)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    executable = _chromium()
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, emulator: Emulator) -> Iterator[Page]:
    """The dashboard, loaded and live, in a fresh browser context."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    problems: List[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    tab.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((emulator.url, "data:"))
            else problems.append(f"request elsewhere: {request.url}")
        ),
    )
    tab.goto(f"{emulator.url}/__emulator/ui")
    expect(tab.locator("#live")).to_have_attribute("data-state", "live")
    try:
        yield tab
    finally:
        context.close()
    assert problems == []


@pytest.fixture
def fal(emulator: Emulator) -> Iterator[httpx.Client]:
    """A client for the fal services, with the key."""
    with httpx.Client(
        base_url=emulator.url, headers={"Authorization": f"Key {emulator.key}"}, timeout=10
    ) as http:
        yield http


def _card(page: Page, column: str, request_id: str) -> Any:
    return page.locator(f'[data-column="{column}"] .job[data-request-id="{request_id}"]')


def test_jobs_appear_move_through_the_queue_and_complete(
    emulator: Emulator, page: Page, fal: httpx.Client
) -> None:
    logged, finish = emulator.gate(), emulator.gate()

    @emulator.app("me/render", workers=1)
    async def render(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        ctx.log("loading the model")
        await logged.wait()
        ctx.log(f"rendering frame {arguments['frame']}")
        await finish.wait()
        return {"frame": arguments["frame"], "ok": True}

    first = fal.post("/queue/me/render", json={"frame": 1}).json()["request_id"]
    second = fal.post("/queue/me/render", json={"frame": 2}).json()["request_id"]

    expect(_card(page, "IN_PROGRESS", first)).to_be_visible()
    waiting = _card(page, "IN_QUEUE", second)
    expect(waiting.locator("[data-position]")).to_have_text("position 0")
    _card(page, "IN_PROGRESS", first).click()
    detail = page.locator("#job-detail")
    expect(detail.locator("[data-field=status]")).to_have_text("IN_PROGRESS")
    expect(detail.locator("#job-logs li")).to_have_text(["INFO loading the model"])
    expect(detail.locator("pre.json").first).to_contain_text('"frame": 1')  # its input

    logged.open()  # a log line arrives while the page shows the job
    expect(detail.locator("#job-logs li")).to_have_count(2)
    expect(detail.locator("#job-logs li").nth(1)).to_contain_text("rendering frame 1")

    finish.open()
    done = _card(page, "COMPLETED", first)
    expect(done.locator("[data-status-code]")).to_have_text("200")
    expect(detail.locator("#job-result")).to_contain_text('"ok": true')
    expect(_card(page, "COMPLETED", second)).to_be_visible()  # the second ran once freed
    expect(page.locator('[data-column="IN_QUEUE"] .job')).to_have_count(0)

    failed = fal.post("/run/fal-ai/fail", json={}).headers["x-fal-request-id"]
    _card(page, "COMPLETED", failed).click()
    expect(_card(page, "COMPLETED", failed)).to_have_attribute("data-failed", "true")
    expect(detail.locator("#job-error")).to_contain_text("This app always fails")
    expect(page.locator('[data-count="jobs"]')).to_have_text("3")


def test_a_fault_added_on_the_page_fails_the_next_request(
    emulator: Emulator, page: Page, fal: httpx.Client
) -> None:
    page.goto(f"{emulator.url}/__emulator/ui#faults")
    page.select_option("#fault-kind", "http_status")
    page.select_option("#fault-operation", "run")
    page.fill("#fault-app", "fal-ai/echo")
    page.fill("#fault-count", "1")
    page.fill("#fault-params", '{"status_code": 418, "detail": "teapot"}')
    page.click("#fault-add")

    row = page.locator('#faults-table tr[data-kind="http_status"]')
    expect(row).to_be_visible()
    [rule] = httpx.get(f"{emulator.url}/__emulator/faults").json()
    assert (rule["kind"], rule["operation"], rule["app"], rule["count"]) == (
        "http_status",
        "run",
        "fal-ai/echo",
        1,
    )
    assert rule["params"] == {"status_code": 418, "detail": "teapot"}
    refused = fal.post("/run/fal-ai/echo", json={})
    served = fal.post("/run/fal-ai/echo", json={})
    assert (refused.status_code, refused.json()["detail"]) == (418, "teapot")
    assert served.status_code == 200
    expect(row.locator("[data-field=applied]")).to_have_text("1")

    page.goto(f"{emulator.url}/__emulator/ui#requests")
    rows = page.locator("#requests-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator("[data-status-code]")).to_have_text("418")  # newest first
    expect(rows.nth(1)).to_contain_text("http_status")

    page.goto(f"{emulator.url}/__emulator/ui#faults")
    page.select_option("#fault-kind", "status_500")
    page.fill("#fault-count", "")
    page.fill("#fault-params", "")
    page.click("#fault-add")
    unlimited = page.locator('#faults-table tr[data-kind="status_500"]')
    expect(unlimited).to_be_visible()
    assert fal.post("/run/fal-ai/echo", json={}).status_code == 500
    unlimited.get_by_role("button", name="Remove").click()
    expect(unlimited).to_have_count(0)
    assert [r["kind"] for r in httpx.get(f"{emulator.url}/__emulator/faults").json()] == [
        "http_status"
    ]
    assert fal.post("/run/fal-ai/echo", json={}).status_code == 200


def test_a_stored_image_previews_and_opens(
    emulator: Emulator, page: Page, fal: httpx.Client
) -> None:
    result = fal.post("/run/fal-ai/fast-sdxl", json={"prompt": "a fox", "image_size": "square"})
    stored = emulator.files()[0]
    assert stored.url == result.json()["images"][0]["url"]
    recorded = len(emulator.requests())

    page.goto(f"{emulator.url}/__emulator/ui#files")
    card = page.locator(f'.file[data-file-id="{stored.file_id}"]')
    expect(card).to_contain_text("image-0.png")
    expect(card).to_contain_text("fal-ai/fast-sdxl")
    preview = card.locator("img")
    page.wait_for_function(
        "image => image.complete && image.naturalWidth === 128", arg=preview.element_handle()
    )
    with page.expect_popup() as opened:
        card.locator("a.open").click()
    image_tab = opened.value
    image_tab.wait_for_load_state()
    assert image_tab.url == f"{emulator.url}/__emulator/files/{stored.file_id}/content"
    size = image_tab.evaluate("[document.images[0].naturalWidth, document.images[0].naturalHeight]")
    assert size == [128, 128]
    assert len(emulator.requests()) == recorded  # looking did not add fal requests


class _Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_requests_webhooks_and_realtime_connections_show_live(
    emulator: Emulator, page: Page, fal: httpx.Client
) -> None:
    page.goto(f"{emulator.url}/__emulator/ui#requests")
    fal.post("/run/fal-ai/echo", json={"n": 1})
    row = page.locator('#requests-table tr[data-operation="run"]')
    expect(row).to_contain_text("/run/fal-ai/echo")
    expect(row.locator("[data-status-code]")).to_have_text("200")
    expect(row.locator("td.num")).to_have_text(re.compile(r"^\d+\.\d ms$"))  # its duration

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        queued = fal.post(f"/queue/fal-ai/echo?fal_webhook={hook}", json={}).json()
        page.goto(f"{emulator.url}/__emulator/ui#webhooks")
        delivery = page.locator(f'#webhooks-table tr[data-request-id="{queued["request_id"]}"]')
        expect(delivery).to_have_attribute("data-state", "delivered")
        expect(delivery).to_contain_text(hook)
    finally:
        receiver.shutdown()
        receiver.server_close()

    page.goto(f"{emulator.url}/__emulator/ui#realtime")
    env = emulator.env
    client = fal_client.SyncClient(
        key=env["FAL_KEY"],
        run_url=env["FAL_RUN_URL"],
        queue_url=env["FAL_QUEUE_URL"],
        rest_url=env["FAL_REST_URL"],
        cdn_url=env["FAL_CDN_URL"],
    )
    sessions = page.locator("#realtime-table tr[data-request-id]")
    with client:
        with client.realtime("fal-ai/realtime-echo") as session:
            session.send({"hello": 1})
            assert session.recv() == {"hello": 1, "counter": 1}
            expect(sessions).to_have_attribute("data-state", "open")
            expect(page.locator("#realtime-open")).to_have_text("1 open")
            expect(sessions.locator("td.num").first).to_have_text("1")  # one input
        expect(sessions).to_have_attribute("data-state", "closed")
    expect(page.locator("#realtime-open")).to_have_text("0 open")


def test_apps_come_from_the_registry_and_can_be_tried(emulator: Emulator, page: Page) -> None:
    @emulator.app("me/greeter")
    async def greeter(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        """Greets someone.

        Inputs:
            name: who to greet.

        Example:
            {"name": "Ada"}
        """
        return {"greeting": f"hello {arguments['name']}"}

    page.goto(f"{emulator.url}/__emulator/ui#apps")
    rows = page.locator("#apps-table tbody tr[data-app]")
    expect(rows).to_have_count(len(emulator.apps()))
    for app in emulator.apps():
        row = page.locator(f'#apps-table tr[data-app="{app.name}"]')
        expect(row).to_contain_text(app.kind)
        for name in app.inputs:
            expect(row.locator(".inputs")).to_contain_text(name)
    expect(page.locator('#apps-table tr[data-app="me/greeter"]')).to_contain_text("Greets someone.")

    page.select_option("#try-app", "me/greeter")
    expect(page.locator("#try-input")).to_have_value('{\n  "name": "Ada"\n}')
    page.check('input[name="via"][value="run"]')
    page.click("#try-submit")
    expect(page.locator("#try-output")).to_contain_text('"greeting": "hello Ada"')
    page.check('input[name="via"][value="queue"]')
    page.click("#try-submit")
    expect(page.locator("[data-tab=queue]")).to_have_class(re.compile("active"))
    emulator.wait_until(lambda: any(job.via == "queue" for job in emulator.jobs()))
    [job] = [job for job in emulator.jobs() if job.via == "queue"]
    expect(_card(page, "COMPLETED", job.request_id)).to_have_class(re.compile("selected"))
    expect(page.locator("#job-result")).to_contain_text("hello Ada")
