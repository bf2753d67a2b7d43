"""Resumable ``map(manifest=...)``: the journal, re-attaching, and refusing changed inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

import fal_client
from fal_client._manifest import ManifestError, ManifestWriter, input_key, parse_manifest
from fal_client.testing import Emulator

from ..conftest import Driver
from .conftest import WORK_APP, WorkLog, submits


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_round_trip_journals_every_job_and_a_rerun_sends_nothing(
    mode: Driver, emu: Emulator, work: WorkLog, tmp_path: Path
) -> None:
    manifest = tmp_path / "run.manifest"
    inputs = [{"i": i} for i in range(10)]
    first = mode.collect("map", WORK_APP, inputs, concurrency=4, manifest=manifest)
    assert first == [{"i": i, "out": f"result-{i}"} for i in range(10)]

    header, *rest = records(manifest)
    assert header["fal_manifest"] == 1 and header["app"] == WORK_APP
    by_event: dict[str, list[dict[str, Any]]] = {}
    for record in rest:
        by_event.setdefault(record["event"], []).append(record)
    assert sorted(r["index"] for r in by_event["submitted"]) == list(range(10))
    assert sorted(r["index"] for r in by_event["done"]) == list(range(10))
    for record in by_event["done"]:
        assert record["key"] == input_key(inputs[record["index"]])
        assert record["result"] == first[record["index"]]
    # Each input's submission is journalled before its result.
    order = [(r["event"], r["index"]) for r in rest]
    for i in range(10):
        assert order.index(("submitted", i)) < order.index(("done", i))

    requests_before = len(emu.requests())
    again = mode.collect("map", WORK_APP, inputs, concurrency=4, manifest=manifest)
    assert again == first
    assert len(emu.requests()) == requests_before  # delivered from the file alone
    assert submits(emu) == 10 and work.duplicates() == {}


def test_rerun_reattaches_to_submitted_jobs_and_submits_only_the_rest(
    mode: Driver, emu: Emulator, work: WorkLog, tmp_path: Path, client_options: dict[str, Any]
) -> None:
    # A crashed run as it would have left things: inputs 0-1 done, 2-4 submitted (still
    # running on fal), 5-7 never submitted, and the file torn in the middle of a record.
    inputs = [{"i": i} for i in range(8)]
    with fal_client.SyncClient(**client_options) as client:
        running = {i: client.submit(WORK_APP, inputs[i]).request_id for i in (2, 3, 4)}
    manifest = tmp_path / "crashed.manifest"
    lines = [{"fal_manifest": 1, "app": WORK_APP, "path": "", "created_at": 0}]
    for i in (0, 1):
        lines.append(
            {
                "event": "submitted",
                "index": i,
                "key": input_key(inputs[i]),
                "request_id": f"old-{i}",
            }
        )
        lines.append(
            {
                "event": "done",
                "index": i,
                "key": input_key(inputs[i]),
                "request_id": f"old-{i}",
                "result": {"from": "manifest"},
                "latency": 0.1,
            }
        )
    for i, rid in running.items():
        lines.append(
            {"event": "submitted", "index": i, "key": input_key(inputs[i]), "request_id": rid}
        )
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"event": "submit'
    manifest.write_text(text)

    results = mode.collect("map", WORK_APP, inputs, concurrency=3, manifest=manifest)
    assert results[:2] == [{"from": "manifest"}] * 2
    assert results[2:] == [{"i": i, "out": f"result-{i}"} for i in range(2, 8)]
    assert submits(emu) == 3 + 3  # the three of the "crashed" run, then only 5, 6, 7
    assert work.duplicates() == {}
    assert sorted(work.by_input) == list(range(2, 8))
    final = parse_manifest(manifest.read_bytes())
    assert all(final.entries[i].done for i in range(8))


def test_changed_inputs_or_another_app_are_refused(
    mode: Driver, emu: Emulator, work: WorkLog, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.jsonl"
    inputs = [{"i": i} for i in range(4)]
    mode.collect("map", WORK_APP, inputs, manifest=manifest)
    changed = [*inputs[:2], {"i": 2, "extra": True}, inputs[3]]
    with pytest.raises(ManifestError, match="input 2 differs"):
        mode.collect("map", WORK_APP, changed, manifest=manifest)
    with pytest.raises(ManifestError, match="only 3 were given"):
        mode.collect("map", WORK_APP, inputs[:3], manifest=manifest)
    with pytest.raises(ValueError, match="written for app"):
        mode.collect("map", "test/echo", inputs, manifest=manifest)
    assert submits(emu) == 4


@pytest.mark.anyio
async def test_interrupted_map_leaves_jobs_running_and_a_rerun_collects_them(
    emu: Emulator, work: WorkLog, tmp_path: Path, client_options: dict[str, Any]
) -> None:
    manifest = tmp_path / "m.jsonl"
    work.gates["hold"] = emu.gate()
    inputs = [{"i": i, "gate": "hold", "hold_from": 2} for i in range(6)]
    journalled = anyio.Event()

    def progress(p: fal_client.Progress) -> None:
        # Inputs 0-1 finished; 2-5 held, and counted as queued only once journalled.
        if p.done == 2 and p.queued + p.running == 4:
            journalled.set()

    async with fal_client.AsyncClient(**client_options) as client:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:

                async def consume() -> None:
                    async with client.map(
                        WORK_APP,
                        inputs,
                        concurrency=6,
                        ordered=False,
                        manifest=manifest,
                        on_progress=progress,
                    ) as results:
                        async for _ in results:
                            pass

                tg.start_soon(consume)
                await journalled.wait()
                tg.cancel_scope.cancel()  # like Ctrl-C
        held = [j for j in emu.jobs() if j.app == WORK_APP and j.status != "COMPLETED"]
        assert len(held) == 4 and not any(j.cancelled for j in held)

        work.gates["hold"].open()
        with anyio.fail_after(20):
            async with client.map(WORK_APP, inputs, concurrency=6, manifest=manifest) as results:
                again = [item async for item in results]
    assert again == [{"i": i, "out": f"result-{i}"} for i in range(6)]
    assert submits(emu) == 6 and work.duplicates() == {}


@pytest.mark.anyio
async def test_a_result_is_journalled_as_done_only_once_the_loop_has_handled_it(
    emu: Emulator, work: WorkLog, tmp_path: Path, client_options: dict[str, Any]
) -> None:
    # The manifest's "done" must never run ahead of what the consumer stored (the CLI's output
    # after kill -9): it is written once the loop comes back for the next result, or leaves
    # the block without an error.
    manifest = tmp_path / "m.jsonl"
    work.gates["hold"] = emu.gate()
    inputs = [{"i": 0}, {"i": 1, "gate": "hold", "hold_from": 1}]

    def done() -> set[int]:
        entries = parse_manifest(manifest.read_bytes()).entries
        return {i for i, entry in entries.items() if entry.done}

    async with fal_client.AsyncClient(**client_options) as client:
        with anyio.fail_after(20):
            async with client.map(WORK_APP, inputs, manifest=manifest) as results:
                assert await results.__anext__() == {"i": 0, "out": "result-0"}
                assert done() == set()  # the loop body is still handling it
            assert done() == {0}  # left without an error: handled

        # A loop body that fails on a result has not handled it: not journalled, so the
        # re-run fetches it again by its request id (a GET, never a second submit).
        manifest.unlink()
        work.gates["hold"].open()
        with anyio.fail_after(20), pytest.raises(RuntimeError, match="could not store"):
            async with client.map(WORK_APP, inputs, manifest=manifest) as results:
                async for _ in results:
                    raise RuntimeError("could not store it")
        assert done() == set()
        with anyio.fail_after(20):
            async with client.map(WORK_APP, inputs, manifest=manifest) as results:
                again = [item async for item in results]
    assert again == [{"i": 0, "out": "result-0"}, {"i": 1, "out": "result-1"}]
    assert done() == {0, 1}
    assert submits(emu) == 2 + 2  # two per manifest: the re-run submitted nothing


def test_first_failure_cancels_journals_and_a_rerun_resubmits_only_the_cancelled(
    mode: Driver, emu: Emulator, work: WorkLog, tmp_path: Path
) -> None:
    from fal_client.testing import AppError

    manifest = tmp_path / "m.jsonl"
    work.gates["hold"] = emu.gate()
    failing = {"i": 9, "boom": True}

    fail_now = emu.gate()

    @emu.app("batch/fail-one", workers=8)
    async def fail_one(arguments: dict[str, Any], ctx: Any) -> dict[str, Any]:
        if arguments.get("boom"):
            await fail_now.wait()
            raise AppError(status_code=422, detail="bad input")
        await work.gates["hold"].wait()
        return {"i": arguments["i"]}

    def progress(p: fal_client.Progress) -> None:
        # A job counts as queued only once journalled: fail when all three are.
        if p.queued + p.running == 3:
            fail_now.open()

    inputs = [{"i": 0}, {"i": 1}, failing]
    with pytest.raises(fal_client.ValidationError) as info:  # the job's own error, bare
        mode.collect(
            "map", "batch/fail-one", inputs, concurrency=3, manifest=manifest, on_progress=progress
        )
    assert "bad input" in str(info.value)
    state = parse_manifest(manifest.read_bytes())
    assert state.entries[0].resubmit and state.entries[1].resubmit  # journalled as cancelled
    assert state.entries[2].request_id and not state.entries[2].resubmit

    work.gates["hold"].open()
    again = mode.collect("map", "batch/fail-one", inputs, manifest=manifest, return_exceptions=True)
    assert again[:2] == [{"i": 0}, {"i": 1}]
    assert isinstance(again[2], fal_client.ValidationError)  # re-fetched, not re-run
    assert submits(emu, "batch/fail-one") == 3 + 2


def test_parse_ignores_a_torn_tail_and_keeps_the_last_word_per_input() -> None:
    k = input_key({"a": 1})
    data = (
        b'{"fal_manifest":1,"app":"a/b","path":""}\n'
        + f'{{"event":"submitted","index":0,"key":"{k}","request_id":"r1"}}\n'.encode()
        + f'{{"event":"cancelled","index":0,"key":"{k}","request_id":"r1"}}\n'.encode()
        + f'{{"event":"submitted","index":0,"key":"{k}","request_id":"r2"}}\n'.encode()
        + f'{{"event":"failed","index":1,"key":"{k}","request_id":null}}\n'.encode()
        + b'{"event":"done","ind'
    )
    state = parse_manifest(data)
    assert state.valid_bytes == data.rfind(b"\n") + 1
    assert state.entries[0].request_id == "r2" and not state.entries[0].resubmit
    assert state.entries[1].resubmit
    with pytest.raises(ManifestError, match="not a fal_client manifest"):
        parse_manifest(b'{"hello": 1}\n')
    with pytest.raises(ManifestError, match="two keys"):
        parse_manifest(data.replace(k.encode(), b"x" * 32, 1)[: state.valid_bytes])


def test_input_keys_ignore_key_order_and_refuse_what_json_cannot_encode() -> None:
    assert input_key({"a": 1, "b": [1, 2]}) == input_key({"b": [1, 2], "a": 1})
    assert input_key({"a": 1}) != input_key({"a": 2})
    with pytest.raises(TypeError, match="JSON"):
        input_key({"a": object()})


@pytest.mark.anyio
async def test_concurrent_writes_are_all_durable_and_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"fal_manifest":1,"app":"a/b","path":""}\n{"event":"sub')  # torn
    writer = ManifestWriter(path)
    await writer.open(app="a/b", path="")
    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(
                writer.write, {"event": "submitted", "index": i, "key": "k", "request_id": f"r{i}"}
            )
    await writer.aclose()
    state = parse_manifest(path.read_bytes())
    assert sorted(state.entries) == list(range(200))
    assert state.valid_bytes == len(path.read_bytes())


def test_a_job_the_map_timed_out_is_submitted_again_on_resume(
    mode: Driver, emu: Emulator, work: WorkLog, tmp_path: Path
) -> None:
    # The map cancelled it (client_timeout): resuming must run it again, not re-read its 499.
    manifest = tmp_path / "m.jsonl"
    work.gates["late"] = emu.gate()
    inputs = [{"i": 0}, {"i": 1, "gate": "late", "hold_from": 1}]
    first = mode.collect(
        "map", WORK_APP, inputs, manifest=manifest, client_timeout=0.75, return_exceptions=True
    )
    assert first[0] == {"i": 0, "out": "result-0"}
    assert isinstance(first[1], fal_client.FalClientTimeoutError)
    state = parse_manifest(manifest.read_bytes())
    assert state.entries[1].resubmit  # journalled as cancelled, not as failed
    work.gates["late"].open()
    again = mode.collect("map", WORK_APP, inputs, manifest=manifest)
    assert again == [{"i": 0, "out": "result-0"}, {"i": 1, "out": "result-1"}]
    assert submits(emu) == 3  # input 0 once, input 1 twice (the first was cancelled)


# --- the submitting intent (issue 16) ------------------------------------------------------------


def _fold(*records: dict[str, Any]) -> Any:
    from fal_client._manifest import parse_manifest

    lines = [{"fal_manifest": 1, "app": "a/b", "path": "", "created_at": 0.0}, *records]
    data = "".join(json.dumps(r) + "\n" for r in lines).encode()
    return parse_manifest(data)


AT = "2026-12-01T12:00:00.000000Z"


def test_a_submitting_intent_as_the_last_record_marks_a_submit_in_flight() -> None:
    from datetime import datetime, timezone

    state = _fold({"event": "submitting", "index": 0, "key": "k", "at": AT})
    entry = state.entries[0]
    assert entry.submitting_at == datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    assert entry.request_id is None and not entry.done


def test_a_record_after_the_intent_settles_it() -> None:
    for later in (
        {"event": "submitted", "index": 0, "key": "k", "request_id": "r"},
        {"event": "failed", "index": 0, "key": "k", "request_id": None, "error_type": "X"},
        {"event": "cancelled", "index": 0, "key": "k", "request_id": "r"},
    ):
        state = _fold({"event": "submitting", "index": 0, "key": "k", "at": AT}, later)
        assert state.entries[0].submitting_at is None, later


def test_a_lost_answer_after_the_intent_keeps_it_in_flight() -> None:
    for error_type in ("SubmitNotConfirmedError", "SubmitNotRecoveredError"):
        state = _fold(
            {"event": "submitting", "index": 0, "key": "k", "at": AT},
            {
                "event": "failed",
                "index": 0,
                "key": "k",
                "request_id": None,
                "error_type": error_type,
            },
        )
        assert state.entries[0].submitting_at is not None


def test_every_recorded_request_id_is_collected_and_old_manifests_read_as_before() -> None:
    state = _fold(
        {"event": "submitted", "index": 0, "key": "k", "request_id": "r0"},
        {"event": "cancelled", "index": 1, "key": "j", "request_id": "r1"},
        {"event": "submitted", "index": 1, "key": "j", "request_id": "r2"},
    )
    assert state.request_ids == {"r0", "r1", "r2"}
    assert all(e.submitting_at is None for e in state.entries.values())


def test_a_submitting_record_without_a_time_is_refused() -> None:
    from fal_client._manifest import ManifestError

    with pytest.raises(ManifestError, match="valid 'at'"):
        _fold({"event": "submitting", "index": 0, "key": "k", "at": "yesterday"})
