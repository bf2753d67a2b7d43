"""Streaming: iterate an app's server-sent events; breaking out closes the connection."""

import fal_client


def main() -> None:
    for event in fal_client.stream("fal-ai/text-streamer", {"prompt": "hello"}):
        print(event)


if __name__ == "__main__":
    main()
