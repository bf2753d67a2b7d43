"""The ``fal-client`` command line: one-off calls, batches, the emulator, and the demo.

Every command runs the async engine under ``anyio.run``; ``--emulator`` runs it against an
embedded emulator instead of fal.ai. Exit codes (``EXIT_CODES``): 0 success, 1 a job or
request failed, 2 bad usage or input, 3 missing or rejected credentials, 124 a timeout (as
``timeout(1)`` exits), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any, Callable, Optional

import anyio

from ._asyncfile import open_file
from ._batch import BatchResult, Progress
from ._cli_args import cost, count, port, seconds
from ._cli_platform import CommandBody
from ._cli_platform import add_commands as add_platform_commands
from ._client import AsyncClient
from ._errors import (
    AuthenticationError,
    BudgetExceededError,
    FalClientConnectionError,
    FalClientError,
    FalClientTimeoutError,
    InputValidationError,
    MissingCredentialsError,
    NotFoundError,
    StartTimeoutError,
    SubmitNotConfirmedError,
)
from ._manifest import check_header, check_input, input_key, parse_manifest
from ._status import InProgress, Queued, Status, status_to_json
from ._version import __version__

DEMO_PROMPTS = [
    "a lighthouse at dawn",
    "a fox in the snow",
    "a teapot on the moon",
    "a city of glass",
    "a robot gardener",
    "an origami whale",
    "a library under the sea",
    "a neon forest",
    "a cat astronaut",
    "a paper boat in a storm",
]


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _arguments(ns: argparse.Namespace) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if getattr(ns, "json", None):
        try:
            loaded = json.loads(ns.json)
        except ValueError as exc:
            raise ValueError(f"--json is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise ValueError("--json must be a JSON object")
        args.update(loaded)
    for item in getattr(ns, "input", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"-i expects key=value, got {item!r}")
        args[key] = _parse_value(value)
    return args


@asynccontextmanager
async def _emulator_client() -> AsyncIterator[AsyncClient]:
    """An embedded emulator and a client pointed at it (``--emulator`` and the demo)."""
    from .testing import Emulator

    async with Emulator() as emu:
        env = emu.env
        async with AsyncClient(
            key=env["FAL_KEY"],
            run_url=env["FAL_RUN_URL"],
            queue_url=env["FAL_QUEUE_URL"],
            rest_url=env["FAL_REST_URL"],
            cdn_url=env["FAL_CDN_URL"],
            api_url=env["FAL_API_URL"],
        ) as client:
            yield client


@asynccontextmanager
async def _client(ns: argparse.Namespace) -> AsyncIterator[AsyncClient]:
    if getattr(ns, "emulator", False):
        async with _emulator_client() as client:
            yield client
    else:
        async with AsyncClient() as client:
            yield client


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _with_client(body: CommandBody) -> Callable[[argparse.Namespace], Awaitable[int]]:
    """The handler of a command whose body runs with the command's client."""

    async def handler(ns: argparse.Namespace) -> int:
        async with _client(ns) as client:
            return await body(ns, client)

    return handler


async def _cmd_run(ns: argparse.Namespace) -> int:
    async with _client(ns) as client:
        _print_json(await client.run(ns.app, _arguments(ns), validate=ns.validate))
    return 0


