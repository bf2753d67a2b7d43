"""Resumable fan-out: a manifest records each job as it is submitted and finished.

Run it twice: the second run submits nothing new; it reads finished results from the manifest
(and would re-attach to jobs still running after a crash instead of paying for them again).
"""

import tempfile
from pathlib import Path

import fal_client


def main() -> None:
    inputs = [{"prompt": f"a paper boat #{i}"} for i in range(10)]
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "boats.manifest"
        first = list(fal_client.map("fal-ai/echo", inputs, concurrency=4, manifest=manifest))
        print(
            "first run:",
            len(first),
            "results; manifest lines:",
            len(manifest.read_text().splitlines()),
        )
        again = list(fal_client.map("fal-ai/echo", inputs, concurrency=4, manifest=manifest))
        print("second run:", len(again), "results, identical:", again == first)


if __name__ == "__main__":
    main()
