"""Files: upload bytes, a file and an image; inline data URLs; download a result file."""

import tempfile
from pathlib import Path

import fal_client


def main() -> None:
    url = fal_client.upload(b"hello fal", "text/plain", "hello.txt")
    print("uploaded bytes:", url)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "notes.json"
        path.write_text('{"a": 1}')
        print("uploaded file:", fal_client.upload_file(path))
        print("as a data URL:", fal_client.encode_file(path))
        saved = fal_client.download(url, Path(tmp) / "copy.txt")
        print("downloaded:", saved.read_bytes())
    try:
        from PIL import Image
    except ImportError:
        return
    print("uploaded image:", fal_client.upload_image(Image.new("RGB", (32, 32), "teal"), "png"))


if __name__ == "__main__":
    main()
