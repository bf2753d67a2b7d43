"""The ``fal-client`` command line, run in-process against an embedded emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fal_client._cli import main


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
