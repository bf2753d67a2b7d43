"""Soak: 20,000 jobs through ``map`` with ~10% retryable faults mixed in.

Not part of the default run (marked ``soak``): ``python -m pytest -m soak tests/reliability``.
The work is ``benchmarks/bench_soak.py``'s ``run_soak`` (which also prints the figures on its
own). Asserts every result arrives in order, no input runs twice, and memory stays flat: RSS
after the last job within 10% of RSS after the first quarter (5,000 jobs).
"""

from __future__ import annotations

import os

import pytest

from benchmarks.bench_soak import run_soak

pytestmark = [pytest.mark.soak, pytest.mark.timeout(900)]

JOBS = int(os.environ.get("FAL_SOAK_JOBS", "20000"))


def test_soak_with_mixed_faults_loses_nothing_and_stays_flat() -> None:
    report = run_soak(JOBS)
    print("\n" + report.summary())
    assert report.delivered_in_order
    assert set(report.executions) == set(range(JOBS)), "an input never ran"
    assert report.duplicates == 0, "an input ran twice"
    assert report.faults_fired, "no fault fired: the soak proves nothing"
    assert report.rss_growth <= 0.10, report.summary()
