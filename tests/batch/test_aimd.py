"""The adaptive in-flight limit's decisions, without I/O or a clock (issue 14).

Scattered 429s leave the limit alone (each refused input waits out its own ``Retry-After``); a
real rate limit (most recent answers refused) shrinks it, once per burst, to what the server
carries; the limit recovers within a couple of rounds once the refusals stop.
"""

from __future__ import annotations

import pytest

from fal_client._aimd import MAX_PROBE_ROUNDS, AdaptiveLimit


def accept(limit: AdaptiveLimit, count: int) -> None:
    for _ in range(count):
        limit.on_accepted(limit.epoch)


def test_starts_at_the_maximum_and_admits_up_to_it() -> None:
    limit = AdaptiveLimit(4)
    assert limit.limit == 4
    assert limit.may_start(3, now=0.0)
    assert not limit.may_start(4, now=0.0)


def test_scattered_refused_submits_do_not_shrink_the_limit() -> None:
    # One submit in ten refused (about what the fault mix does): only those inputs wait.
    limit = AdaptiveLimit(32)
    for i in range(500):
        if i % 10 == 3:
            assert not limit.on_refused(limit.epoch, carried=31, now=float(i), wait=1.0)
        else:
            limit.on_accepted(limit.epoch)
    assert limit.limit == 32
    assert limit.may_start(31, now=500.0)


def test_a_burst_of_refusals_right_at_the_start_is_not_a_signal_alone() -> None:
    # Fewer answers than min_samples: three refusals in a row at the start say nothing yet.
    limit = AdaptiveLimit(32, min_samples=8)
    for _ in range(3):
        assert not limit.on_refused(limit.epoch, carried=0, now=0.0, wait=1.0)
    assert limit.limit == 32
    assert limit.wait_time(0.0) == 0.0


def test_scattered_429s_on_job_requests_do_not_shrink_the_limit() -> None:
    limit = AdaptiveLimit(32)
    for i in range(500):
        assert not limit.on_answer(limit.epoch, rate_limited=i % 7 == 0)
    assert limit.limit == 32


def test_refusals_correlated_with_load_shrink_to_what_the_server_carries() -> None:
    # A plan allowing 8 in flight, a map of 32: 8 submits accepted, then refusals.
    limit = AdaptiveLimit(32, min_samples=8)
    started = limit.epoch
    for _ in range(8):
        limit.on_accepted(started)
    shrank = [limit.on_refused(started, carried=8, now=0.0, wait=1.0) for _ in range(24)]
    # Half of the recent submits refused is the signal: the 8th refusal cuts 32 to the 8 the
    # server carries (not to 16, which would keep 8 refusals per round coming).
    assert shrank.index(True) == 7 and shrank.count(True) == 1
    assert limit.limit == 8
    # The rest of that burst was sent under the old limit: one signal, not sixteen.
    assert limit.epoch == started + 1
    # Others are still carried, so nobody waits for the refused inputs' Retry-After.
    assert limit.may_start(7, now=0.0)


def capped_at_8() -> AdaptiveLimit:
    """A limit of 32 that has just found a plan allowing 8 in flight."""
    limit = AdaptiveLimit(32)
    accept(limit, 8)
    for _ in range(8):
        limit.on_refused(0, carried=8, now=0.0, wait=1.0)
    assert limit.limit == 8
    return limit


def test_below_the_maximum_a_refused_probe_takes_the_last_step_back() -> None:
    limit = capped_at_8()
    # While refusals are recent the limit probes one step up after a round (8 accepted)...
    accept(limit, 7)
    assert limit.limit == 8
    accept(limit, 1)
    assert limit.limit == 9
    # ...and the probe's refusal (a job admitted under 9) is the answer: back to 8.
    assert limit.on_refused(limit.epoch, carried=8, now=1.0, wait=1.0)
    assert limit.limit == 8
    # A refusal of a job admitted before that step back changes nothing more.
    assert not limit.on_refused(limit.epoch - 1, carried=8, now=1.0, wait=1.0)
    assert limit.limit == 8


