"""Break each guarantee on purpose and show that its tests notice.

    python tools/break_guarantees.py            # every mutation (about two minutes)
    python tools/break_guarantees.py --list     # what each mutation breaks
    python tools/break_guarantees.py -k tls     # the mutations whose name contains "tls"

A guarantee is only as good as the test that would catch its loss. For each entry below this
script checks out the committed tree into a scratch git worktree, runs the guarantee's tests
there unchanged (they must pass), applies one small edit that breaks the guarantee (the same
edit a careless refactor could make), runs the same tests again (they must now fail), and
throws the worktree away. The repository you run it from is never modified, so it is safe
while other work goes on. ``tests/test_tooling.py`` checks that every edit still applies, so
this list cannot silently rot. Results are recorded in ``docs/reliability.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    """One guarantee, the edit that breaks it, and the tests that must notice."""

    name: str
    guarantee: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments: node ids or a path followed by "-k", expr


MUTATIONS = [
    Mutation(
        "remote-cancel",
        "giving up on a wait cancels the remote job",
        "fal_client/_queue.py",
        '                await self.cancel()\n                logger.debug("cancelled remote',
        '                pass\n                logger.debug("cancelled remote',
        ("tests/reliability/test_cancellation_census.py", "-k", "subscribe or get or map"),
    ),
    Mutation(
        "ctrl-c-abandons",
        "Ctrl-C in a sync call cancels its task and waits for the cleanup",
        "fal_client/_portal.py",
        "        except BaseException:\n            self.abandon()\n            raise",
        "        except BaseException:\n            raise",
        ("tests/reliability/test_cancellation_census.py", "-k", "sync_call and (run or get)"),
    ),
    Mutation(
        "ctrl-c-window",
        "Ctrl-C the instant after a sync call is scheduled still cancels it",
        "fal_client/_portal.py",
        "        try:\n            if not self._scheduled:\n                self.start()\n",
        "        if not self._scheduled:\n            self.start()\n        try:\n",
        ("tests/unit/test_portal_interrupts.py",),
    ),
    Mutation(
        "body-closed",
        "a request body abandoned mid-send is closed before the call returns",
        "fal_client/_transport.py",
        "                finally:\n                    await body.close()",
        "                finally:\n                    pass",
        ("tests/unit/test_resource_cleanup.py",),
    ),
    Mutation(
        "download-atomic",
        "a download never leaves a partial file behind",
        "fal_client/_download.py",
        "            tmp.unlink(missing_ok=True)",
        "            pass",
        ("tests/reliability/test_cancellation_census.py", "-k", "download"),
    ),
    Mutation(
        "multipart-never-completed-on-failure",
        "a multipart upload that failed is never completed",
        "fal_client/_tasks.py",
        "    if failure is not None:\n        raise failure\n",
        "",
        ("tests/files/test_uploads.py", "-k", "part"),
    ),
    Mutation(
        "submit-not-resent",
        "a POST that may have created a paid job is never sent twice",
        "fal_client/_transport.py",
        "if sent_maybe and not repeatable:",
        "if False:",
        (
            "tests/core/test_retries.py",
            "tests/reliability/test_fault_suite.py",
            "-k",
            "resent or submit",
        ),
    ),
    Mutation(
        "key-only-to-fal",
        "the key goes only to fal's origins",
        "fal_client/_transport.py",
        "if authorize and self.endpoints.is_fal_url(url):",
        "if True:",
        ("tests/core/test_retries.py", "-k", "key_goes_only_to_fal"),
    ),
    Mutation(
        "secret-not-in-repr",
        "the key never shows in a repr",
        "fal_client/_auth.py",
        'return f"<{type(self).__name__} scheme={self.scheme} (secret hidden)>"',
        'return f"<{type(self).__name__} {vars(self)}>"',
        ("tests/unit/test_auth.py", "tests/core/test_retries.py", "-k", "repr"),
    ),
    Mutation(
        "tls-verified",
        "TLS certificates are verified",
        "fal_client/_http_pool.py",
        "    context = shared_ssl_context(lib)\n",
        "    context = lib.create_ssl_context(verify=False)\n",
        ("tests/reliability/test_tls.py",),
    ),
    Mutation(
        "retry-after-honoured",
        "a server's Retry-After is honoured",
        "fal_client/_retry.py",
        "            return max(retry_after, 0.0)",
        "            pass",
        ("tests/core/test_retries.py", "tests/unit", "-k", "retry_after"),
    ),
    Mutation(
        "map-bounded",
        "map never has more than `concurrency` jobs in flight",
        "fal_client/_aimd.py",
        "return in_flight < self.limit and now >= self.resume_at",
        "return now >= self.resume_at",
        ("tests/core/test_map.py", "tests/batch", "-k", "bounded or one_connection"),
    ),
    Mutation(
        "map-hears-429",
        "a map hears every answer its requests receive, 429s absorbed by retries included",
        "fal_client/_transport.py",
        "                report_answer(response.status_code)",
        "                (lambda _: None)(response.status_code)",
        ("tests/batch/test_rate_limit.py",),
    ),
    Mutation(
        "map-scattered-429s",
        "scattered refused submits do not shrink a map's concurrency",
        "fal_client/_aimd.py",
        "        if not below_maximum and not self._signal(self._submits):",
        "        if False:",
        ("tests/batch/test_rate_limit.py", "tests/batch/test_aimd.py"),
    ),
    Mutation(
        "resume-no-duplicates",
        "a resumed map never submits a job the manifest knows about",
        "fal_client/_batch.py",
        "            handle = queue.handle(application, entry.request_id)",
        "            handle = await queue.submit(application, self.arguments, **fanout.options)",
        ("tests/batch/test_manifest.py",),
    ),
    Mutation(
        "done-after-output",
        "a manifest records a result as done only once the consumer handled it",
        "fal_client/_batch.py",
        "                fanout.unjournalled[self.index] = fanout.entry_record(",
        "                await fanout.record(",
        ("tests/batch/test_cli_resume.py", "tests/batch/test_manifest.py", "-k", "done"),
    ),
    Mutation(
        "webhook-signature",
        "a webhook whose signature does not verify is rejected",
        "fal_client/webhooks.py",
        "            key.verify(signed.signature, signed.message)\n            return True",
        "            return True",
        ("tests/webhooks/test_verify.py",),
    ),
    Mutation(
        "bad-input-before-sending",
        "arguments that are not JSON fail before anything is sent",
        "fal_client/_validate.py",
        '        raise TypeError(f"{what} must be JSON-serialisable: {exc}") from exc',
        "        return b'{}'",
        ("tests/reliability/test_bad_input_catalogue.py",),
    ),
    Mutation(
        "status-stream-reconnects",
        "a status stream cut mid-way is reopened and the job still delivered",
        "fal_client/_queue.py",
        "                    reconnects += 1\n                    logger.debug(",
        "                    raise\n                    logger.debug(",
        ("tests/reliability/test_fault_suite.py", "-k", "sse_cut"),
    ),
    Mutation(
        "control-api-unknown-parameters",
        "a list refuses a query parameter it does not take, naming it",
        "fal_client/testing/_listing.py",
        "        if name not in by_name and name not in PAGING_PARAMETERS:",
        "        if False:",
        ("tests/emulator/test_control_api.py", "-k", "unknown or bad"),
    ),
    Mutation(
        "control-api-pages",
        "following a list's next-page cursor visits every item once",
        "fal_client/testing/_listing.py",
        "next_cursor = encode_cursor(listing, query.descending, chosen[-1][0])",
        "next_cursor = encode_cursor(listing, query.descending, chosen[0][0])",
        ("tests/emulator/test_control_api.py", "-k", "page"),
    ),
    Mutation(
        "dashboard-live-updates",
        "the dashboard shows changes as they happen (its event stream drives it)",
        "fal_client/testing/_static/dashboard.js",
        'source.addEventListener("change", (event) => {',
        'source.addEventListener("changed", (event) => {',
        ("tests/emulator/test_dashboard_browser.py",),
    ),
    Mutation(
        "dashboard-job-status-code",
        "a completed job's card shows its status code",
        "fal_client/testing/_static/dashboard.js",
        "      right = statusChip(job.status_code);",
        '      right = h("span", {}, "");',
        ("tests/emulator/test_dashboard_browser.py",),
    ),
    Mutation(
        "dashboard-request-duration",
        "the requests table shows each request's duration",
        "fal_client/testing/_static/dashboard.js",
        '          h("td", { class: "num" }, duration(request.duration)),',
        '          h("td", { class: "num" }, ""),',
        ("tests/emulator/test_dashboard_browser.py",),
    ),
    Mutation(
        "dashboard-image-preview",
        "a stored image is previewed on the files tab",
        "fal_client/testing/_static/dashboard.js",
        'isImage ? h("img", { src, alt: file.file_name }) : file.content_type',
        "file.content_type",
        ("tests/emulator/test_dashboard_browser.py",),
    ),
    Mutation(
        "sync-subscribe-interrupt-cancels",
        "a Ctrl-C between a sync subscribe's submit and its wait still cancels the job",
        "fal_client/_sync_base.py",
        "            self._cancel()\n            raise\n\n    def _cancel",
        "            raise\n\n    def _cancel",
        ("tests/core/test_cancellation.py", "-k", "between or sigint"),
    ),
    Mutation(
        "metering-sees-each-call-once",
        "a wrapper on a class's method sees the calls it sees with the official client",
        "fal_client/_queue.py",
        "            if submit_via is not None:\n                return await handle.get(",
        "            if False:\n                return await handle.get(",
        ("tests/compat/test_census.py", "-k", "metering"),
    ),
    Mutation(
        "lost-submit-found-not-resent",
        "a submit whose answer was lost is attached to the job the history lists, never re-sent",
        "fal_client/_reconcile.py",
        "        return Match(Verdict.FOUND, found)",
        "        return Match(Verdict.ABSENT_PROVEN)",
        (
            "tests/reliability/test_lost_submit_recovery.py",
            "tests/batch/test_cli_resume_recovery.py",
            "-k",
            "found or attaches",
        ),
    ),
    Mutation(
        "status-stream-fallback",
        "without a status stream the client polls instead",
        "fal_client/_queue.py",
        "            if exc.status_code in (405, 501):",
        "            if False:",
        ("tests/core", "-k", "poll or stream"),
    ),
    Mutation(
        "pool-shards-fill-in-order",
        "requests stay on open connections: the pool's shards fill in order",
        "fal_client/_http_pool.py",
        "        if slots > 0:\n            return shard\n",
        "        if slots > 99:\n            return shard\n",
        (
            "tests/unit/test_http_pool.py",
            "tests/batch/test_rate_limit.py",
            "-k",
            "slot or holds_one",
        ),
    ),
    Mutation(
        "unread-body-stops-socket-reads",
        "an unread response body stops the socket's reads instead of growing memory",
        "fal_client/_asyncio_network.py",
        "                transport.pause_reading()\n",
        "                pass\n",
        ("tests/unit/test_asyncio_network.py", "-k", "nobody_reads"),
    ),
    Mutation(
        "cancel-at-connect-leaves-nothing",
        "a caller cancelled as its connection is made sends nothing and leaves nothing open",
        "fal_client/_asyncio_network.py",
        "            await anyio.lowlevel.checkpoint_if_cancelled()\n",
        "            pass\n",
        ("tests/unit/test_asyncio_network.py", "-k", "cancel_as"),
    ),
    Mutation(
        "pool-slot-goes-to-a-waiter",
        "a request waiting for a connection gets the slot the next finished request frees",
        "fal_client/_asyncio_pool.py",
        "                waiter.set_result(None)\n                return\n",
        "                pass\n",
        ("tests/unit/test_asyncio_pool.py", "-k", "beyond_the_limit"),
    ),
    Mutation(
        "pool-slot-passed-on-by-a-cancelled-waiter",
        "a slot handed to a request as it is cancelled is passed on, not lost",
        "fal_client/_asyncio_pool.py",
        "                self._give_slot()  # handed a slot",
        "                pass  # handed a slot",
        ("tests/unit/test_asyncio_pool.py", "-k", "handed_over"),
    ),
    Mutation(
        "pool-idle-expiry",
        "an idle connection older than keepalive_expiry is closed, not reused",
        "fal_client/_asyncio_pool.py",
        "            if now - connection.idle_since > self._expiry:",
        "            if False:",
        ("tests/unit/test_asyncio_pool.py", "-k", "expired"),
    ),
    Mutation(
        "pool-unread-body-closes-connection",
        "a response whose body was not read to the end never hands its connection on",
        "fal_client/_asyncio_pool.py",
        "        if reuse and not self._closed and connection.reusable():",
        "        if not self._closed:",
        ("tests/unit/test_asyncio_pool.py", "-k", "unread"),
    ),
    Mutation(
        "pool-limit-counts-idle",
        "max_connections bounds the sockets open, idle connections to other hosts included",
        "fal_client/_asyncio_pool.py",
        "        while self._slots_taken + self._idle_count > self._max and self._idle_count:",
        "        while False:",
        ("tests/unit/test_asyncio_pool.py", "-k", "other_hosts"),
    ),
]


def run_pytest(tree: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, lines[-1] if lines else proc.stderr.strip()[-200:]


def apply(tree: Path, mutation: Mutation) -> None:
    path = tree / mutation.path
    text = path.read_text()
    if text.count(mutation.old) != 1:
        raise SystemExit(
            f"{mutation.name}: the text to break occurs {text.count(mutation.old)} times in "
            f"{mutation.path}; update the mutation"
        )
    path.write_text(text.replace(mutation.old, mutation.new))


def check(mutation: Mutation) -> bool:
    with tempfile.TemporaryDirectory(prefix="fal-mutation-") as scratch:
        tree = Path(scratch) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(tree), "HEAD"],
            cwd=ROOT,
            check=True,
        )
        try:
            started = time.monotonic()
            intact, intact_summary = run_pytest(tree, mutation.tests)
            apply(tree, mutation)
            broken, broken_summary = run_pytest(tree, mutation.tests)
            took = time.monotonic() - started
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    # pytest exits 1 when tests failed; other codes (usage or collection errors, interrupts)
    # say nothing about the guarantee.
    proven = intact == 0 and broken == 1
    verdict = (
        "caught"
        if proven
        else "TESTS FAIL UNBROKEN"
        if intact != 0
        else "NOT CAUGHT"
        if broken == 0
        else f"PYTEST EXIT {broken}"
    )
    print(f"{verdict:>18}  {mutation.name:<38} {took:5.1f}s")
    print(f"{'':>20}intact: {intact_summary}")
    print(f"{'':>20}broken: {broken_summary}")
    return proven


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="only mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.k in m.name]
    if args.list:
        for m in chosen:
            print(f"{m.name:<38} {m.guarantee}  ({m.path}; tests: {' '.join(m.tests)})")
        return 0
    results = [check(m) for m in chosen]
    print(f"\n{sum(results)}/{len(results)} broken guarantees were caught by their tests")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
