"""Refuse bad input before it is paid for, keep a batch inside a budget, read the history.

Runs against fal, or offline against the emulator (`fal-client emulator`, then the FAL_*
variables it prints): the emulator serves the same platform API.
"""

from datetime import timedelta

import fal_client

APP = "fal-ai/fast-sdxl"


def main() -> None:
    with fal_client.SyncClient() as client:
        model = client.platform.model(APP)
        print(f"{model.endpoint_id}: {model.display_name} ({model.category})")

        # A misspelt key and an out-of-range value: refused before anything is sent.
        try:
            client.subscribe(APP, {"promt": "a cat", "num_images": 20}, validate=True)
        except fal_client.InputValidationError as error:
            for problem in error.problems:
                print(f"refused: {problem}")

        price = client.platform.prices(APP).get(APP)
        if price is not None:
            print(f"price: {price.unit_price} {price.currency} per {price.unit}")

        # Priced before the first submit; refused as a whole if it would cost more than this.
        inputs = [{"prompt": f"a lighthouse #{i}", "num_images": 1} for i in range(6)]
        with client.map(APP, inputs, validate=True, max_cost=5.0) as results:
            images = [result["images"][0]["url"] for result in results]
        print(f"{len(images)} images within a budget of 5 USD")

        recent = list(client.platform.history(APP, since=timedelta(minutes=10), payloads=True))
        prompts = {item.json_input.get("prompt") for item in recent if item.json_input}
        print(f"history: {len(recent)} recent requests, e.g. {sorted(prompts)[:2]}")


if __name__ == "__main__":
    main()
