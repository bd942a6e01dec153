"""The LISTEN connection that tells this process when the search read model changed (see result_cache.py).

One per process that serves the API (`RUN_MODE` all or web: web-only replicas cache too), started
by the app's startup hook and cancelled at shutdown. It reports each `search_read_model_changed`
notification to the `Generation` (what its payload says changed: one product's `available`, or
anything), and makes the generation unknown whenever it is not certain to hear them: before the
first connect, when the connection drops, or when the keep-alive probe fails (asyncpg notices a
dead socket only when it uses it). Reconnects with a capped backoff, like the outbox relay's
listener.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog
from litestar import Litestar

from commerce_platform.database import Database, asyncpg_dsn
from search_service.result_cache import Generation, ResultCache, changed_product

# Must match the trigger functions of migrations 0002 and 0003.
READ_MODEL_CHANNEL = "search_read_model_changed"
_PROBE_EVERY_SECONDS = 5.0
_PROBE_TIMEOUT_SECONDS = 2.0
_MAX_RECONNECT_DELAY = 30.0

log = structlog.get_logger("search.change_feed")


class ReadModelChangeFeed:
    """Keeps `generation` in step with the read model's commits until cancelled."""

    def __init__(
        self, database: Database, generation: Generation, *, probe_every_seconds: float = _PROBE_EVERY_SECONDS
    ) -> None:
        self._database = database
        self._generation = generation
        self._probe_every = probe_every_seconds
        self.connection: asyncpg.Connection | None = None

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen()
                log.warning("read model change feed: LISTEN connection closed; cache off until reconnected")
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning(
                    "read model change feed: LISTEN unavailable; cache off until it is back",
                    error=f"{type(exc).__name__}: {exc}",
                    consecutive_failures=failures,
                )
            await asyncio.sleep(min(_MAX_RECONNECT_DELAY, 0.2 * 2.0**failures))

    async def _listen(self) -> None:
        connection: asyncpg.Connection | None = None
        try:
            connection = await asyncpg.connect(
                asyncpg_dsn(self._database.database_url),
                server_settings=dict(self._database.server_settings),
                timeout=5,
            )
            lost = asyncio.Event()

            def on_lost(_connection: object) -> None:
                self._generation.deaf()
                lost.set()

            connection.add_termination_listener(on_lost)
            await connection.add_listener(READ_MODEL_CHANNEL, self._heard)
            # LISTEN has taken effect: every commit from here on is heard; nothing older is trusted.
            self._generation.listening()
            self.connection = connection
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._probe_every)
                if not lost.is_set():
                    await connection.execute("SELECT 1", timeout=_PROBE_TIMEOUT_SECONDS)
        finally:
            self._generation.deaf()
            self.connection = None
            if connection is not None:
                connection.terminate()

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self._generation.changed(changed_product(payload))


async def start_change_feed(app: Litestar) -> None:
    """Startup hook (after `create_result_cache`): listen for read model changes in the background."""
    cache: ResultCache = app.state["result_cache"]
    if cache.capacity <= 0 or app.state["settings"].run_mode == "worker":
        return  # no cache, or no HTTP API to serve it: nothing to keep current
    feed = ReadModelChangeFeed(app.state["database"], cache.generation)
    app.state["read_model_change_feed"] = feed
    app.state["read_model_change_task"] = asyncio.create_task(feed.run(), name="search-read-model-change-feed")


async def stop_change_feed(app: Litestar) -> None:
    """Shutdown hook."""
    task: asyncio.Task[None] | None = app.state.get("read_model_change_task")
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
