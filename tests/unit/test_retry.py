"""The retry policy's decisions: pure, no I/O."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fal_client import RetryPolicy
from fal_client._retry import parse_retry_after


@pytest.mark.parametrize(
    ("status", "headers", "retry"),
    [
        (429, {}, True),
        (408, {}, True),
        (409, {}, True),
        (503, {}, True),  # ingress: no request id
        (502, {}, True),
        (503, {"x-fal-request-id": "r"}, False),  # from a runner: final
        (504, {"X-Fal-Request-Timeout-Type": "user"}, False),  # the caller's start_timeout
        (500, {}, False),
        (400, {}, False),
        (422, {}, False),
    ],
)
def test_status_classification(status: int, headers: dict[str, str], retry: bool) -> None:
    assert RetryPolicy().status_is_retryable(status, headers) is retry


@given(n=st.integers(1, 30), seed=st.integers(0, 2**32))
def test_delay_stays_within_jittered_exponential_bounds(n: int, seed: int) -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=5.0, jitter=0.5)
    delay = policy.delay(n, rng=random.Random(seed))
    raw = min(0.1 * 2 ** (n - 1), 5.0)
    assert raw * 0.5 - 1e-9 <= delay <= min(raw * 1.5, 5.0) + 1e-9


def test_retry_after_is_honoured_in_full_and_bounded_by_the_total_budget() -> None:
    policy = RetryPolicy(max_delay=3.0, max_total=60.0)
    assert policy.delay(1, retry_after=2.0) == 2.0
    assert policy.delay(1, retry_after=100.0) == 100.0
    assert not policy.may_retry(1, 0.0, policy.delay(1, retry_after=100.0))


def test_attempt_and_time_budgets() -> None:
    policy = RetryPolicy(max_attempts=3, max_total=1.0)
    assert policy.may_retry(1, 0.0, 0.1)
    assert not policy.may_retry(3, 0.0, 0.1)
    assert not policy.may_retry(1, 0.95, 0.1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_future() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(
        10.0
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"base_delay": -1},
        {"jitter": 2},
        {"multiplier": 0.5},
        {"max_attempts": 1.5},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
