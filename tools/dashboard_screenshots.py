"""Take the screenshots of the emulator's dashboard that docs/emulator.md shows.

    python tools/dashboard_screenshots.py              # writes docs/images/dashboard-*.png
    python tools/dashboard_screenshots.py --out DIR

It starts an emulator, gives it something to show (queued and running jobs with logs, finished
and failed ones, generated images, a webhook, a fault, an open realtime session), opens the
dashboard in headless Chromium (Debian's ``chromium``, driven by Playwright) at a laptop's
1440x900 (``--size``), and saves one picture per tab. Needs the dev extras and
``/usr/bin/chromium``.
"""

from __future__ import annotations

import argparse
import http.server
import threading
from pathlib import Path
from typing import Any, Dict, Iterator

import httpx
from playwright.sync_api import Page, expect, sync_playwright

import fal_client
from fal_client.testing import AppContext, Emulator

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class _Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _populate(emu: Emulator) -> Iterator[None]:
    gate = emu.gate()

    @emu.app("demo/upscale", workers=2)
    async def upscale(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        """Upscales an image (a demo app that waits until released).

        Inputs:
            image_url: the image to upscale.
            scale: 2 or 4 (default 2).

        Example:
            {"image_url": "https://example.com/cat.png", "scale": 2}
        """
        ctx.log("loading model")
        ctx.log(f"upscaling x{arguments.get('scale', 2)}")
        await gate.wait()
        return {"ok": True}

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    key = {"Authorization": f"Key {emu.key}"}
    with httpx.Client(base_url=emu.url, headers=key, timeout=30) as web:
        for prompt in ("a lighthouse at dawn", "an origami fox", "a teapot in the rain"):
            web.post("/run/fal-ai/fast-sdxl", json={"prompt": prompt, "image_size": "square"})
        web.post("/run/fal-ai/echo", json={"hello": "world"})
        web.post("/run/fal-ai/fail", json={"prompt": "x"})
        done = web.post(f"/queue/fal-ai/echo?fal_webhook={hook}", json={"n": 1}).json()
        emu.wait_webhook_delivery(done["request_id"])
        with web.stream("POST", "/run/fal-ai/text-streamer/stream", json={"text": "hi there"}) as r:
            r.read()
        for scale in (2, 4, 2, 4, 2):
            web.post(
                "/queue/demo/upscale",
                json={"image_url": "https://example.com/a.png", "scale": scale},
            )
        emu.wait_until(lambda: len([j for j in emu.jobs() if j.status == "IN_QUEUE"]) == 3)
        emu.faults("rate_limit", app="fal-ai/echo", operation="submit", count=2, retry_after=1)
        web.post("/queue/fal-ai/echo", json={})
        client = fal_client.SyncClient(
            key=emu.key,
            run_url=emu.env["FAL_RUN_URL"],
            queue_url=emu.env["FAL_QUEUE_URL"],
            rest_url=emu.env["FAL_REST_URL"],
            cdn_url=emu.env["FAL_CDN_URL"],
        )
        with client, client.realtime("fal-ai/realtime-echo") as session:
            for i in range(3):
                session.send({"frame": i})
                session.recv()
            try:
                yield
            finally:
                gate.open()
                receiver.shutdown()


def _shoot(page: Page, url: str, tab: str, out: Path) -> None:
    page.goto(f"{url}/__emulator/ui#{tab}")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    if tab == "queue":
        expect(page.locator('[data-column="IN_QUEUE"] .job')).to_have_count(3)
        page.locator('[data-column="IN_PROGRESS"] .job').first.click()
        expect(page.locator("#job-logs li")).to_have_count(2)
    elif tab == "files":
        expect(page.locator(".file img")).to_have_count(3)
        page.wait_for_function(
            "[...document.querySelectorAll('.file img')].every(i => i.complete && i.naturalWidth)"
        )
    elif tab == "requests":
        expect(page.locator("#requests-table tbody tr").first).to_be_visible()
    elif tab == "faults":
        expect(page.locator("#faults-table [data-fault-id]")).to_have_count(1)
    elif tab == "realtime":
        expect(page.locator('#realtime-table tr[data-state="open"]')).to_have_count(1)
    elif tab == "apps":
        expect(page.locator('#apps-table [data-app="demo/upscale"]')).to_be_visible()
    page.screenshot(path=str(out / f"dashboard-{tab}.png"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--size", default="1440x900", help="the window, WIDTHxHEIGHT")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with Emulator() as emu:
        scenario = _populate(emu)
        next(scenario)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=args.chromium, args=CHROMIUM_ARGS
                )
                width, height = (int(n) for n in args.size.split("x"))
                page = browser.new_page(viewport={"width": width, "height": height})
                page.set_default_timeout(15_000)
                for tab in ("queue", "apps", "requests", "files", "faults", "realtime"):
                    _shoot(page, emu.url, tab, args.out)
                    print(f"wrote {args.out / f'dashboard-{tab}.png'}")
                browser.close()
        finally:
            next(scenario, None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
