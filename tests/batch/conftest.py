"""Fixtures of the fan-out tests: an app that records which request served which input."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from fal_client.testing import AppContext, Emulator, Gate

WORK_APP = "batch/work"


class WorkLog:
    """Which request ids the ``batch/work`` app served for each input ``i``.

    A job counts once its app function has started, so together with the emulator's submit
    records this tells whether an input was ever submitted twice.
    """

    def __init__(self) -> None:
        self.by_input: dict[int, list[str]] = defaultdict(list)
        self.gates: dict[str, Gate] = {}

    def clear(self) -> None:
        self.by_input.clear()
        for gate in self.gates.values():
            gate.open()
        self.gates.clear()

    def duplicates(self) -> dict[int, list[str]]:
        return {i: ids for i, ids in self.by_input.items() if len(ids) > 1}


_LOG = WorkLog()


@pytest.fixture(scope="session")
def _work_app(emulator: Emulator) -> WorkLog:
    @emulator.app(WORK_APP, workers=64)
    async def work(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        _LOG.by_input[int(arguments["i"])].append(ctx.request_id)
        if "sleep" in arguments:  # long enough for a status stream to see it running
            await anyio.sleep(float(arguments["sleep"]))
        gate = arguments.get("gate")
        if gate is not None and int(arguments["i"]) >= int(arguments.get("hold_from", 0)):
            await _LOG.gates[gate].wait()
        return {"i": arguments["i"], "out": f"result-{arguments['i']}"}

    return _LOG


@pytest.fixture
def work(_work_app: WorkLog, emu: Emulator) -> Iterator[WorkLog]:
    """The ``batch/work`` app's log, empty at the start of each test (gates opened after)."""
    _work_app.clear()
    yield _work_app
    _work_app.clear()


def submits(emu: Emulator, app: str = WORK_APP) -> int:
    """POST submits the emulator answered 200 for ``app``."""
    return len(
        [
            r
            for r in emu.requests()
            if r.operation == "submit" and r.status_code == 200 and r.app == app
        ]
    )
