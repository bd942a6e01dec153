"""Sample running service processes with py-spy (if installed) and summarise where their CPU goes."""

from __future__ import annotations

import asyncio
import collections
import shutil
from pathlib import Path

PY_SPY = shutil.which("py-spy") or str(Path.home() / ".local/bin/py-spy")


def available() -> bool:
    return Path(PY_SPY).exists()


async def record(pid: int, seconds: float, out: Path, rate: int = 50) -> Path | None:
    """Collapsed stacks of `pid` (CPU only: idle threads are left out) for `seconds`; None if py-spy failed."""
    proc = await asyncio.create_subprocess_exec(
        PY_SPY, "record", "--pid", str(pid), "--duration", str(round(seconds)), "--rate", str(rate),
        "--format", "raw", "--output", str(out), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await asyncio.wait_for(proc.wait(), timeout=seconds + 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
    return out if proc.returncode == 0 else None


_BOILERPLATE = ("(_compat.py)", "(__main__.py)", "(runners.py)", "(core.py)", "(main.py)", "(server.py)",
                "(<frozen runpy>)", "(base_events.py)", "(events.py)", "(selectors.py)", "(h11_impl.py)",
                "(httptools_impl.py)")


def _frame(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.split(':')[0]).name})" if where else name


def summary(path: Path, top: int = 12) -> str:
    """Inclusive share of samples per function (each counted once per stack), largest first."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        for frame in {_frame(f) for f in stack.split(";")}:
            inclusive[frame] += count
    # The event loop and uvicorn's runner are on every stack and say nothing: left out.
    common = [(f, n) for f, n in inclusive.most_common() if not f.endswith(_BOILERPLATE)][:top]
    rows = [f"      {n / total:5.0%}  {frame}" for frame, n in common]
    return f"    {total} samples\n" + "\n".join(rows)