class _WaitReporter:
    """What a waiting ``subscribe``/``result`` shows on stderr: the queue position and state as
    they change, and each new log line once (nothing with ``--quiet``)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self._last = ""
        self._logs_shown = 0

    def __call__(self, status: Status) -> None:
        if self.quiet:
            return
        if isinstance(status, Queued):
            line = f"queued (position {status.position})"
        elif isinstance(status, InProgress):
            line = "running"
        else:
            line = "completed"
        if line != self._last:
            print(line, file=sys.stderr)
            self._last = line
        logs = getattr(status, "logs", None) or []
        for entry in logs[self._logs_shown :]:  # statuses carry every line so far
            print(f"  log: {entry.get('message', entry)}", file=sys.stderr)
        self._logs_shown = max(self._logs_shown, len(logs))


async def _cmd_subscribe(ns: argparse.Namespace) -> int:
    async with _client(ns) as client:
        result = await client.subscribe(
            ns.app,
            _arguments(ns),
            validate=ns.validate,
            client_timeout=ns.timeout,
            with_logs=not ns.quiet,
            on_queue_update=_WaitReporter(ns.quiet),
        )
        _print_json(result)
    return 0


async def _cmd_submit(ns: argparse.Namespace) -> int:
    async with _client(ns) as client:
        handle = await client.submit(ns.app, _arguments(ns), validate=ns.validate)
        print(handle.request_id)
    _note_emulator_gone(ns, "its request id")
    return 0


def _note_emulator_gone(ns: argparse.Namespace, what: str) -> None:
    if getattr(ns, "emulator", False):
        print(
            f"note: the embedded emulator (--emulator) stopped with this command; {what} "
            "refers to nothing now",
            file=sys.stderr,
        )


async def _cmd_status(ns: argparse.Namespace) -> int:
    async with _client(ns) as client:
        status = await client.status(ns.app, ns.request_id, with_logs=ns.logs)
    shown = status_to_json(status)
    if not ns.logs:
        _print_json(shown)
        return 0
    # JSON lines, as batch's --progress json: one object per log line (fal's own shape), then
    # the status without them, so `tail -n 1` is the status and the rest can be filtered.
    for entry in shown.pop("logs", None) or []:
        print(json.dumps(entry, default=str))
    print(json.dumps(shown, default=str))
    return 0


async def _cmd_result(ns: argparse.Namespace) -> int:
    async with _client(ns) as client:
        handle = await client.get_handle(ns.app, ns.request_id)
        result = await handle.get(
            cancel_on_give_up=ns.cancel_on_interrupt,
            with_logs=not ns.quiet,
            on_queue_update=_WaitReporter(ns.quiet),
        )
        _print_json(result)
    return 0


async def _cmd_cancel(ns: argparse.Namespace) -> int:
    async with _client(ns) as client:
        await client.cancel(ns.app, ns.request_id)
        print("cancellation requested")
    return 0


# Files at least this large show upload progress on stderr.
UPLOAD_PROGRESS_BYTES = 8 * 1024 * 1024


class _UploadProgress:
    """Bytes sent of an upload on stderr: a rich bar on a terminal, else a plain line at most
    twice a second and one at the end."""

    def __init__(self, label: str):
        self.label = label
        self._last = 0.0
        self._bar: Any = None
        self._task: Any = None
        if sys.stderr.isatty():
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    DownloadColumn,
                    TransferSpeedColumn,
                )
                from rich.progress import (
                    Progress as RichProgress,
                )

                self._bar = RichProgress(
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    console=Console(stderr=True),
                )
            except ImportError:
                self._bar = None

    def __call__(self, sent: int, total: int) -> None:
        if self._bar is not None:
            if self._task is None:
                self._bar.start()
                self._task = self._bar.add_task(self.label, total=total)
            self._bar.update(self._task, completed=sent)
            if sent >= total:
                self._bar.stop()
            return
        now = time.monotonic()
        if sent >= total or now - self._last >= 0.5:
            self._last = now
            mb = 1024 * 1024
            print(
                f"uploaded {sent / mb:.1f}/{total / mb:.1f} MiB ({100 * sent // max(total, 1)}%)",
                file=sys.stderr,
            )


async def _cmd_upload(ns: argparse.Namespace) -> int:
    size = (await anyio.Path(ns.file).stat()).st_size if await anyio.Path(ns.file).is_file() else 0
    show = not ns.quiet and size >= UPLOAD_PROGRESS_BYTES
    async with _client(ns) as client:
        progress = _UploadProgress(str(ns.file)) if show else None
        print(await client.upload_file(ns.file, progress=progress))
    _note_emulator_gone(ns, "the URL")
    return 0


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


PROGRESS_MODES = ("auto", "rich", "plain", "json", "none")


class _ProgressView:
    """Live progress on stderr: a rich bar, plain lines, JSON lines (for scripts), or nothing.

    ``auto`` is the rich bar on a terminal and plain lines (at most two a second) otherwise.
    ``json`` prints every update as one JSON object per line, unthrottled.
    """

    def __init__(self, total: int, label: str, mode: str = "auto"):
        self.total = total
        self.label = label
        self._rich: Any = None
        self._task: Any = None
        if mode == "auto":
            mode = "rich" if sys.stderr.isatty() else "plain"
        if mode == "rich":
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    TextColumn,
                    TimeElapsedColumn,
                )
                from rich.progress import (
                    Progress as RichProgress,
                )

                self._rich = RichProgress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[detail]}"),
                    TimeElapsedColumn(),
                    console=Console(stderr=True),
                    transient=False,
                )
            except ImportError:
                mode = "plain"
        self.mode = mode
        self._last_plain = 0.0

    def __enter__(self) -> _ProgressView:
        if self._rich is not None:
            self._rich.__enter__()
            self._task = self._rich.add_task(self.label, total=self.total, detail="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(None, None, None)

    def update(self, p: Progress) -> None:
        if self.mode == "none":
            return
        if self.mode == "json":
            record = {
                "total": self.total,
                "submitted": p.submitted,
                "queued": p.queued,
                "running": p.running,
                "done": p.done,
                "failed": p.failed,
                "limit": p.limit,
                "rate_limited": p.rate_limited,
                "elapsed": round(p.elapsed, 3),
                "throughput": round(p.throughput, 2),
            }
            print(json.dumps(record), file=sys.stderr, flush=True)
            return
        detail = (
            f"queued {p.queued}  running {p.running}  done {p.done}  failed {p.failed}  "
            f"{p.throughput:.0f} jobs/s"
        )
        if p.rate_limited:
            detail += f"  (rate limited: {p.rate_limited}, in flight <= {p.limit})"
        if self._rich is not None:
            self._rich.update(self._task, completed=p.finished, detail=detail)
        elif time.monotonic() - self._last_plain > 0.5 or p.finished == self.total:
            self._last_plain = time.monotonic()
            print(f"{self.label}: {p.finished}/{self.total}  {detail}", file=sys.stderr)


async def _cmd_demo(ns: argparse.Namespace) -> int:
    count = ns.count
    out_dir = Path(ns.out)
    prompts = [
        {"prompt": f"{DEMO_PROMPTS[i % len(DEMO_PROMPTS)]} #{i}", "seed": i} for i in range(count)
    ]
    print(
        f"fal-client {__version__} demo: {count} prompts through fal-ai/fast-sdxl "
        "on the embedded emulator (no network needed)"
    )
    async with _emulator_client() as client:
        results: list[BatchResult] = []
        started = time.monotonic()
        with _ProgressView(count, "generating") as view:
            async with client.map(
                "fal-ai/fast-sdxl",
                prompts,
                concurrency=ns.concurrency,
                ordered=False,
                return_exceptions=True,
                on_progress=view.update,
            ) as batch:
                async for item in batch:
                    results.append(item)
        elapsed = time.monotonic() - started
        failed = [r for r in results if not r.ok]
        urls = [
            (r.index, image["url"]) for r in results if r.ok for image in r.result.get("images", [])
        ]
        limiter = anyio.CapacityLimiter(16)
        await anyio.Path(out_dir).mkdir(parents=True, exist_ok=True)

        async def fetch(index: int, url: str) -> None:
            async with limiter:
                await client.download(url, out_dir / f"{index:04d}.png", overwrite=True)

        async with anyio.create_task_group() as tg:
            for index, url in urls:
                tg.start_soon(fetch, index, url)
    latencies = [r.latency for r in results if r.latency is not None]
    print()
    print(f"jobs:        {len(results)} ({len(results) - len(failed)} ok, {len(failed)} failed)")
    print(f"images:      {len(urls)} saved to {out_dir}/")
    print(
        f"latency:     p50 {1000 * _percentile(latencies, 0.5):.1f} ms, "
        f"p95 {1000 * _percentile(latencies, 0.95):.1f} ms"
    )
    print(
        f"throughput:  {len(results) / elapsed:.1f} jobs/s over {elapsed:.2f} s "
        f"(concurrency {ns.concurrency})"
    )
    for r in failed[:5]:
        print(f"  failed #{r.index}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def _read_inputs(path: str) -> list[dict[str, Any]]:
    inputs = []
    if not Path(path).is_file():
        what = "is a directory" if Path(path).is_dir() else "no such file"
        raise ValueError(f"INPUTS {path}: {what}")
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{line_no}: not JSON ({exc})") from exc
            if not isinstance(value, dict):
                raise ValueError(f"{path}:{line_no}: each line must be a JSON object")
            inputs.append(value)
    return inputs


def _manifest_path(ns: argparse.Namespace) -> Path:
    return Path(ns.manifest) if ns.manifest else Path(str(ns.output) + ".manifest")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:  # one of them does not exist (yet): compare where they would be
        return a.resolve() == b.resolve()


def _check_batch_files(ns: argparse.Namespace, manifest: Path) -> None:
    """Refuse, before anything is read or written, an output that would overwrite the input
    or the manifest."""
    inputs, output = Path(ns.inputs), Path(ns.output)
    if _same_file(output, inputs):
        raise ValueError(
            f"-o {ns.output} is the input file {ns.inputs}: writing results there would destroy "
            "the inputs; choose another output file"
        )
    if _same_file(output, manifest):
        raise ValueError(
            f"-o {ns.output} is the manifest file: choose another output file (or --manifest)"
        )


def _check_resumable(ns: argparse.Namespace, manifest: Path, inputs: list[Any]) -> None:
    """Refuse a --resume whose manifest is for another app or other inputs now, before the
    output file is opened (and truncated), rather than when the map reaches the mismatch."""
    try:
        data = manifest.read_bytes()
    except FileNotFoundError:
        return
    state = parse_manifest(data, source=str(manifest))
    check_header(state, app=ns.app, path="", source=str(manifest))
    for index, arguments in enumerate(inputs):
        check_input(state.entries.get(index), index, input_key(arguments), source=str(manifest))


#: A batch stops once its first this-many results all failed the same way, for a cause that
#: will fail every other input too (see ``_FailFast``); ``--keep-going`` runs every input.
FAIL_FAST_AFTER = 5


def _fails_every_input(error: BaseException) -> bool:
    """Errors that say nothing about one input: the key, the server, the app itself."""
    if isinstance(error, (MissingCredentialsError, AuthenticationError)):
        return True
    if isinstance(error, NotFoundError):
        return error.request_id is None  # the submit itself: the app does not exist
    # Unreachable or refused; a lost submit answer (the job may exist) is per input.
    return isinstance(error, FalClientConnectionError) and not isinstance(
        error, SubmitNotConfirmedError
    )


class _FailFast:
    """The fail-fast rule of ``batch``: the first ``FAIL_FAST_AFTER`` results are all failures
    of one kind (same exception type and status) that ``_fails_every_input``, and none of the
    batch succeeded. Anything else (a success, another error) and the batch runs to the end."""

    def __init__(self, after: int = FAIL_FAST_AFTER):
        self.after = after
        self._count = 0
        self._kind: Optional[tuple[type, Optional[int]]] = None
        self._off = False

    def stop_for(self, item: BatchResult) -> Optional[BaseException]:
        """The error to stop the batch for, once the rule holds; else ``None``."""
        if self._off:
            return None
        error = item.error
        if error is None or not _fails_every_input(error):
            self._off = True
            return None
        kind = (type(error), getattr(error, "status_code", None))
        if self._kind is None:
            self._kind = kind
        elif kind != self._kind:
            self._off = True
            return None
        self._count += 1
        return error if self._count >= self.after else None


def _is_regular_file(file: IO[str]) -> bool:
    """Whether ``file`` can be fsync'd (not a pipe or terminal: ``-o /dev/stdout``)."""
    return stat.S_ISREG(os.fstat(file.fileno()).st_mode)


