"""Sync: queue a job, watch its status, get the result; give up (and cancel) after a deadline.

Run against fal with FAL_KEY set, or against a local emulator (`fal-client emulator` prints the
variables to export).
"""

import fal_client


def main() -> None:
    result = fal_client.subscribe(
        "fal-ai/fast-sdxl",
        {"prompt": "a lighthouse at dawn", "image_size": "square"},
        with_logs=True,
        on_enqueue=lambda request_id: print("queued as", request_id),
        on_queue_update=lambda status: print("status:", type(status).__name__),
        client_timeout=120,  # on expiry the job is cancelled and FalClientTimeoutError raised
    )
    print("image:", result["images"][0]["url"])


if __name__ == "__main__":
    main()
