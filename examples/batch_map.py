"""Fan-out: many inputs, bounded concurrency, results as they complete, with progress."""

import asyncio

import fal_client


async def main() -> None:
    prompts = [{"prompt": f"an origami animal #{i}", "seed": i} for i in range(40)]

    def progress(p: fal_client.Progress) -> None:
        print(f"\r{p.finished}/{p.total or '?'} done, {p.running} running", end="", flush=True)

    async with fal_client.AsyncClient() as client:
        async with client.map(
            "fal-ai/fast-sdxl",
            prompts,
            concurrency=8,
            ordered=False,
            return_exceptions=True,
            on_progress=progress,
        ) as results:
            urls = {}
            async for item in results:
                if item.ok:
                    urls[item.index] = item.result["images"][0]["url"]
                else:
                    print(f"\ninput {item.index} failed: {item.error}")
    print(f"\n{len(urls)} images")

    # The sync API is the same, as a plain generator (results in input order):
    for result in fal_client.map("fal-ai/echo", [{"n": 1}, {"n": 2}], concurrency=2):
        print(result)


if __name__ == "__main__":
    asyncio.run(main())
