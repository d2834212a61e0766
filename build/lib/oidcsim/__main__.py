"""CLI: python -m oidcsim --port N [--host 127.0.0.1] [--base-url URL] [--issuer-path [NAME=]PATH] [--verbose]."""

from __future__ import annotations

import argparse
import signal
import sys

from oidcsim.errors import Problem
from oidcsim.model import DEFAULT_ISSUERS, check_path
from oidcsim.server import create_server


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m oidcsim", description="Fake OIDC issuers for tests and demos.")
    parser.add_argument("--port", type=int, default=8766, help="port to listen on; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--base-url", help="URL to advertise (default http://HOST:PORT)")
    parser.add_argument(
        "--issuer-path",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="where a built-in issuer lives (default /github and /gitlab); NAME defaults to github; "
        "an empty PATH puts the issuer at the base URL itself. Repeatable.",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def _issuer_paths(values: list[str]) -> dict[str, str]:
    builtin = {name for name, _ in DEFAULT_ISSUERS}
    paths: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            name, path = "github", value
        if name not in builtin:
            raise Problem(f"--issuer-path names {name!r}; built-in issuers are {sorted(builtin)}")
        paths[name] = check_path(path.rstrip("/"))
    if len(set(paths.values())) < len(paths) or any(
        paths.get(name, f"/{name}") == paths.get(other, f"/{other}")
        for name in builtin
        for other in builtin
        if name < other
    ):
        raise Problem("two built-in issuers would share a path")
    return paths


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        server = create_server(
            args.host,
            args.port,
            verbose=args.verbose,
            base_url=args.base_url,
            issuer_paths=_issuer_paths(args.issuer_path),
        )
    except (OSError, Problem, ValueError) as exc:
        print(f"oidcsim: cannot start: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    print(f"oidcsim listening on {server.base_url}", flush=True)
    print(f"oidcsim bound to {server.bound_url}", flush=True)  # differs from the above with --base-url
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
