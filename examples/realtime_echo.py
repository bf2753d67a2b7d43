"""Realtime: a websocket session with an app, from sync code and from trio.

Run against fal with FAL_KEY set (use a realtime app such as ``fal-ai/fast-lcm-diffusion``), or
against a local emulator (`fal-client emulator` prints the variables to export), whose built-in
``fal-ai/realtime-echo`` echoes each message with a counter.
"""

import anyio

import fal_client

APP = "fal-ai/realtime-echo"


def sync_session() -> None:
    # max_buffering=2: if the app falls behind, it keeps only the two newest inputs.
    with fal_client.realtime(APP, max_buffering=2) as conn:
        for n in range(3):
            conn.send({"prompt": f"frame {n}", "request_id": n})
            print("sync reply:", conn.recv())


async def async_session() -> None:
    async with fal_client.AsyncClient() as client:
        async with client.realtime(APP) as conn:
            for n in range(3):
                await conn.send({"prompt": f"frame {n}"})
            # Replies come back in order; leaving the block (even by cancellation) closes the
            # socket at once.
            with anyio.fail_after(10):
                for _ in range(3):
                    print("trio reply:", await conn.recv())


if __name__ == "__main__":
    sync_session()
    anyio.run(async_session, backend="trio")
