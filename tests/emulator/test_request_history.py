"""The platform API's request history (GET /api/v1/models/requests/by-endpoint).

Over HTTP against a running emulator on both backends: what it lists, filters, pages and
expands, faulted and unfinished requests, the lag. The rules that need a clock (the lag, the
default windows) are also tested on the pure function, with ``now`` driven by the test.
"""

from __future__ import annotations

import datetime
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional

import httpx
import pytest

from fal_client.testing import AppContext, AppError, Emulator
from fal_client.testing._history import HistoryEntry, HistoryQuery, parse_query, query_history
from fal_client.testing._platform_params import FieldError

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

BY_ENDPOINT = "/api/v1/models/requests/by-endpoint"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(builtin_apps=False) as emulator:

        @emulator.app("me/echo", workers=4)
        async def echo(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
            if "status" in arguments:
                raise AppError(arguments["status"], "as asked")
            if arguments.get("crash"):
                raise RuntimeError("boom")
            return {"echo": arguments}

        yield emulator


@pytest.fixture
async def fal(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """One client for the fal services and the platform API alike, sending the key."""
    async with httpx.AsyncClient(
        base_url=emu.url, headers={"Authorization": f"Key {emu.key}"}, timeout=10
    ) as http:
        yield http


async def _history(fal: httpx.AsyncClient, **params: Any) -> Dict[str, Any]:
    response = await fal.get(BY_ENDPOINT, params={"endpoint_id": "me/echo", **params})
    assert response.status_code == 200, response.text
    body: Dict[str, Any] = response.json()
    return body


async def _run(fal: httpx.AsyncClient, arguments: Dict[str, Any], app: str = "me/echo") -> str:
    response = await fal.post(f"/run/{app}", json=arguments)
    return response.headers["x-fal-request-id"]


def _parse(stamp: str) -> datetime.datetime:
    assert stamp.endswith("Z"), stamp
    return datetime.datetime.fromisoformat(stamp[:-1] + "+00:00")


# --- what it lists -----------------------------------------------------------------------------


async def test_finished_requests_of_every_kind_newest_first(
    emu: Emulator, fal: httpx.AsyncClient
) -> None:
    ran = await _run(fal, {"n": 1})
    queued = (await fal.post("/queue/me/echo", json={"n": 2})).json()["request_id"]
    await emu.wait_job_status_async(queued, status="COMPLETED")
    async with fal.stream("POST", "/run/me/echo/stream", json={"n": 3}) as response:
        await response.aread()
        streamed = response.headers["x-fal-request-id"]
    await emu.wait_job_status_async(streamed, status="COMPLETED")

    body = await _history(fal)

    assert [item["request_id"] for item in body["items"]] == [streamed, queued, ran]
    assert body["next_cursor"] is None and body["has_more"] is False
    item = body["items"][1]
    assert set(item) == {
        "request_id",
        "endpoint_id",
        "sent_at",
        "started_at",
        "ended_at",
        "status_code",
        "duration",
    }  # no payloads unless expanded
    assert item["endpoint_id"] == "me/echo" and item["status_code"] == 200
    sent, started, ended = (_parse(item[k]) for k in ("sent_at", "started_at", "ended_at"))
    assert sent <= started <= ended
    assert item["duration"] == pytest.approx((ended - started).total_seconds(), abs=1e-6)
    job = emu.job(queued)
    assert job is not None and job.finished_at is not None
    assert ended.timestamp() == pytest.approx(job.finished_at, abs=1e-5)


async def test_payloads_are_the_input_and_the_output(fal: httpx.AsyncClient) -> None:
    ok = await _run(fal, {"n": 1, "text": "héllo"})
    failed = await _run(fal, {"status": 422})

    body = await _history(fal, expand="payloads")

    by_id = {item["request_id"]: item for item in body["items"]}
    assert by_id[ok]["json_input"] == {"n": 1, "text": "héllo"}
    assert by_id[ok]["json_output"] == {"echo": {"n": 1, "text": "héllo"}}
    assert by_id[failed]["json_input"] == {"status": 422}
    assert by_id[failed]["json_output"] == {"detail": "as asked"}


async def test_only_the_named_endpoint_and_an_app_registered_under_a_sub_path(
    emu: Emulator, fal: httpx.AsyncClient
) -> None:
    @emu.app("me/flux/dev")
    async def dev(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        return {}

    @emu.app("me/flux")
    async def flux(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        return {}

    echo = await _run(fal, {})
    dev_id = await _run(fal, {}, "me/flux/dev")
    schnell = await _run(fal, {}, "me/flux/schnell")  # served by me/flux
    root = await _run(fal, {}, "me/flux")

    async def ids(endpoint_id: str) -> List[str]:
        response = await fal.get(BY_ENDPOINT, params={"endpoint_id": endpoint_id})
        return [item["request_id"] for item in response.json()["items"]]

    assert await ids("me/flux/dev") == [dev_id]
    assert await ids("me/flux/schnell") == [schnell]
    assert await ids("me/flux") == [root]
    assert await ids("me/echo") == [echo]
    assert await ids("me/unknown") == []


async def test_a_job_whose_submit_answer_a_fault_dropped_is_listed(
    emu: Emulator, fal: httpx.AsyncClient
) -> None:
    emu.faults("reset_after_submit", count=1)

    with pytest.raises(httpx.TransportError):
        await fal.post("/queue/me/echo", json={"lost": True})
    job = await emu.wait_job_status_async(app="me/echo", status="COMPLETED")

    body = await _history(fal, expand="payloads")

    # The caller never saw this id; the history is where it finds the job again.
    assert [item["request_id"] for item in body["items"]] == [job.request_id]
    assert body["items"][0]["json_input"] == {"lost": True}
    assert body["items"][0]["status_code"] == 200


# --- filters -------------------------------------------------------------------------------------


async def test_status_filters_by_class(emu: Emulator, fal: httpx.AsyncClient) -> None:
    ok = await _run(fal, {})
    user = await _run(fal, {"status": 422})
    crashed = await _run(fal, {"crash": True})
    gate = emu.gate()

    @emu.app("me/held")
    async def held(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        await gate.wait()
        return {}

    # A cancelled request answers 499: a user error.
    cancelled = (await fal.post("/queue/me/held", json={})).json()["request_id"]
    await emu.wait_job_status_async(cancelled, status="IN_PROGRESS")
    await fal.put(f"/queue/me/held/requests/{cancelled}/cancel")
    await emu.wait_job_status_async(cancelled, status="COMPLETED")

    async def ids(status: str, endpoint_id: str = "me/echo") -> List[str]:
        body = await _history(fal, status=status, endpoint_id=endpoint_id)
        return [item["request_id"] for item in body["items"]]

    assert await ids("success") == [ok]
    assert await ids("user_error") == [user]
    assert await ids("error") == [crashed]
    assert await ids("user_error", "me/held") == [cancelled]


async def test_request_id_and_the_start_end_window(fal: httpx.AsyncClient) -> None:
    first = await _run(fal, {"n": 1})
    second = await _run(fal, {"n": 2})
    third = await _run(fal, {"n": 3})
    items = {item["request_id"]: item for item in (await _history(fal))["items"]}

    async def ids(**params: Any) -> List[str]:
        return [item["request_id"] for item in (await _history(fal, **params))["items"]]

    assert await ids(request_id=second) == [second]
    assert await ids(request_id="no-such-request") == []
    # start is inclusive and end exclusive, both on sent_at; "Z" or "+00:00" alike.
    second_sent = items[second]["sent_at"]
    assert await ids(start=second_sent) == [third, second]
    assert await ids(end=second_sent) == [first]
    assert await ids(start=items[first]["sent_at"], end=items[third]["sent_at"]) == [second, first]
    plus = second_sent[:-1] + "+00:00"
    assert await ids(start=plus) == [third, second]
    assert await ids(start="2000-01-01", end="2000-01-02") == []
    # A start before the default 24 h window reaches further back; these are all inside it.
    assert await ids(start="2000-01-01") == [third, second, first]


async def test_pages_follow_the_cursor(fal: httpx.AsyncClient) -> None:
    ids = [await _run(fal, {"n": n}) for n in range(5)]

    pages, cursors, params = [], [], {"limit": 2}
    while True:
        body = await _history(fal, **params)
        pages.append([item["request_id"] for item in body["items"]])
        assert body["has_more"] is (body["next_cursor"] is not None)
        if body["next_cursor"] is None:
            break
        cursors.append(body["next_cursor"])
        params = {"limit": 2, "cursor": body["next_cursor"]}

    newest_first = ids[::-1]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    assert cursors == ["Mg==", "Mw=="]
    assert (await _history(fal))["items"][0]["request_id"] == ids[-1]  # default limit: 50


async def test_sort_by_duration_puts_the_longest_first(
    emu: Emulator, fal: httpx.AsyncClient
) -> None:
    gate = emu.gate()

    @emu.app("me/mixed", workers=4)
    async def mixed(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        if arguments.get("hold"):
            await gate.wait()
        return {}

    # The held job runs over the whole life of the other two, so it is strictly the longest.
    long = (await fal.post("/queue/me/mixed", json={"hold": True})).json()["request_id"]
    await emu.wait_job_status_async(long, status="IN_PROGRESS")
    quick = [await _run(fal, {}, "me/mixed") for _ in range(2)]
    gate.open()
    await emu.wait_job_status_async(long, status="COMPLETED")

    by_end = await _history(fal, endpoint_id="me/mixed")
    by_duration = await _history(fal, endpoint_id="me/mixed", sort_by="duration")

    assert [item["request_id"] for item in by_end["items"]] == [long, quick[1], quick[0]]
    durations = [item["duration"] for item in by_duration["items"]]
    assert by_duration["items"][0]["request_id"] == long
    assert durations == sorted(durations, reverse=True)


# --- unfinished requests and the lag -------------------------------------------------------------


async def test_unfinished_requests_are_listed_only_when_asked_for(
    emu: Emulator, fal: httpx.AsyncClient
) -> None:
    gate = emu.gate()

    @emu.app("me/one", workers=1)
    async def one(arguments: Dict[str, Any], ctx: AppContext) -> Dict[str, Any]:
        await gate.wait()
        return {}

    running = (await fal.post("/queue/me/one", json={"n": 1})).json()["request_id"]
    await emu.wait_job_status_async(running, status="IN_PROGRESS")
    queued = (await fal.post("/queue/me/one", json={"n": 2})).json()["request_id"]

    assert (await _history(fal, endpoint_id="me/one"))["items"] == []  # the default

    emu.history_lists_pending = True
    body = await _history(fal, endpoint_id="me/one", expand="payloads")
    by_id = {item["request_id"]: item for item in body["items"]}
    assert list(by_id) == [queued, running]  # unfinished, newest first
    for item in by_id.values():
        assert item["ended_at"] is None and item["status_code"] is None
        assert item["duration"] is None and item["json_output"] is None
    assert by_id[running]["started_at"] is not None and by_id[queued]["started_at"] is None
    assert by_id[queued]["json_input"] == {"n": 2}
    # An unfinished request has no status yet, so a status filter leaves it out.
    assert (await _history(fal, endpoint_id="me/one", status="success"))["items"] == []

    gate.open()
    await emu.wait_job_status_async(queued, status="COMPLETED")
    finished = (await _history(fal, endpoint_id="me/one"))["items"]
    assert [item["request_id"] for item in finished] == [queued, running]
    assert all(item["status_code"] == 200 for item in finished)


async def test_a_finished_request_appears_only_after_the_lag(
    emu: Emulator, fal: httpx.AsyncClient
) -> None:
    # The lag is driven by setting it, never by sleeping: an hour hides what just finished.
    emu.history_lag = 3600
    done = await _run(fal, {})

    assert (await _history(fal))["items"] == []
    emu.history_lists_pending = True
    pending = (await _history(fal))["items"]
    assert [(item["request_id"], item["ended_at"], item["status_code"]) for item in pending] == [
        (done, None, None)
    ]

    emu.history_lag = 0
    listed = (await _history(fal))["items"]
    assert [item["request_id"] for item in listed] == [done]
    assert listed[0]["ended_at"] is not None and listed[0]["status_code"] == 200


def test_the_options_are_checked_and_set_from_the_constructor() -> None:
    emulator = Emulator(builtin_apps=False, history_lag=2.5, history_lists_pending=True)
    assert (emulator.history_lag, emulator.history_lists_pending) == (2.5, True)
    for bad in (-1, float("nan"), float("inf"), "5", True):
        with pytest.raises(ValueError, match="history_lag"):
            emulator.history_lag = bad  # type: ignore[assignment]
    with pytest.raises(TypeError, match="history_lists_pending"):
        emulator.history_lists_pending = 1  # type: ignore[assignment]
    with pytest.raises(ValueError, match="history_lag"):
        Emulator(builtin_apps=False, history_lag=-0.5)


# --- refusals ------------------------------------------------------------------------------------


async def test_the_history_needs_the_key(emu: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emu.url, timeout=10) as http:
        response = await http.get(BY_ENDPOINT, params={"endpoint_id": "me/echo"})

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "endpoint_id"),
        ({"endpoint_id": "me/echo,me/other"}, "endpoint_id"),
        ({"start": "yesterday"}, "start"),
        ({"end": "2025-13-01"}, "end"),
        ({"start": "2025-01-02", "end": "2025-01-01"}, "end"),
        ({"status": "failed"}, "status"),
        ({"sort_by": "started_at"}, "sort_by"),
        ({"limit": "101"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
        ({"expand": "billing"}, "expand"),
        ({"order": "asc"}, "order"),
    ],
)
async def test_bad_parameters_are_a_422_naming_them(
    fal: httpx.AsyncClient, params: Dict[str, str], named: str
) -> None:
    query = dict(params)
    if named != "endpoint_id":
        query.setdefault("endpoint_id", "me/echo")
    response = await fal.get(BY_ENDPOINT, params=query)

    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{named}: "), response.json()


# --- the pure function, with a driven clock ------------------------------------------------------

S = 1_000_000  # microseconds per second
NOW = 1_750_000_000 * S


def _entry(
    request_id: str,
    sent: int,
    ended: Optional[int] = None,
    *,
    started: Any = "when sent",
    status_code: Optional[int] = 200,
    seq: int = 0,
) -> HistoryEntry:
    return HistoryEntry(
        request_id=request_id,
        endpoint_id="me/app",
        sent_at=sent,
        started_at=sent if started == "when sent" else started,
        ended_at=ended,
        status_code=status_code if ended is not None else None,
        json_input=b"{}",
        json_output=b"{}" if ended is not None else None,
        seq=seq,
    )


def _listed(entries: List[HistoryEntry], query: HistoryQuery, **options: Any) -> List[str]:
    body = query_history(entries, query, **{"now": NOW, **options})
    return [item["request_id"] for item in body["items"]]


def test_the_lag_on_a_driven_clock() -> None:
    entries = [_entry("a", NOW - 10 * S, NOW - 5 * S)]
    query = HistoryQuery("me/app")

    assert _listed(entries, query, lag=5.0) == ["a"]  # ended exactly 5 s ago
    assert _listed(entries, query, lag=5.000001) == []
    assert _listed(entries, query, lag=5.000001, now=NOW + 1) == ["a"]
    pending = query_history(entries, query, now=NOW, lag=6, include_pending=True)["items"]
    assert [(item["request_id"], item["ended_at"]) for item in pending] == [("a", None)]


def test_the_default_windows_are_a_day_or_ninety_days_with_a_request_id() -> None:
    day = 24 * 3600 * S
    entries = [
        _entry("recent", NOW - day + 1, NOW - day + 2),
        _entry("old", NOW - day - 1, NOW - day),
        _entry("ancient", NOW - 91 * day, NOW - 91 * day + 1),
    ]

    assert _listed(entries, HistoryQuery("me/app")) == ["recent"]
    assert _listed(entries, HistoryQuery("me/app", request_id="old")) == ["old"]
    assert _listed(entries, HistoryQuery("me/app", request_id="ancient")) == []
    assert _listed(entries, HistoryQuery("me/app", start=NOW - 92 * day)) == [
        "recent",
        "old",
        "ancient",
    ]


def test_sorting_with_unfinished_and_never_started_requests() -> None:
    entries = [
        _entry("fast", NOW - 9 * S, NOW - 8 * S, seq=1),
        _entry("slow", NOW - 9 * S, NOW - 4 * S, started=NOW - 9 * S, seq=2),
        _entry("never-started", NOW - 7 * S, NOW - 6 * S, started=None, status_code=499, seq=3),
        _entry("running", NOW - 3 * S, None, started=NOW - 2 * S, seq=4),
        _entry("queued", NOW - 2 * S, None, started=None, seq=5),
    ]
    by_end = HistoryQuery("me/app")
    by_duration = HistoryQuery("me/app", sort_by="duration")

    assert _listed(entries, by_end, include_pending=True) == [
        "queued",
        "running",
        "slow",
        "never-started",
        "fast",
    ]
    assert _listed(entries, by_duration, include_pending=True) == [
        "slow",
        "fast",
        "never-started",
        "queued",
        "running",
    ]
    items = query_history(entries, by_end, now=NOW)["items"]
    assert {item["request_id"]: item["duration"] for item in items} == {
        "slow": 5.0,
        "never-started": None,
        "fast": 1.0,
    }


def test_parsing_the_query() -> None:
    query = parse_query(
        [
            ("endpoint_id", "me/app"),
            ("start", "2025-01-01T00:00:00Z"),
            ("end", "2025-01-01T01:00:00.5+01:00"),
            ("expand", "payloads"),
            ("limit", "100"),
            ("cursor", "Mw=="),
            ("sort_by", "duration"),
            ("status", "user_error"),
        ]
    )

    assert query == HistoryQuery(
        endpoint_id="me/app",
        start=1_735_689_600 * S,
        end=1_735_689_600 * S + S // 2,  # 01:00:00.5+01:00 is 00:00:00.5Z
        status="user_error",
        payloads=True,
        limit=100,
        page=3,
        sort_by="duration",
    )
    with pytest.raises(FieldError) as caught:
        parse_query([("endpoint_id", "me/app"), ("limit", "500")])
    assert caught.value.field == "limit"
