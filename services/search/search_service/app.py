"""The search service: a read model of products and stock, fed by events, behind `GET /v1/search`."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from commerce_platform.events.consumer import queue_consumer_worker
from commerce_platform.service_app import ServiceDefinition, create_service_app
from search_service.change_feed import start_change_feed, stop_change_feed
from search_service.controllers import SearchController
from search_service.dependencies import DEPENDENCIES, create_result_cache
from search_service.events import HANDLERS, SEARCH_QUEUE
from search_service.settings import SearchSettings


def create_app() -> Litestar:
    app = create_service_app(
        ServiceDefinition(
            name="search",
            description="Product search over a read model kept current by product and inventory events.",
            route_handlers=[SearchController],
            migrations_dir=Path(__file__).parent / "migrations",
            settings_class=SearchSettings,
            dependencies=DEPENDENCIES,
            # The change feed runs wherever the API does (RUN_MODE all or web): web-only replicas cache too.
            on_startup=[create_result_cache, start_change_feed],
            workers=[queue_consumer_worker(SEARCH_QUEUE, HANDLERS)],
        )
    )
    app.on_shutdown.append(stop_change_feed)
    return app
