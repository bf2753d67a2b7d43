"""The adaptive in-flight limit: AIMD decisions, without I/O or a clock."""

from __future__ import annotations

import pytest

from fal_client._aimd import AdaptiveLimit


def test_starts_at_the_maximum_and_admits_up_to_it() -> None:
    limit = AdaptiveLimit(4)
    assert limit.limit == 4
    assert limit.may_start(3, now=0.0)
    assert not limit.may_start(4, now=0.0)


def test_a_rate_limit_halves_once_per_epoch() -> None:
    limit = AdaptiveLimit(16)
    epoch = limit.epoch
    limit.on_rate_limited(epoch, now=0.0)
    assert limit.limit == 8
    # Jobs admitted under the old limit report their 429s too: one signal, not eight.
    for _ in range(7):
        limit.on_rate_limited(epoch, now=0.0)
    assert limit.limit == 8
    # A job admitted after the halving that is refused again halves again.
    limit.on_rate_limited(limit.epoch, now=0.0)
    assert limit.limit == 4


def test_never_below_the_minimum() -> None:
    limit = AdaptiveLimit(3, minimum=1)
    for _ in range(5):
        limit.on_rate_limited(limit.epoch, now=0.0)
    assert limit.limit == 1


def test_each_success_adds_one_back_up_to_the_maximum() -> None:
    limit = AdaptiveLimit(10)
    limit.on_rate_limited(limit.epoch, now=0.0)
    limit.on_rate_limited(limit.epoch, now=0.0)
    assert limit.limit == 2
    for expected in range(3, 11):
        limit.on_success()
        assert limit.limit == expected
    limit.on_success()
    assert limit.limit == 10


def test_retry_after_pauses_new_starts_for_that_long() -> None:
    limit = AdaptiveLimit(8)
    pause = limit.on_rate_limited(limit.epoch, now=100.0, retry_after=2.5)
    assert pause == 2.5
    assert not limit.may_start(0, now=101.0)
    assert limit.wait_time(101.0) == pytest.approx(1.5)
    assert limit.may_start(0, now=102.5)
    assert limit.wait_time(103.0) == 0.0


def test_a_shorter_retry_after_does_not_shorten_a_pause() -> None:
    limit = AdaptiveLimit(8)
    limit.on_rate_limited(limit.epoch, now=0.0, retry_after=5.0)
    limit.on_rate_limited(limit.epoch, now=1.0, retry_after=0.5)
    assert limit.wait_time(1.0) == pytest.approx(4.0)


def test_without_retry_after_the_backoff_doubles_until_a_success() -> None:
    limit = AdaptiveLimit(8, base_delay=0.1, max_delay=0.5)
    pauses = [limit.on_rate_limited(limit.epoch, now=0.0) for _ in range(5)]
    assert pauses == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    limit.on_success()
    assert limit.on_rate_limited(limit.epoch, now=10.0) == pytest.approx(0.1)


def test_a_burst_from_one_epoch_does_not_grow_the_pause() -> None:
    # Eight jobs started together all hear a 429 (their retries report each one).
    limit = AdaptiveLimit(16, base_delay=0.1, max_delay=10.0)
    started = limit.epoch
    pauses = [limit.on_rate_limited(started, now=0.0) for _ in range(8)]
    assert limit.limit == 8
    assert pauses == pytest.approx([0.1] * 8)
    assert limit.wait_time(0.0) == pytest.approx(0.1)


@pytest.mark.parametrize(("maximum", "minimum"), [(0, 1), (4, 0), (2, 3)])
def test_bad_bounds_are_refused(maximum: int, minimum: int) -> None:
    with pytest.raises(ValueError, match="minimum"):
        AdaptiveLimit(maximum, minimum=minimum)
