"""Testing your own code offline: the emulator with an app of your own.

As a pytest test, use the ``fal_emulator`` fixture instead (it points the module-level
functions at the emulator for the test):

    def test_my_feature(fal_emulator):
        @fal_emulator.app("me/upscale")
        async def upscale(arguments, ctx):
            return {"scale": arguments["scale"]}
        assert fal_client.subscribe("me/upscale", {"scale": 2}) == {"scale": 2}
"""

import fal_client
from fal_client.testing import AppContext, AppError, Emulator


def main() -> None:
    emu = Emulator()

    @emu.app("me/upscale")
    async def upscale(arguments: dict, ctx: AppContext) -> dict:
        ctx.log("upscaling")
        if arguments.get("scale", 1) > 8:
            raise AppError(status_code=422, detail="scale must be at most 8")
        return {"scale": arguments["scale"]}

    with emu:
        env = emu.env
        with fal_client.SyncClient(
            key=env["FAL_KEY"], run_url=env["FAL_RUN_URL"], queue_url=env["FAL_QUEUE_URL"]
        ) as client:
            print(client.subscribe("me/upscale", {"scale": 2}))
            try:
                client.subscribe("me/upscale", {"scale": 100})
            except fal_client.ValidationError as exc:
                print("rejected:", exc.field_errors)
        print("jobs seen by the emulator:", [(j.app, j.status) for j in emu.jobs()])


if __name__ == "__main__":
    main()
