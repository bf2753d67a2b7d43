"""The multipart engine and the upload planning, without a server: a fake transport records
what is sent, so concurrency, read timing and part order are checked exactly."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Optional

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fal_client._lifecycle import normalize_repositories
from fal_client._multipart import complete, signed_target, upload_parts
from fal_client._upload_options import MAX_PARTS, plan_parts
from fal_client._upload_source import BytesSource, ProgressReporter

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


class FakeResponse:
    def __init__(self, headers: dict[str, str], body: Any = None):
        self.headers = headers
        self._body = body

    def json(self) -> Any:
        return self._body


class FakeTransport:
    """Answers part PUTs after the test releases them; records the order of everything."""

    def __init__(self, hold: bool = True):
        self.events: list[tuple[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = anyio.Event()
        self.hold = hold
        self.completed: Optional[dict[str, Any]] = None

    async def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        if url.split("?")[0].endswith("/complete"):
            self.completed = json.loads(kwargs["content"])
            return FakeResponse({}, {"file_url": "https://files/x"})
        number = int(url.split("?")[0].rsplit("/", 1)[1])
        assert kwargs["authorize"] is False and kwargs["repeatable"] is True
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.events.append(("start", number))
            body = b"".join([chunk async for chunk in kwargs["content"]])
            assert len(body) == int(kwargs["headers"]["Content-Length"])
            if self.hold:
                await self.release.wait()
            # Finish in reverse order of size of the part number, to scramble completion order.
            await anyio.sleep(0.001 * (10 - number % 10))
            self.events.append(("done", number))
            return FakeResponse({"etag": f'"e{number}"'})
        finally:
            self.in_flight -= 1


class CountingSource(BytesSource):
    """Records which ranges were read, and when."""

    def __init__(self, data: bytes, log: list[tuple[str, Any]]):
        super().__init__(data)
        self.log = log

    async def chunks(self, offset: int, length: int) -> AsyncIterator[bytes]:
        self.log.append(("read", offset))
        async for chunk in super().chunks(offset, length):
            yield chunk


async def test_parts_run_under_the_limit_are_read_in_turn_and_complete_in_order() -> None:
    transport = FakeTransport()
    source = CountingSource(bytes(range(256)) * 40, transport.events)  # 10240 bytes
    target = signed_target("https://up/x?sig=1", "https://files/x")
    seen: list[int] = []

    async def progress(sent: int, total: int) -> None:
        seen.append(sent)

    async with anyio.create_task_group() as group:

        async def run() -> None:
            etags = await upload_parts(
                transport,  # type: ignore[arg-type]
                source,
                target,
                chunk_size=1000,
                max_concurrency=3,
                progress=ProgressReporter(source.size, progress),
            )
            url = await complete(transport, target, etags)  # type: ignore[arg-type]
            assert url == "https://files/x"

        group.start_soon(run)
        await anyio.wait_all_tasks_blocked()
        # Only three parts started, and only their bytes were read.
        assert [e for e in transport.events if e[0] == "read"] == [
            ("read", 0),
            ("read", 1000),
            ("read", 2000),
        ]
        transport.release.set()
    assert transport.max_in_flight == 3
    assert transport.completed is not None
    listed = [p["partNumber"] for p in transport.completed["parts"]]
    assert listed == list(range(1, 12))
    assert transport.completed["parts"][0]["etag"] == '"e1"'
    assert seen[-1] == source.size and seen == sorted(seen)


async def test_the_first_part_failure_stops_the_others_and_is_raised_bare() -> None:
    class Failing(FakeTransport):
        async def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
            if url.split("?")[0].endswith("/3"):
                raise ConnectionError("part 3 lost")
            return await super().request(method, url, **kwargs)

    transport = Failing(hold=True)  # the other parts wait forever unless cancelled
    with pytest.raises(ConnectionError, match="part 3"):
        await upload_parts(
            transport,  # type: ignore[arg-type]
            BytesSource(b"x" * 5000),
            signed_target("https://up/x", "https://files/x"),
            chunk_size=1000,
            max_concurrency=4,
            progress=ProgressReporter(5000, None),
        )
    assert transport.completed is None


def test_signed_part_urls_keep_the_query() -> None:
    target = signed_target("https://h/cdn/signed/u1?expires=1&signature=s", "https://f")
    assert target.part_url(7) == "https://h/cdn/signed/u1/7?expires=1&signature=s"
    assert target.complete_url == "https://h/cdn/signed/u1/complete?expires=1&signature=s"


@given(size=st.integers(0, 10**9), chunk=st.integers(1, 10**8))
def test_plan_covers_every_byte_once_with_no_empty_part(size: int, chunk: int) -> None:
    plan = plan_parts(size, chunk)
    assert len(plan) <= MAX_PARTS
    assert sum(length for _, _, length in plan) == size
    assert all(length > 0 for _, _, length in plan)
    assert [n for n, _, _ in plan] == list(range(1, len(plan) + 1))
    assert all(a[1] + a[2] == b[1] for a, b in zip(plan, plan[1:]))


def test_repositories_normalise_like_the_official_client() -> None:
    assert normalize_repositories(None, None) == ["fal_v3", "fal"]
    assert normalize_repositories("fal", "fal_v3") == ["fal", "fal_v3"]
    assert normalize_repositories("fal_v3", []) == ["fal_v3"]
    with pytest.warns(DeprecationWarning):
        assert normalize_repositories("cdn", ["fal_v3", "fal"]) == ["fal_v3", "fal"]
    with pytest.raises(ValueError, match="unknown upload repository"):
        normalize_repositories("gcs", None)
