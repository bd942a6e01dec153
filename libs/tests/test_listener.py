"""The LISTEN connection keeps retrying, however long the database has been out of reach."""

from __future__ import annotations

import asyncio
import socket

import structlog

from commerce_platform.database import Database
from commerce_platform.listener import ChannelListener


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_listener_keeps_retrying_after_days_of_failed_connects() -> None:
    database = Database(
        f"postgresql+asyncpg://nobody:secret@127.0.0.1:{closed_port()}/commerce",
        schema="nowhere",
        application_name="listener-tests",
    )
    listener = ChannelListener(
        database,
        "outbox_nowhere",
        lambda _payload: None,
        log=structlog.get_logger("tests"),
        meanwhile="polling",
        first_retry_seconds=0.01,
        max_retry_seconds=0.02,
    )
    # What days of failed connects leave behind; `2.0 ** failures` overflows from 1024 on.
    listener._failures = 5000
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.sleep(0.5)
        assert not task.done(), task.exception()
        assert listener._failures > 5001
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await database.close()