def _append_line(file: IO[str], line: str, durable: bool) -> None:
    """Write one output line through to the disk (one thread hop for write, flush and fsync:
    the manifest it must precede is fsync'd too)."""
    file.write(line)
    file.flush()
    if durable:
        os.fsync(file.fileno())


async def _cmd_batch(ns: argparse.Namespace) -> int:
    manifest = _manifest_path(ns)
    _check_batch_files(ns, manifest)
    inputs = await anyio.to_thread.run_sync(_read_inputs, ns.inputs)
    if await anyio.Path(manifest).exists() and not ns.resume:
        raise ValueError(
            f"{manifest} exists (an earlier run of this batch): pass --resume to continue it "
            "without resubmitting anything, or delete it to start over"
        )
    if ns.resume:
        await anyio.to_thread.run_sync(_check_resumable, ns, manifest, inputs)
    if ns.dry_run:
        async with _client(ns) as client:
            return await _dry_run(ns, client, inputs)
    failed = over_budget = 0
    stopped_for: Optional[BaseException] = None
    fail_fast = _FailFast() if not ns.keep_going else None
    started = time.monotonic()
    # The output is rewritten in full on every run: results of earlier runs come back from
    # the manifest, so OUT.jsonl always ends up with one line per input. Each line is flushed
    # as it is written, so the file can be followed (tail -f) while the batch runs. It is
    # opened only once the map has started: a batch refused at its start (over --max-cost, a
    # manifest of another batch) leaves an earlier run's output as it was.
    async with _client(ns) as client:
        with _ProgressView(len(inputs), ns.app, ns.progress) as view:
            async with (
                client.map(
                    ns.app,
                    inputs,
                    concurrency=ns.concurrency,
                    ordered=False,
                    return_exceptions=True,
                    on_progress=view.update,
                    client_timeout=ns.timeout,
                    manifest=manifest,
                    validate=ns.validate,
                    max_cost=ns.max_cost,
                    recover_lost_submit=ns.recover,
                ) as batch,
                open_file(ns.output, "w") as out,
            ):
                durable = _is_regular_file(out.wrapped)
                async for item in batch:
                    record: dict[str, Any] = {"index": item.index, "request_id": item.request_id}
                    if item.ok:
                        record["result"] = item.result
                    else:
                        failed += 1
                        over_budget += isinstance(item.error, BudgetExceededError)
                        record["error"] = str(item.error)
                        record["error_type"] = type(item.error).__name__
                    # Durable before the loop asks for the next result, which is when the map
                    # journals this one as done: after kill -9 the output holds every result
                    # the manifest records as done.
                    line = json.dumps(record) + "\n"
                    await anyio.to_thread.run_sync(_append_line, out.wrapped, line, durable)
                    stopped_for = fail_fast.stop_for(item) if fail_fast else None
                    if stopped_for is not None:
                        break  # leaving the block ends the map (its manifest keeps the rest)
    elapsed = time.monotonic() - started
    if stopped_for is not None:
        print(
            f"fal-client: stopped: the first {FAIL_FAST_AFTER} inputs all failed with "
            f"{type(stopped_for).__name__}: {stopped_for}\nthat would fail every input; fix it "
            "and run the same command with --resume (or pass --keep-going to try every input)",
            file=sys.stderr,
        )
        return exit_code_of(stopped_for)
    print(
        f"{len(inputs) - failed} done, {failed} failed in {elapsed:.2f}s; results in {ns.output}",
        file=sys.stderr,
    )
    if over_budget:
        print(
            f"fal-client: stopped submitting at --max-cost {ns.max_cost:g}: {over_budget} "
            "inputs were not sent; run the same command with --resume and a larger --max-cost "
            "to do them (nothing done is paid for twice)",
            file=sys.stderr,
        )
        return 2
    if failed:
        print(
            f"fal-client: {failed} of {len(inputs)} inputs failed (see 'error' in {ns.output})",
            file=sys.stderr,
        )
    return 1 if failed else 0


