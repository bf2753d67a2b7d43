"""Resources of a cancelled request are released when the cancelled call returns, not later.

Two things the garbage collector would otherwise be left to do: closing a request body that
httpx abandoned mid-send (an upload part reading from a file), and closing a file whose task
was already cancelled when it tried to (anyio before 4.13 skipped that close).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

import fal_client
from fal_client._asyncfile import open_file

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@pytest.fixture
def server_that_never_reads() -> Iterator[str]:
    """A TCP server that accepts connections and never reads: a big body blocks the sender."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(5)
    for conn in accepted:
        conn.close()


class TrackedBody:
    """A re-iterable request body that records when an iteration was closed."""

    def __init__(self) -> None:
        self.first_chunk_out = anyio.Event()
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            for _ in range(4):
                self.first_chunk_out.set()
                # Larger than the socket buffers: httpx blocks writing it, with this
                # generator parked at its yield.
                yield b"x" * (8 * 1024 * 1024)
        finally:
            self.closed = True


# httpx leaves an abandoned body to the GC (this is the case that matters); httpx2 closes it
# itself, so there the test is a control that the behaviour holds on both libraries.
@pytest.mark.parametrize("library", ["httpx", "httpx2"])
async def test_a_body_abandoned_mid_send_is_closed_before_the_call_returns(
    server_that_never_reads: str, library: str
) -> None:
    pytest.importorskip(library)
    client = fal_client.AsyncClient(key="k", max_retries=0, http_library=library)
    body = TrackedBody()
    async with anyio.create_task_group() as tg:

        async def put() -> None:
            await client.engine.transport.request(
                "PUT",
                f"{server_that_never_reads}/part",
                repeatable=True,
                content=body,
                headers={"Content-Length": str(4 * 8 * 1024 * 1024)},
                authorize=False,
            )

        tg.start_soon(put)
        with anyio.fail_after(10):
            await body.first_chunk_out.wait()
        tg.cancel_scope.cancel()
    # Checked at once: a generator left to the garbage collector would be closed only later,
    # by the event loop's finaliser.
    assert body.closed
    await client.aclose()


async def test_a_file_is_closed_even_when_its_task_is_already_cancelled(tmp_path: Path) -> None:
    # Meaningful with anyio 4.12 (the newest on Python 3.9), whose AsyncFile.aclose is not
    # shielded; from 4.13 anyio shields it too and this passes either way.
    path = tmp_path / "data.bin"
    path.write_bytes(b"abc")
    with anyio.CancelScope() as scope:
        async with open_file(path, "rb") as file:
            scope.cancel()
            await anyio.lowlevel.checkpoint()  # cancellation arrives here, the file open
    assert scope.cancelled_caught
    assert file.wrapped.closed
