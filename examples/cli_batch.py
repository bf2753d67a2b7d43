"""The command line: run a JSONL batch with `fal-client batch`, resumable with --resume.

Shell equivalent:
    fal-client batch fal-ai/echo inputs.jsonl -o out.jsonl -c 8
    fal-client batch fal-ai/echo inputs.jsonl -o out.jsonl -c 8 --resume   # after a crash
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.jsonl"
        out = Path(tmp) / "out.jsonl"
        inputs.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(6)))
        command = [
            sys.executable,
            "-m",
            "fal_client._cli",
            "batch",
            "fal-ai/echo",
            str(inputs),
            "-o",
            str(out),
            "-c",
            "3",
            "--progress",
            "none",
        ]
        code = subprocess.run(command, check=False).returncode
        print("exit code:", code)
        for line in out.read_text().splitlines():
            record = json.loads(line)
            print(record["index"], record["request_id"], "ok" if "result" in record else "failed")


if __name__ == "__main__":
    main()
