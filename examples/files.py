"""Files: upload bytes, a file (with progress and a lifecycle) and an image; a multipart upload;
inline data URLs; download one file and every file of a result."""

import tempfile
from pathlib import Path

import fal_client
from fal_client import StorageSettings


def main() -> None:
    url = fal_client.upload(b"hello fal", "text/plain", "hello.txt")
    print("uploaded bytes:", url)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "notes.json"
        path.write_text('{"a": 1}')
        print("uploaded file:", fal_client.upload_file(path))
        print("as a data URL:", fal_client.encode_file(path))

        # A 3 MB file in 1 MB parts (the default threshold is 100 MiB), 1 day of retention,
        # with a progress callback that runs on this thread.
        big = Path(tmp) / "clip.mp4"
        big.write_bytes(bytes(range(256)) * 12_000)
        marks: list[int] = []
        big_url = fal_client.upload_file(
            big,
            lifecycle=StorageSettings(expires_in="1d"),
            progress=lambda sent, total: marks.append(sent * 100 // total),
            multipart_threshold=1_000_000,
            chunk_size=1_000_000,
        )
        print("multipart upload:", big_url, "progress %:", marks)

        saved = fal_client.download(url, Path(tmp) / "copy.txt")
        print("downloaded:", saved.read_bytes())
        result = {"images": [{"url": url}, {"url": big_url}], "seed": 7}
        for source, local in fal_client.download_files(result, Path(tmp) / "out").items():
            print("result file:", source, "->", local.name, local.stat().st_size, "bytes")
    try:
        from PIL import Image
    except ImportError:
        return
    print("uploaded image:", fal_client.upload_image(Image.new("RGB", (32, 32), "teal"), "png"))


if __name__ == "__main__":
    main()