#: How many refused inputs ``batch --dry-run`` shows (all are counted).
DRY_RUN_SHOWN = 10


async def _dry_run(ns: argparse.Namespace, client: AsyncClient, inputs: list[Any]) -> int:
    """``batch --dry-run``: check every input and price the batch; submit and write nothing."""
    report: dict[str, Any] = {"app": ns.app, "inputs": len(inputs)}
    refused: list[dict[str, Any]] = []
    report["validated"] = False
    if ns.validate:
        try:
            schema = await client.platform.schema(ns.app)
        except FalClientError as exc:
            report["validation_skipped"] = f"{type(exc).__name__}: {exc}"
        else:
            report["validated"] = True
            for index, arguments in enumerate(inputs):
                problems = schema.problems(arguments)
                if problems:
                    refused.append({"index": index, "problems": [str(p) for p in problems]})
    report["invalid"] = len(refused)
    report["first_invalid"] = refused[:DRY_RUN_SHOWN]
    try:
        estimate = await client.platform.estimate({ns.app: len(inputs)})
    except FalClientError as exc:
        report["estimate"] = None
        report["estimate_error"] = f"{type(exc).__name__}: {exc}"
        over_budget = ns.max_cost is not None  # a budget that cannot be checked is not kept
    else:
        report["estimate"] = {"total_cost": estimate.total_cost, "currency": estimate.currency}
        over_budget = ns.max_cost is not None and estimate.total_cost > ns.max_cost
    if ns.max_cost is not None:
        report["max_cost"] = ns.max_cost
        report["within_budget"] = not over_budget
    _print_json(report)
    print("dry run: nothing was submitted and no file was written", file=sys.stderr)
    return 2 if refused or over_budget else 0


