"""Container liveness probe: exit 0 when GET /health on this container's port answers 200."""

from __future__ import annotations

import os
import shlex
import sys
import urllib.request
from pathlib import Path


def _default_port() -> str:
    env_file = Path(os.environ.get("SERVICE_ENV_FILE", "/app/service.env"))
    for line in env_file.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "DEFAULT_PORT":
            return shlex.split(value)[0]
    raise SystemExit(f"DEFAULT_PORT missing from {env_file}")


def main() -> int:
    port = os.environ.get("PORT") or _default_port()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
