"""A dedicated LISTEN connection on one Postgres channel, held until cancelled.

The outbox relay listens to be woken at commit; the search service listens to learn what in its
read model changed. Notifications arrive only while the connection lives, so the listener says when
it starts hearing them (`on_listening`, once LISTEN has taken effect) and when it may have stopped
(`on_deaf`), and reconnects with a capped backoff. asyncpg notices a dead socket only when it uses
it, hence the periodic probe.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg

from commerce_platform.database import Database, asyncpg_dsn
from commerce_platform.events.outage import backoff_seconds


def _nothing() -> None:
    pass


class ChannelListener:
    """Calls `on_notify(payload)` for each notification on `channel` until cancelled."""

    def __init__(
        self,
        database: Database,
        channel: str,
        on_notify: Callable[[str], None],
        *,
        log: Any,
        meanwhile: str,
        on_listening: Callable[[], None] = _nothing,
        on_deaf: Callable[[], None] = _nothing,
        probe_every_seconds: float = 30.0,
        probe_timeout_seconds: float = 5.0,
        first_retry_seconds: float = 0.5,
        max_retry_seconds: float = 30.0,
    ) -> None:
        self._database = database
        self._channel = channel
        self._on_notify = on_notify
        # A structlog logger, and what the owner does while not listening (said in the warnings).
        self._log = log.bind(channel=channel)
        self._meanwhile = meanwhile
        self._on_listening = on_listening
        self._on_deaf = on_deaf
        self._probe_every = probe_every_seconds
        self._probe_timeout = probe_timeout_seconds
        self._first_retry = first_retry_seconds
        self._max_retry = max_retry_seconds
        self._failures = 0
        # The live connection while listening (tests end it to simulate a dropped connection).
        self.connection: asyncpg.Connection | None = None

    async def run(self) -> None:
        while True:
            try:
                await self._listen()
                self._log.warning(f"LISTEN connection closed; {self._meanwhile} until reconnected")
            except Exception as exc:
                self._failures += 1
                self._log.warning(
                    f"LISTEN unavailable; {self._meanwhile} until it is back",
                    error=f"{type(exc).__name__}: {exc}",
                    consecutive_failures=self._failures,
                )
            # After a clean close (no failure counted) the first retry's wait.
            await asyncio.sleep(backoff_seconds(self._failures + 1, first=self._first_retry, cap=self._max_retry))

    async def _listen(self) -> None:
        """One connection's life: returns when it closes, raises when it cannot be had or probed."""
        connection: asyncpg.Connection | None = None
        try:
            connection = await asyncpg.connect(
                asyncpg_dsn(self._database.database_url),
                server_settings=dict(self._database.server_settings),
                timeout=5,
            )
            lost = asyncio.Event()

            def on_lost(_connection: object) -> None:
                self._on_deaf()
                lost.set()

            connection.add_termination_listener(on_lost)
            await connection.add_listener(self._channel, self._heard)
            # LISTEN has taken effect: every commit from here on is heard.
            self._failures = 0
            self.connection = connection
            self._on_listening()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._probe_every)
                if not lost.is_set():
                    await connection.execute("SELECT 1", timeout=self._probe_timeout)
        finally:
            self._on_deaf()
            self.connection = None
            if connection is not None:
                connection.terminate()

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)