def _cmd_emulator(ns: argparse.Namespace) -> int:
    from .testing import serve_forever

    try:
        serve_forever(ns.host, ns.port, key=ns.key, allow_remote=ns.allow_remote)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise OSError(
            f"cannot listen on {ns.host}:{ns.port} (--host/--port): {exc.strerror or exc}"
        ) from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fal-client`` (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="fal-client",
        description=__doc__.splitlines()[0].replace("``", ""),
        epilog="exit codes: " + ", ".join(f"{code} {what}" for code, what in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"fal-client {__version__}")
    parser.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="event loop to run on (default asyncio)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_emulator(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--emulator", action="store_true", help="run against an embedded emulator")
        return p

    def with_inputs(p: argparse.ArgumentParser) -> None:
        p.add_argument("app", help="app id, e.g. fal-ai/fast-sdxl")
        p.add_argument(
            "-i",
            "--input",
            action="append",
            metavar="KEY=VALUE",
            help="an argument (VALUE is parsed as JSON when it can be)",
        )
        p.add_argument("--json", help="all arguments as one JSON object")
        p.add_argument(
            "--validate",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="check the arguments against the app's input schema before sending them "
            "(default; --no-validate sends them unchecked)",
        )

    p = with_emulator(sub.add_parser("run", help="run an app directly and print its result"))
    with_inputs(p)
    p.set_defaults(handler=_cmd_run)
    p = with_emulator(sub.add_parser("subscribe", help="queue a job, wait, print its result"))
    with_inputs(p)
    p.add_argument(
        "--timeout", type=seconds, default=None, help="give up (and cancel) after SECONDS"
    )
    p.add_argument(
        "--quiet", action="store_true", help="do not show the queue position and logs on stderr"
    )
    p.set_defaults(handler=_cmd_subscribe)
    p = with_emulator(sub.add_parser("submit", help="queue a job and print its request id"))
    with_inputs(p)
    p.set_defaults(handler=_cmd_submit)
    for name, handler, text in (
        ("status", _cmd_status, "print a queued request's status"),
        ("result", _cmd_result, "wait for a queued request and print its result"),
        ("cancel", _cmd_cancel, "cancel a queued request"),
    ):
        p = with_emulator(sub.add_parser(name, help=text))
        p.add_argument("app", help="app id the request was submitted to, e.g. fal-ai/fast-sdxl")
        p.add_argument("request_id", help="the request id submit printed")
        if name == "status":
            p.add_argument(
                "--logs",
                action="store_true",
                help="print JSON lines instead: one object per log line, then the status",
            )
        if name == "result":
            p.add_argument(
                "--quiet",
                action="store_true",
                help="do not show the queue position and logs on stderr while waiting",
            )
            p.add_argument(
                "--cancel-on-interrupt",
                action="store_true",
                help="cancel the job when this command is interrupted (Ctrl-C); by default the "
                "job, which may be someone else's, keeps running",
            )
        p.set_defaults(handler=handler)
    p = with_emulator(sub.add_parser("upload", help="upload a file and print its URL"))
    p.add_argument("file", help="the file to upload to fal's storage")
    p.add_argument(
        "--quiet", action="store_true", help="no progress on stderr (shown for files of 8 MiB+)"
    )
    p.set_defaults(handler=_cmd_upload)
    add_platform_commands(sub, with_emulator, _with_client)
    p = with_emulator(
        sub.add_parser(
            "batch",
            help="run every line of a JSONL file through an app (resumable)",
            description=(
                "Run every line of INPUTS (one JSON object per line) through APP with at most "
                "-c jobs in flight, writing one JSON line per input to -o: {index, request_id, "
                "result} or {index, request_id, error, error_type}. Every submission and result "
                "is journalled in a manifest (default OUTPUT.manifest); after a crash or Ctrl-C, "
                "run the same command with --resume: nothing already submitted is submitted "
                "again. Exit codes: 0 all done, 1 some inputs failed, 2 bad usage/inputs/"
                "manifest, 3 missing or rejected credentials, 130 interrupted."
            ),
        )
    )
    p.add_argument("app", help="app id, e.g. fal-ai/fast-sdxl")
    p.add_argument("inputs", help="JSONL file, one argument object per line")
    p.add_argument("-o", "--output", required=True, help="JSONL file to write results to")
    p.add_argument(
        "-c", "--concurrency", type=count, default=16, help="most jobs in flight (default 16)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the manifest of an earlier run (re-attach, never resubmit)",
    )
    p.add_argument("--manifest", help="manifest path (default: OUTPUT.manifest)")
    p.add_argument(
        "--keep-going",
        action="store_true",
        help=f"try every input even when the first {FAIL_FAST_AFTER} all fail the same way "
        "for a reason that fails every input (a rejected key, an unknown app, no server)",
    )
    p.add_argument("--timeout", type=seconds, default=None, help="per-job limit in seconds")
    p.add_argument(
        "--validate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="check each input against the app's input schema before submitting it "
        "(default; an input it refuses fails unsent; --no-validate sends every input unchecked)",
    )
    p.add_argument(
        "--max-cost",
        type=cost,
        default=None,
        metavar="USD",
        help="refuse to start if the platform API's estimate is over USD, and stop submitting "
        "once what was started would exceed it (the rest can be done later with --resume)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check every input and print the estimate as JSON; submit and write nothing "
        "(exit 2 when an input is refused or the estimate is over --max-cost)",
    )
    p.add_argument(
        "--no-recover",
        dest="recover",
        action="store_false",
        help="do not look a submit whose answer was lost up in the request history: that input "
        "fails (SubmitNotConfirmedError) instead of being found, or re-sent when the history "
        "proves it made no job",
    )
    p.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default="auto",
        help="progress display on stderr (json: one object per update, for scripts)",
    )
    p.set_defaults(handler=_cmd_batch)
    p = sub.add_parser("demo", help="batch ~200 prompts through the embedded emulator")
    p.add_argument("-n", "--count", type=count, default=200, help="prompts (default 200)")
    p.add_argument(
        "-c", "--concurrency", type=count, default=32, help="jobs in flight (default 32)"
    )
    p.add_argument(
        "-o", "--out", default="fal-demo-out", help="folder for the images (default fal-demo-out)"
    )
    p.set_defaults(handler=_cmd_demo)
    p = sub.add_parser("emulator", help="serve the fal emulator until Ctrl-C")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument(
        "--port", type=port, default=8000, help="port to listen on (default 8000; 0: any free)"
    )
    p.add_argument(
        "--key", default=None, help="the API key clients must send (default: a fixed one)"
    )
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    p.set_defaults(handler=_cmd_emulator, sync=True)
    return parser


