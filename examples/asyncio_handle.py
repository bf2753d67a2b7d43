"""asyncio: submit, follow the status stream with logs, then fetch the result by handle."""

import asyncio

import fal_client


async def main() -> None:
    async with fal_client.AsyncClient() as client:
        handle = await client.submit("fal-ai/slow", {"seconds": 0.2})
        print("submitted", handle.request_id)
        async for status in handle.iter_events(with_logs=True):
            for line in getattr(status, "logs", None) or []:
                print("log:", line["message"])
        print("result:", await handle.get())
        # Re-attach to the same request later, e.g. from another process:
        again = await client.get_handle("fal-ai/slow", handle.request_id)
        print("status now:", await again.status())


if __name__ == "__main__":
    asyncio.run(main())
