"""The LISTEN connection that tells this process when the search read model changed (see result_cache.py).

One per process that serves the API (`RUN_MODE` all or web: web-only replicas cache too), started
by the app's startup hook and cancelled at shutdown. It reports each `search_read_model_changed`
notification to the `Generation` (what its payload says changed: one product's `available`, or
anything), and makes the generation unknown whenever it is not certain to hear them: before the
first connect, when the connection drops, or when the keep-alive probe fails (asyncpg notices a
dead socket only when it uses it). Reconnects with a capped backoff: the connection is
`commerce_platform.listener.ChannelListener`, as the outbox relay's.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog
from litestar import Litestar

from commerce_platform.database import Database
from commerce_platform.listener import ChannelListener
from search_service.result_cache import Generation, ResultCache, changed_product

# Must match the trigger functions of migrations 0002 and 0003.
READ_MODEL_CHANNEL = "search_read_model_changed"
_PROBE_EVERY_SECONDS = 5.0
_PROBE_TIMEOUT_SECONDS = 2.0

log = structlog.get_logger("search.change_feed")


class ReadModelChangeFeed:
    """Keeps `generation` in step with the read model's commits until cancelled."""

    def __init__(
        self, database: Database, generation: Generation, *, probe_every_seconds: float = _PROBE_EVERY_SECONDS
    ) -> None:
        self._listener = ChannelListener(
            database,
            READ_MODEL_CHANNEL,
            lambda payload: generation.changed(changed_product(payload)),
            log=log,
            meanwhile="result cache off",
            # From the moment LISTEN took effect every commit is heard; nothing older is trusted.
            on_listening=generation.listening,
            on_deaf=generation.deaf,
            probe_every_seconds=probe_every_seconds,
            probe_timeout_seconds=_PROBE_TIMEOUT_SECONDS,
            first_retry_seconds=0.2,
        )

    @property
    def connection(self) -> asyncpg.Connection | None:
        return self._listener.connection

    async def run(self) -> None:
        await self._listener.run()


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
