"""The matching rule of a lost submit (``_reconcile.decide``), without a server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest

from fal_client._platform import HistoryItem
from fal_client._reconcile import CLOCK_SKEW, LostSubmit, Match, Verdict, decide

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
SKEW = timedelta(seconds=1)
ENDPOINT = "me/app"
SENT = {"prompt": "a cat", "n": 1}


def lost(sent: Any = SENT, skew: timedelta = SKEW) -> LostSubmit:
    # The POST went out at T0 and its error came back 2 s later.
    return LostSubmit(ENDPOINT, sent, T0, T0 + timedelta(seconds=2), skew)


def item(
    rid: str,
    at: float,
    json_input: Any = SENT,
    *,
    ended: bool = True,
    endpoint: str = ENDPOINT,
    sent_at: Optional[datetime] = None,
) -> HistoryItem:
    sent = T0 + timedelta(seconds=at) if sent_at is None else sent_at
    return HistoryItem(
        request_id=rid,
        endpoint_id=endpoint,
        sent_at=sent,
        started_at=sent,
        ended_at=sent + timedelta(seconds=0.5) if ended else None,
        status_code=200 if ended else None,
        duration=0.5 if ended else None,
        json_input=json_input,
    )


def test_the_window_is_widened_by_the_skew_on_both_sides() -> None:
    submit = lost()
    assert submit.window_start == T0 - SKEW
    assert submit.window_end == T0 + timedelta(seconds=3)
    assert LostSubmit(ENDPOINT, SENT, T0, T0).skew == CLOCK_SKEW > timedelta(0)


def test_one_matching_request_in_the_window_is_found() -> None:
    assert decide(lost(), [item("a", 1)], claimed=()) == Match(Verdict.FOUND, ("a",))
    assert decide(lost(), [item("a", 1)], claimed=()).request_id == "a"


@pytest.mark.parametrize("at", [-1.0, 0.0, 2.0, 3.0])
def test_the_window_bounds_are_inclusive(at: float) -> None:
    assert decide(lost(), [item("a", at)], ()).verdict is Verdict.FOUND


@pytest.mark.parametrize("at", [-1.001, 3.001, -60.0])
def test_a_request_outside_the_window_is_not_it(at: float) -> None:
    assert decide(lost(), [item("a", at)], ()).verdict is Verdict.NOT_YET


def test_inputs_compare_as_json_values_not_as_text() -> None:
    reordered = {"n": 1, "prompt": "a cat"}
    assert decide(lost(), [item("a", 1, reordered)], ()).verdict is Verdict.FOUND
    for other in ({"prompt": "a cat"}, {"prompt": "a cat", "n": 2}, None, [SENT], "a cat"):
        assert decide(lost(), [item("a", 1, other)], ()).verdict is Verdict.NOT_YET


def test_ints_and_floats_differ_as_fal_would_send_them() -> None:
    assert decide(lost({"n": 1}), [item("a", 1, {"n": 1.0})], ()).verdict is Verdict.NOT_YET


def test_another_endpoints_request_is_not_it() -> None:
    found = decide(lost(), [item("a", 1, endpoint="me/other")], ())
    assert found.verdict is Verdict.NOT_YET


def test_a_claimed_request_is_not_it() -> None:
    assert decide(lost(), [item("a", 1)], claimed={"a"}).verdict is Verdict.NOT_YET
    both = [item("a", 1), item("b", 1.5)]
    assert decide(lost(), both, claimed={"a"}) == Match(Verdict.FOUND, ("b",))


def test_two_unclaimed_matches_are_ambiguous_with_both_candidates() -> None:
    both = [item("a", 1), item("b", 1.5), item("c", 1, {"other": True})]
    assert decide(lost(), both, ()) == Match(Verdict.AMBIGUOUS, ("a", "b"))


def test_a_repeated_item_is_one_candidate() -> None:
    assert decide(lost(), [item("a", 1), item("a", 1)], ()) == Match(Verdict.FOUND, ("a",))


def test_an_unfinished_request_is_found_too() -> None:
    assert decide(lost(), [item("a", 1, ended=False)], ()).verdict is Verdict.FOUND


def test_an_item_without_sent_at_is_never_it() -> None:
    no_time = HistoryItem("a", ENDPOINT, None, None, None, None, None, json_input=SENT)
    assert decide(lost(), [no_time], ()).verdict is Verdict.NOT_YET


# --- absence: only when the history lists pending requests AND has caught up past the window


def test_absence_is_proven_by_a_pending_listing_that_caught_up() -> None:
    answer = [item("p", 10, {"x": 1}, ended=False), item("old", -30, SENT)]
    assert decide(lost(), answer, ()) == Match(Verdict.ABSENT_PROVEN)


def test_the_pending_item_and_the_later_item_may_be_different_items() -> None:
    answer = [item("p", -5, {"x": 1}, ended=False), item("later", 4, {"x": 2})]
    assert decide(lost(), answer, ()).verdict is Verdict.ABSENT_PROVEN


def test_a_finished_only_history_never_proves_absence() -> None:
    # Caught up past the window, but a job still queued would not be listed.
    answer = [item("later", 10, {"x": 1}), item("later2", 20, {"x": 2})]
    assert decide(lost(), answer, ()).verdict is Verdict.NOT_YET


def test_a_history_not_caught_up_never_proves_absence() -> None:
    # Pending requests listed, but nothing sent after the window's end yet (a lagging history).
    answer = [item("p", 1, {"x": 1}, ended=False), item("q", 3, {"x": 2}, ended=False)]
    assert decide(lost(), answer, ()).verdict is Verdict.NOT_YET


def test_an_empty_history_proves_nothing() -> None:
    assert decide(lost(), [], ()).verdict is Verdict.NOT_YET


def test_another_endpoints_items_prove_nothing() -> None:
    answer = [item("p", 10, {"x": 1}, ended=False, endpoint="me/other")]
    assert decide(lost(), answer, ()).verdict is Verdict.NOT_YET


def test_a_repeat_means_the_pages_shifted_and_proves_no_absence() -> None:
    answer = [item("p", 10, {"x": 1}, ended=False), item("q", 5), item("q", 5)]
    assert decide(lost(), answer, ()).verdict is Verdict.NOT_YET


def test_a_claimed_match_does_not_stop_the_proof() -> None:
    # The only request with this input is one the caller holds: ours made none.
    answer = [item("mine", 1), item("p", 10, {"x": 1}, ended=False)]
    assert decide(lost(), answer, {"mine"}).verdict is Verdict.ABSENT_PROVEN


def test_a_match_wins_over_a_proof() -> None:
    answer = [item("a", 1), item("p", 10, {"x": 1}, ended=False)]
    assert decide(lost(), answer, ()) == Match(Verdict.FOUND, ("a",))
