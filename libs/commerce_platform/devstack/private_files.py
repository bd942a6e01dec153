"""The local stack's secrets and data directory, readable by their owner only from the moment they exist."""

from __future__ import annotations

import os
from pathlib import Path


def make_private_dir(path: Path) -> None:
    """Create `path` (and missing parents) 0700; one that exists already keeps its mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to a file that is 0600 before its first byte: a write, then chmod, leaves a
    window in which another user can read it (umask usually gives 0644)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(fd, 0o600)  # a file from an earlier run may have been created wider
        file.write(data)
