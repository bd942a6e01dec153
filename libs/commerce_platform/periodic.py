"""A background worker that tidies up in batches: expired holds, lapsed guest carts and the like."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("commerce.periodic")


async def run_in_batches(
    run_once: Callable[[], Awaitable[int]], *, batch_size: int, interval_seconds: float, what: str
) -> None:
    """Run `run_once` (which handles at most `batch_size` items and says how many) until cancelled:
    back to back while it fills whole batches, so a backlog is worked through without pausing, else
    once per interval. A failure only delays the work to the next tick."""
    while True:
        done = 0
        try:
            done = await run_once()
            if done:
                log.info("batch done", what=what, count=done)
        except Exception:
            log.exception("batch failed", what=what)
        if done < batch_size:
            await asyncio.sleep(interval_seconds)
