"""``python -m fal_client.testing``: run a standalone fal emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (shared with ``fal-client emulator``)."""
    parser = argparse.ArgumentParser(
        prog="python -m fal_client.testing",
        description="Run a local fal-compatible emulator (fal.run, queue, REST, CDN) until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    parser.add_argument("--key", default=None, help="API key to accept (default fal-emulator-key)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow listening on a non-loopback address",
    )
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments and serve; returns the process exit code."""
    args = build_parser().parse_args(argv)
    from ._serve import serve_forever

    try:
        serve_forever(args.host, args.port, key=args.key, allow_remote=args.allow_remote)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
