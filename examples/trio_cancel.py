"""trio: the same engine under trio. Leaving a cancel scope cancels the remote job too."""

import trio

import fal_client


async def main() -> None:
    client = fal_client.AsyncClient()
    with trio.move_on_after(0.5) as scope:
        # A job longer than we are willing to wait: the scope expires, the client sends the
        # remote cancel (shielded, bounded) before the cancellation propagates.
        await client.subscribe("fal-ai/slow", {"seconds": 30})
    print("gave up:", scope.cancelled_caught)
    print("quick one:", await client.run("fal-ai/echo", {"hello": "trio"}))
    await client.aclose()


if __name__ == "__main__":
    trio.run(main)
