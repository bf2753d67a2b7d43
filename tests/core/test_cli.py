"""The ``fal-client`` command line, run in-process against an embedded emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import fal_client
from fal_client._cli import main
from fal_client.testing import Emulator


def test_demo_runs_a_batch_downloads_images_and_summarises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "-n", "12", "-c", "4", "-o", str(out)]) == 0
    images = sorted(out.glob("*.png"))
    assert len(images) == 12
    assert all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for p in images)
    text = capsys.readouterr().out
    assert "12 ok, 0 failed" in text and "p95" in text and "jobs/s" in text


def test_run_with_inputs_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--emulator", "fal-ai/echo", "-i", "prompt=hi", "-i", "n=3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "hi" in json.dumps(printed) and "3" in json.dumps(printed)


def test_batch_writes_one_line_per_input(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("\n".join(json.dumps({"prompt": f"p{i}"}) for i in range(5)) + "\n")
    output = tmp_path / "out.jsonl"
    code = main(["batch", "--emulator", "fal-ai/echo", str(inputs), "-o", str(output), "-c", "2"])
    assert code == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["index"] for r in records) == list(range(5))
    assert all("result" in r and r["request_id"] for r in records)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--emulator", "fal-ai/echo", "-i", "novalue"],
        ["run", "--emulator", "badid", "-i", "a=1"],
        ["run", "--emulator", "fal-ai/echo", "--json", "[1, 2]"],
    ],
)
def test_bad_input_exits_2_with_a_message(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_a_failing_job_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["subscribe", "--emulator", "fal-ai/fail"]) == 1
    assert "Error" in capsys.readouterr().err


def test_help_is_available_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["demo", "--help"], ["batch", "--help"], ["emulator", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
    assert "usage: fal-client" in capsys.readouterr().out


def test_batch_help_explains_resume_manifest_and_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["batch", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for word in ("--resume", "--manifest", "--progress", "130 interrupted", "OUTPUT.manifest"):
        assert word in text


def test_batch_json_progress_and_resume_of_a_finished_batch_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(4)))
    output = tmp_path / "out.jsonl"
    argv = ["batch", "--emulator", "fal-ai/echo", str(inputs), "-o", str(output)]
    assert main([*argv, "--progress", "json"]) == 0
    updates = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    assert updates[-1]["done"] == 4 and updates[-1]["total"] == 4
    first = sorted(output.read_text().splitlines())
    # A fresh embedded emulator knows none of the request ids: only the manifest can answer.
    assert main([*argv, "--resume", "--progress", "none"]) == 0
    assert sorted(output.read_text().splitlines()) == first


def test_exit_codes_tell_failures_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fal_client._cli import EXIT_CODES

    # A timeout exits 124, as timeout(1) does.
    code = main(["subscribe", "--emulator", "fal-ai/slow", "-i", "seconds=30", "--timeout", "1.5"])
    assert code == 124 and "FalClientTimeoutError" in capsys.readouterr().err
    # No key anywhere: 3 (missing or rejected credentials), not 2 (bad input).
    for name in ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAL_HOME_DIR", str(tmp_path))
    monkeypatch.setenv("FAL_QUEUE_URL", "http://127.0.0.1:9/queue")
    assert main(["status", "fal-ai/echo", "some-id"]) == 3
    # A failed job: 1.
    assert main(["run", "--emulator", "fal-ai/fail", "-i", "message=boom"]) == 1
    assert set(EXIT_CODES) == {0, 1, 2, 3, 124, 130}


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())  # as wrapped for the terminal
    assert "124 a timeout" in text and "3 missing or rejected credentials" in text
    assert "``" not in text  # no reStructuredText markup in --help


def test_status_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    from fal_client._status import Completed, InProgress, Queued, status_to_json

    assert status_to_json(Queued(position=2)) == {"status": "IN_QUEUE", "queue_position": 2}
    assert status_to_json(InProgress(logs=[{"message": "a"}]))["logs"] == [{"message": "a"}]
    done = status_to_json(Completed(logs=None, metrics={"t": 1}, error="x", error_type="y"))
    assert done == {
        "status": "COMPLETED",
        "logs": None,
        "metrics": {"t": 1},
        "error": "x",
        "error_type": "y",
    }
    # Through the command line: an unknown request on the emulator is a 404 (exit 1), and a
    # submitted one prints its status as JSON.
    assert main(["status", "--emulator", "fal-ai/echo", "unknown-request"]) == 1


def test_status_with_logs_prints_json_lines(
    emu: Emulator,
    client_options: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with fal_client.SyncClient(**client_options) as client:
        handle = client.submit("test/logs", {"n": 3})
        handle.get()
    for name, value in emu.env.items():
        monkeypatch.setenv(name, value)
    assert main(["status", "test/logs", handle.request_id, "--logs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    *logs, status = records
    assert [entry["message"] for entry in logs] == ["step 0", "step 1", "step 2"]
    assert all({"level", "source", "timestamp"} <= set(entry) for entry in logs)
    assert status["status"] == "COMPLETED" and "logs" not in status
    assert status["error"] is None

    # Without --logs: the status alone, as one (indented) JSON document.
    assert main(["status", "test/logs", handle.request_id]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "COMPLETED"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["subscribe", "--emulator", "fal-ai/echo", "-i", "a=1", "--timeout", "-1"], "--timeout"),
        (["batch", "fal-ai/echo", "in.jsonl", "-o", "o.jsonl", "-c", "0"], "--concurrency"),
        (["emulator", "--port", "99999"], "--port"),
    ],
)
def test_bad_flags_are_refused_naming_the_flag(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and named in capsys.readouterr().err


def test_errors_name_what_the_user_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    assert main(["run", "--emulator", "fal-ai/echo", "--json", "{bad"]) == 2
    assert "--json is not valid JSON" in capsys.readouterr().err
    out = tmp_path / "o.jsonl"
    assert main(["batch", "fal-ai/echo", str(tmp_path / "missing.jsonl"), "-o", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err and not out.exists()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["emulator", "--port", str(port)]) == 2
    assert f"127.0.0.1:{port} (--host/--port)" in capsys.readouterr().err


def test_submit_on_the_embedded_emulator_says_it_is_gone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["submit", "--emulator", "fal-ai/echo", "-i", "a=1"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() and "stopped with this command" in captured.err


def test_every_argument_has_help_text() -> None:
    import argparse

    from fal_client._cli import build_parser

    missing = []

    def walk(parser: argparse.ArgumentParser, where: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{where} {name}")
            elif not action.help and action.dest != "help":
                missing.append(f"{where}: {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "fal-client")
    assert missing == []


def test_subscribe_shows_state_and_each_log_line_once_unless_quiet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["subscribe", "--emulator", "fal-ai/slow", "-i", "seconds=0.2"]) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert "running" in err and "completed" in err
    logs = [line for line in err if line.startswith("  log: ")]
    assert logs == [f"  log: step {i}/10" for i in range(1, 11)]  # every line, once, in order
    assert json.loads(captured.out) is not None
    assert main(["subscribe", "--emulator", "fal-ai/slow", "-i", "seconds=0.1", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_upload_of_a_large_file_shows_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fal_client._cli import UPLOAD_PROGRESS_BYTES

    big = tmp_path / "big.bin"
    big.write_bytes(b"\x01" * UPLOAD_PROGRESS_BYTES)
    assert main(["upload", "--emulator", str(big)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().startswith("http")
    assert "uploaded 8.0/8.0 MiB (100%)" in captured.err
    assert main(["upload", "--emulator", "--quiet", str(big)]) == 0
    assert "uploaded" not in capsys.readouterr().err


def test_the_fail_fast_rule() -> None:
    from fal_client import BatchResult
    from fal_client._cli import _FailFast

    def failure(error: BaseException) -> BatchResult:
        return BatchResult(0, {}, error=error)

    auth = fal_client.AuthenticationError("bad key", 401)
    rule = _FailFast(after=3)
    assert [rule.stop_for(failure(auth)) for _ in range(3)] == [None, None, auth]
    # A success first, or a failure that is about one input, and it never stops.
    rule = _FailFast(after=2)
    rule.stop_for(BatchResult(0, {}, result={"ok": True}))
    assert rule.stop_for(failure(auth)) is None and rule.stop_for(failure(auth)) is None
    rule = _FailFast(after=2)
    rule.stop_for(failure(fal_client.ValidationError("bad prompt", 422)))
    assert rule.stop_for(failure(auth)) is None and rule.stop_for(failure(auth)) is None
    # Two different causes are not one cause that hits everything.
    rule = _FailFast(after=2)
    rule.stop_for(failure(auth))
    assert rule.stop_for(failure(fal_client.AuthenticationError("forbidden", 403))) is None
