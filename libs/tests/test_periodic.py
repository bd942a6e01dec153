"""The batch worker loop: a backlog back to back, otherwise one run per interval, failures survived."""

from __future__ import annotations

import asyncio

import pytest

from commerce_platform.periodic import run_in_batches


async def test_full_batches_run_back_to_back_and_a_short_one_waits_for_the_interval() -> None:
    results = iter([10, 10, 3, 2])
    calls: list[float] = []
    fourth = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def run_once() -> int:
        calls.append(loop.time())
        if len(calls) == 4:
            fourth.set()
        return next(results)

    worker = asyncio.create_task(run_in_batches(run_once, batch_size=10, interval_seconds=0.5, what="test"))
    await asyncio.sleep(0.2)
    assert len(calls) == 3  # two full batches, then the short one; now it waits
    await asyncio.wait_for(fourth.wait(), 3)
    assert calls[3] - calls[2] >= 0.49
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker


async def test_a_failing_run_is_retried_on_the_next_tick() -> None:
    attempts = 0

    async def run_once() -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("database hiccup")
        return 0

    worker = asyncio.create_task(run_in_batches(run_once, batch_size=5, interval_seconds=0.05, what="test"))
    await asyncio.sleep(0.12)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    assert attempts >= 2
