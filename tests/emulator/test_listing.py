"""The I/O-free parts of the control API: list queries, paging, cursors, app docstrings."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, List, Tuple

import pytest

from fal_client.testing._apps import parse_app_doc
from fal_client.testing._docstrings import entries, summary
from fal_client.testing._listing import (
    Listing,
    QueryError,
    app_filter,
    choice_filter,
    encode_cursor,
    paginate,
    parse_query,
    parse_status_code,
    parse_timestamp,
    since_filter,
    status_code_matches,
)

pytestmark = [pytest.mark.timeout(10)]

ITEMS = Listing(
    "items",
    (
        app_filter(),
        choice_filter("status", "", ("open", "closed"), lambda item, s: item.status == s),
        since_filter("at", "made"),
    ),
)


def _entries(count: int) -> List[Tuple[int, Any]]:
    return [
        (
            key,
            SimpleNamespace(
                key=key,
                app="fal-ai/echo" if key % 2 else "me/other",
                status="open" if key % 3 else "closed",
                at=1000.0 + key,
            ),
        )
        for key in range(1, count + 1)
    ]


def _keys(query: str, count: int = 10) -> Tuple[List[int], Any]:
    pairs = [tuple(part.split("=", 1)) for part in query.split("&") if part]
    page = paginate(parse_query(ITEMS, pairs), _entries(count), listing="items")
    return [item.key for item in page.items], page


def test_no_parameters_means_everything_oldest_first() -> None:
    keys, page = _keys("")
    assert keys == list(range(1, 11)) and page.total == 10 and page.next_cursor is None


def test_filters_combine_and_values_are_alternatives() -> None:
    assert _keys("app=fal-ai/echo")[0] == [1, 3, 5, 7, 9]
    assert _keys("app=me/*,fal-ai/ech?")[0] == list(range(1, 11))
    assert _keys("app=fal-ai/echo&status=closed")[0] == [3, 9]
    assert _keys("status=closed&status=CLOSED")[0] == [3, 6, 9]
    assert _keys("since=1008")[0] == [8, 9, 10]


def test_pages_cover_every_item_once_in_both_orders() -> None:
    for order, expected in (("asc", list(range(1, 11))), ("desc", list(range(10, 0, -1)))):
        seen: List[int] = []
        cursor = ""
        while True:
            keys, page = _keys(f"limit=3&order={order}{cursor}")
            seen += keys
            assert page.total == 10
            if page.next_cursor is None:
                break
            cursor = f"&cursor={page.next_cursor}"
        assert seen == expected


def test_a_cursor_survives_its_item_going_away() -> None:
    _, first = _keys("limit=4")
    remaining = [pair for pair in _entries(10) if pair[0] != 4]  # the cursor's own item expired
    query = parse_query(ITEMS, [("limit", "4"), ("cursor", first.next_cursor)])
    page = paginate(query, remaining, listing="items")
    assert [item.key for item in page.items] == [5, 6, 7, 8]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("colour=red", "colour"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("limit=10001", "limit"),
        ("limit=2&limit=3", "limit"),
        ("order=sideways", "order"),
        ("status=half-open", "status"),
        ("status=", "status"),
        ("since=yesterday", "since"),
        ("cursor=not-a-cursor", "cursor"),
        (f"cursor={encode_cursor('jobs', False, 3)}", "cursor"),
        (f"cursor={encode_cursor('items', True, 3)}", "cursor"),
    ],
)
def test_bad_queries_name_the_parameter(query: str, parameter: str) -> None:
    with pytest.raises(QueryError) as caught:
        _keys(query)
    assert caught.value.parameter == parameter
    assert repr(parameter) in str(caught.value)


def test_unknown_parameter_lists_what_is_accepted() -> None:
    with pytest.raises(QueryError, match="it accepts: app, status, since, limit, cursor, order"):
        _keys("colour=red")


def test_timestamps_and_status_codes() -> None:
    assert parse_timestamp("1767268800.5") == 1767268800.5
    assert parse_timestamp("2026-01-01T12:00:00Z") == 1767268800.0
    assert parse_timestamp("2026-01-01T12:00:00") == 1767268800.0  # no zone: UTC
    with pytest.raises(ValueError):
        parse_timestamp("nan")
    assert status_code_matches(404, parse_status_code("4XX"))
    assert status_code_matches(404, "404") and not status_code_matches(404, "5xx")
    assert not status_code_matches(None, "2xx")
    for bad in ("4x", "600", "abc", "40"):
        with pytest.raises(ValueError):
            parse_status_code(bad)


def test_app_docstrings_give_description_inputs_and_example() -> None:
    doc = parse_app_doc(
        """``me/app``: draws ``prompt``
        into a picture.

        Inputs:
            prompt: the text (required),
                on two lines.
            seed (int): reproducible.

        Example:
            {"prompt": "a fox"}

        Args:
            arguments: not an input.
        """
    )
    assert doc.description == "Draws `prompt` into a picture."
    assert doc.inputs == {
        "prompt": "the text (required), on two lines.",
        "seed": "(int) reproducible.",
    }
    assert doc.example == {"prompt": "a fox"}
    assert parse_app_doc("Example:\n    not json").example is None
    assert parse_app_doc(None).description == ""


def test_record_docstrings_parse_into_attributes() -> None:
    from fal_client.testing import JobInfo

    described = entries(JobInfo.__doc__, "Attributes")
    assert described["queue_position"].startswith("how many queued jobs")
    assert summary(JobInfo.__doc__).startswith("One request the emulator ran")
