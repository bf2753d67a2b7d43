"""The platform features end to end against the emulator, on asyncio, trio and sync.

Validation refuses before a job exists, budgets refuse before a submit, history lists what ran,
and the CLI's platform commands print what the API says.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
from typing_extensions import NotRequired, TypedDict

import fal_client
from fal_client._schema_cache import SCHEMAS
from fal_client.testing import Emulator, Price

from ..conftest import Driver

APP = "test/painter"


class PainterInput(TypedDict):
    prompt: str
    num_images: NotRequired[int]
    style: NotRequired[Literal["flat", "photo"]]


class PainterOutput(TypedDict):
    images: list[str]


async def painter(arguments: PainterInput, ctx: Any) -> PainterOutput:
    return {"images": [f"{arguments['prompt']}-{i}" for i in range(arguments.get("num_images", 1))]}


@pytest.fixture(autouse=True)
def painter_app(emulator: Emulator) -> None:
    emulator.add_app(APP, painter, price=Price(0.5, unit="image", call_price=0.25))
    # Each test starts without schemas cached (one emulator URL serves the whole session).
    SCHEMAS.clear()


def test_validate_true_refuses_before_a_job_exists(mode: Driver, emu: Emulator) -> None:
    with pytest.raises(fal_client.InputValidationError) as info:
        mode.call("subscribe", APP, {"promt": "cat", "style": "oil"}, validate=True)
    paths = sorted(p.path for p in info.value.problems)
    assert paths == ["$.prompt", "$.promt", "$.style"]
    assert emu.jobs() == []
    assert mode.call("subscribe", APP, {"prompt": "cat"}, validate=True) == {"images": ["cat-0"]}
    assert len(emu.jobs()) == 1


def test_prices_estimates_and_history(mode: Driver, emu: Emulator) -> None:
    mode.call("subscribe", APP, {"prompt": "a", "num_images": 2})
    if mode.is_sync:
        platform: Any = mode.sync_client().platform
        prices = platform.prices(APP)
        estimate = platform.estimate({APP: 10})
        items = list(platform.history(APP, payloads=True))
    else:

        async def read(client: fal_client.AsyncClient) -> Any:
            prices = await client.platform.prices(APP)
            estimate = await client.platform.estimate({APP: 10})
            items = [i async for i in client.platform.history(APP, payloads=True)]
            return prices, estimate, items

        prices, estimate, items = mode._run_async(read)
    assert prices[APP] == fal_client.Price(APP, 0.5, "image", "USD")
    assert estimate.total_cost == pytest.approx(2.5)
    (item,) = items
    assert item.json_input == {"prompt": "a", "num_images": 2}
    assert item.json_output == {"images": ["a-0", "a-1"]}
    assert item.succeeded and item.sent_at is not None and item.ended_at is not None


def test_a_map_over_budget_submits_nothing(mode: Driver, emu: Emulator) -> None:
    inputs = [{"prompt": str(i)} for i in range(10)]
    with pytest.raises(fal_client.BudgetExceededError) as info:
        if mode.is_sync:
            list(mode.sync_client().map(APP, inputs, max_cost=2.0))
        else:

            async def run(client: fal_client.AsyncClient) -> Any:
                async with client.map(APP, inputs, max_cost=2.0) as results:
                    return [r async for r in results]

            mode._run_async(run)
    assert info.value.estimate == pytest.approx(2.5)
    assert emu.jobs() == []


def test_validation_fetches_each_schema_once_for_a_whole_map(mode: Driver, emu: Emulator) -> None:
    inputs = [{"prompt": str(i)} for i in range(30)] + [{"prompt": 1}]
    before = SCHEMAS.fetches
    if mode.is_sync:
        results = list(mode.sync_client().map(APP, inputs, validate=True, return_exceptions=True))
    else:

        async def run(client: fal_client.AsyncClient) -> Any:
            async with client.map(APP, inputs, validate=True, return_exceptions=True) as r:
                return [x async for x in r]

        results = mode._run_async(run)
    assert SCHEMAS.fetches - before == 1
    assert isinstance(results[-1], fal_client.InputValidationError)
    assert len(emu.jobs()) == 30


def cli(emu: Emulator, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **emu.env}
    return subprocess.run(
        [sys.executable, "-m", "fal_client._cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_cli_price_schema_and_history(emu: Emulator, tmp_path: Path) -> None:
    proc = cli(emu, "price", APP, "test/unknown-app", "--calls", "4", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]["unit_price"] == 0.5 and lines[0]["estimate"]["total_cost"] == 1.0
    assert lines[1] == {
        "endpoint_id": "test/unknown-app",
        "error": "the platform API lists no price",
    }

    proc = cli(emu, "schema", APP, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert set(document["example_input"]) == {"prompt"}
    assert isinstance(document["example_input"]["prompt"], str)
    assert document["input"] == {"$ref": "#/components/schemas/PainterInput"}
    assert document["components"]["PainterInput"]["required"] == ["prompt"]

    cli(emu, "subscribe", APP, "-i", "prompt=x", cwd=tmp_path)
    proc = cli(emu, "history", APP, "--since", "1h", "--payloads", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (item,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert item["json_input"] == {"prompt": "x"} and item["status_code"] == 200


def test_cli_validates_by_default_and_says_what_is_wrong(emu: Emulator, tmp_path: Path) -> None:
    proc = cli(emu, "subscribe", APP, "-i", "promt=x", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "$.promt: unknown key 'promt'; did you mean 'prompt'?" in proc.stderr
    assert emu.jobs() == []
    proc = cli(emu, "subscribe", APP, "-i", "promt=x", "--no-validate", cwd=tmp_path)
    assert emu.jobs() != []  # sent as asked (the app then fails on the missing prompt)


def test_cli_types_writes_a_module_and_never_replaces_a_foreign_file(
    emu: Emulator, tmp_path: Path
) -> None:
    target = tmp_path / "painter_types.py"
    proc = cli(emu, "types", APP, "-o", str(target), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cls = runpy.run_path(str(target))["TestPainterInput"]
    assert cls.__required_keys__ == {"prompt"}
    assert cls.__optional_keys__ == {"num_images", "style"}
    # Its own file may be replaced; any other file is refused and left as it was.
    assert cli(emu, "types", APP, "-o", str(target), cwd=tmp_path).returncode == 0
    foreign = tmp_path / "mine.py"
    foreign.write_text("print('my code')\n")
    proc = cli(emu, "types", APP, "-o", str(foreign), cwd=tmp_path)
    assert proc.returncode == 2 and "not written by fal-client types" in proc.stderr
    assert foreign.read_text() == "print('my code')\n"


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_batch_dry_run_checks_and_prices_without_sending(emu: Emulator, tmp_path: Path) -> None:
    inputs, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(inputs, [{"prompt": "a"}, {"prompt": "b", "style": "oil"}, {"prompt": "c"}])
    proc = cli(emu, "batch", APP, str(inputs), "-o", str(out), "--dry-run", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    assert report["inputs"] == 3 and report["validated"] and report["invalid"] == 1
    assert report["first_invalid"][0]["index"] == 1
    assert "$.style" in report["first_invalid"][0]["problems"][0]
    assert report["estimate"] == {"total_cost": 0.75, "currency": "USD"}
    assert emu.jobs() == [] and not out.exists() and list(tmp_path.iterdir()) == [inputs]


def test_batch_over_max_cost_is_refused_and_leaves_the_output_alone(
    emu: Emulator, tmp_path: Path
) -> None:
    inputs, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(inputs, [{"prompt": str(i)} for i in range(8)])
    out.write_text("results of an earlier run\n")
    proc = cli(emu, "batch", APP, str(inputs), "-o", str(out), "--max-cost", "1.5", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "BudgetExceededError" in proc.stderr and "estimated at 2 USD" in proc.stderr
    assert emu.jobs() == []
    assert out.read_text() == "results of an earlier run\n"
    proc = cli(emu, "batch", APP, str(inputs), "-o", str(out), "--max-cost", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(emu.jobs()) == 8


def test_batch_validates_each_input_by_default(emu: Emulator, tmp_path: Path) -> None:
    inputs, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(inputs, [{"prompt": "a"}, {"prompt": 7}, {"prompt": "c"}])
    proc = cli(emu, "batch", APP, str(inputs), "-o", str(out), "--progress", "none", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = sorted((json.loads(x) for x in out.read_text().splitlines()), key=lambda r: r["index"])
    assert lines[1]["error_type"] == "InputValidationError" and lines[1]["request_id"] is None
    assert "result" in lines[0] and "result" in lines[2]
    assert len(emu.jobs()) == 2


def test_model_lookup_and_search(mode: Driver) -> None:
    if mode.is_sync:
        platform: Any = mode.sync_client().platform
        model = platform.model(APP)
        found = [m.endpoint_id for m in platform.search_models("painter", page_size=1)]
        with pytest.raises(fal_client.UnknownEndpointError):
            platform.model("test/no-such-app")
    else:

        async def read(client: fal_client.AsyncClient) -> Any:
            model = await client.platform.model(APP)
            found = [m.endpoint_id async for m in client.platform.search_models("painter")]
            with pytest.raises(fal_client.UnknownEndpointError):
                await client.platform.model("test/no-such-app")
            return model, found

        model, found = mode._run_async(read)
    assert model.endpoint_id == APP and model.openapi is not None
    assert model.status == "active"
    assert found == [APP]
