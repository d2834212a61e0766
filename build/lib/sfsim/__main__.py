"""CLI: python -m sfsim --port N [--host 127.0.0.1] [--fixture F] [--verbose] [--base-url URL]."""

from __future__ import annotations

import argparse
import signal
import sys

from sfsim.fixture import read_fixture
from sfsim.model import ConfigError
from sfsim.server import create_server


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sfsim", description="Simulated Salesforce for tests and demos."
    )
    parser.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--fixture", help="fixture JSON (default: sfsim/fixtures/default.json)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--base-url", help="URL to advertise (default http://HOST:PORT)")
    return parser


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        server = create_server(
            args.host, args.port, read_fixture(args.fixture), verbose=args.verbose, base_url=args.base_url
        )
    except (OSError, ConfigError, ValueError) as exc:
        print(f"sfsim: cannot start: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    print(f"sfsim listening on {server.base_url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
