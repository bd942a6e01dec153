"""A local Stripe API (localstripe) bound to 127.0.0.1 with its on-disk pickle store turned off.

localstripe's own launcher listens on every interface and pickles its state to /tmp on every write;
we run its aiohttp app ourselves so it stays on loopback and in memory. `python -m` this module.
"""

from __future__ import annotations

import argparse

from aiohttp import web


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Stripe emulator on loopback")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args()

    from localstripe import resources, server

    # In-memory only: no shared /tmp file between stacks, no disk write per request.
    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None
    web.run_app(server.app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