def test_a_cap_that_stays_is_probed_ever_more_rarely() -> None:
    # Each refused probe delays one input by its Retry-After: twice the rounds before the next.
    limit = capped_at_8()
    gaps = []
    for _ in range(7):
        accepted = 0
        while limit.limit == 8:
            limit.on_accepted(limit.epoch)
            accepted += 1
        gaps.append(accepted)
        assert limit.on_refused(limit.epoch, carried=8, now=0.0, wait=1.0)
    assert gaps == [8 * r for r in (1, 2, 4, 8, 16, 32, 32)]
    assert MAX_PROBE_ROUNDS == 32


def test_the_limit_recovers_quickly_once_refusals_stop() -> None:
    limit = capped_at_8()
    # Probed several times in vain first: the pause before the next probe is long by now.
    for _ in range(3):
        while limit.limit == 8:
            limit.on_accepted(limit.epoch)
        limit.on_refused(limit.epoch, carried=8, now=0.0, wait=1.0)
    accepted = 0
    while limit.limit == 8:  # the plan was raised meanwhile: the next probe goes through
        limit.on_accepted(limit.epoch)
        accepted += 1
    assert accepted == 8 * 8
    accepted = 0
    while limit.limit < 32:
        limit.on_accepted(limit.epoch)
        accepted += 1
    # A round through at the probed level, then one step per accepted submit: about a round
    # more, where one step per round would take some 500 accepted submits.
    assert accepted == 9 + 22
    accept(limit, 10)
    assert limit.limit == 32  # never above the configured concurrency


def test_correlated_429s_on_job_requests_halve_once_per_epoch() -> None:
    # The platform refuses the status requests of most jobs in flight.
    limit = AdaptiveLimit(16, min_samples=8)
    started = limit.epoch
    shrank = [limit.on_answer(started, rate_limited=True) for _ in range(8)]
    assert shrank == [False] * 7 + [True]
    assert limit.limit == 8
    for _ in range(20):  # the same jobs' further 429s: one signal
        assert not limit.on_answer(started, rate_limited=True)
    assert limit.limit == 8
    # Jobs admitted under the new limit that are refused just as much halve it again.
    for _ in range(8):
        limit.on_answer(limit.epoch, rate_limited=True)
    assert limit.limit == 4


def test_refused_while_the_server_carries_nothing_pauses_for_the_wait() -> None:
    # Every submit refused and nothing of ours in flight: anything sent now would be refused.
    limit = AdaptiveLimit(4, min_samples=8)
    shrank = [limit.on_refused(0, carried=0, now=10.0, wait=2.5) for _ in range(8)]
    assert shrank == [False] * 7 + [True]
    assert limit.limit == 1
    assert not limit.may_start(0, now=11.0)
    assert limit.wait_time(11.0) == pytest.approx(1.5)
    assert limit.may_start(0, now=12.5)
    # The one probe sent then is refused too: paused again for its wait.
    assert limit.on_refused(limit.epoch, carried=0, now=12.5, wait=1.0)
    assert not limit.may_start(0, now=13.0)
    assert limit.may_start(0, now=13.5)


def test_never_below_the_minimum() -> None:
    limit = AdaptiveLimit(3, minimum=2)
    accept(limit, 8)
    for _ in range(20):
        limit.on_refused(limit.epoch, carried=0, now=0.0, wait=0.0)
    assert limit.limit == 2


@pytest.mark.parametrize(("maximum", "minimum"), [(0, 1), (4, 0), (2, 3)])
def test_bad_bounds_are_refused(maximum: int, minimum: int) -> None:
    with pytest.raises(ValueError, match="minimum"):
        AdaptiveLimit(maximum, minimum=minimum)


@pytest.mark.parametrize(
    ("window", "min_samples", "threshold"), [(4, 8, 0.5), (8, 0, 0.5), (8, 4, 0)]
)
def test_bad_windows_are_refused(window: int, min_samples: int, threshold: float) -> None:
    with pytest.raises(ValueError):
        AdaptiveLimit(8, window=window, min_samples=min_samples, threshold=threshold)
