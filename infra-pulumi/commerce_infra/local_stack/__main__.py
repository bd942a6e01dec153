"""CLI: `python -m commerce_infra.local_stack [--check]` renders compose.yaml and its config files."""

from __future__ import annotations

import argparse
import sys

from commerce_infra.local_stack.render import stale_files, write_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed file is out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for rel in stale:
            print(f"stale: {rel} (run: uv run python -m commerce_infra.local_stack)", file=sys.stderr)
        return 1 if stale else 0
    for rel in write_files():
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