#: What each exit code of ``fal-client`` means (also shown by ``--help``).
EXIT_CODES = {
    0: "success",
    1: "a job or request failed",
    2: "bad usage or input (also: arguments the app's schema refuses, a batch over --max-cost)",
    3: "missing or rejected credentials",
    124: "a timeout (--timeout, or the server's start timeout)",
    130: "interrupted",
}


def exit_code_of(exc: BaseException) -> int:
    """The exit code for an error that ended a command (see ``EXIT_CODES``)."""
    if isinstance(exc, (MissingCredentialsError, AuthenticationError)):
        return 3
    if isinstance(exc, (InputValidationError, BudgetExceededError)):
        return 2
    if isinstance(exc, (FalClientTimeoutError, StartTimeoutError)):
        return 124
    if isinstance(exc, FalClientError):
        return 1
    return 2


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    print(f"fal-client: warning: {message}", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``fal-client``; returns the exit code."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            # A warning meant for a person (sent unvalidated...) reads as one, not as a
            # file:line report; the filters stay the caller's.
            warnings.showwarning = _show_warning
            if getattr(ns, "sync", False):
                return int(ns.handler(ns))
            return int(anyio.run(ns.handler, ns, backend=ns.backend))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        if ns.command == "batch":
            print(
                "jobs in flight keep running; continue with the same command plus --resume",
                file=sys.stderr,
            )
        return 130
    except FalClientError as exc:  # before OSError: a timeout is also a TimeoutError
        print(f"fal-client: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exit_code_of(exc)
    except (ValueError, TypeError, OSError) as exc:
        print(f"fal-client: error: {exc}", file=sys.stderr)
        return exit_code_of(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
