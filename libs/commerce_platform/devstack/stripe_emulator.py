"""A local Stripe API (localstripe) bound to 127.0.0.1 with its on-disk pickle store turned off.

localstripe's own launcher listens on every interface and pickles its state to /tmp on every write;
we run its aiohttp app ourselves so it stays on loopback and in memory. `python -m` this module.

Its store is also indexed by object type. localstripe lists objects of a type by scanning every
object it holds, and showing a charge lists that charge's refunds three times; so the emulator's
CPU per payment grew with the number of payments made so far (2.9 to 9.6 ms per checkout within one
benchmark run, half of it in that scan). Real Stripe does not slow down as a shop sells.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Any

from aiohttp import web


def index_store_by_type() -> None:
    """Keep `store` (keys "<object type>:<id>") indexed by type, and list a type from its index,
    in the same order the scan gave (insertion order, as a dict keeps it)."""
    from localstripe import resources

    by_type: defaultdict[str, dict[str, Any]] = defaultdict(dict)

    def index(key: str, value: Any) -> None:
        object_type, colon, _ = key.partition(":")
        if colon:
            by_type[object_type][key] = value

    def set_item(store: dict[str, Any], key: str, value: Any) -> None:
        dict.__setitem__(store, key, value)
        index(key, value)

    def del_item(store: dict[str, Any], key: str) -> None:
        dict.__delitem__(store, key)
        object_type, colon, _ = key.partition(":")
        if colon:
            by_type[object_type].pop(key, None)

    def clear(store: dict[str, Any]) -> None:
        dict.clear(store)
        by_type.clear()

    def list_all(cls: Any, /, url: str, limit: Any = None, starting_after: Any = None, **kwargs: Any) -> Any:
        if kwargs:  # as localstripe's own: filters are the subclasses' job
            raise resources.UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        listing = resources.List(url, limit=limit, starting_after=starting_after)
        listing._list = list(by_type[cls.object].values())
        return listing

    for key, value in resources.store.items():
        index(key, value)
    resources.Store.__setitem__ = set_item
    resources.Store.__delitem__ = del_item
    resources.Store.clear = clear
    resources.StripeObject._api_list_all = classmethod(list_all)


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Stripe emulator on loopback")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args()

    from localstripe import resources, server

    # In-memory only: no shared /tmp file between stacks, no disk write per request.
    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None
    index_store_by_type()
    web.run_app(server.app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
