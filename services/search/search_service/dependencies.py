"""What the search controller is handed: the per-process result cache, built once at start
(its generation is kept current by `change_feed`, started right after)."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from search_service.result_cache import ResultCache
from search_service.settings import SearchSettings


async def create_result_cache(app: Litestar) -> None:
    settings: SearchSettings = app.state["settings"]
    app.state["result_cache"] = ResultCache(settings.search_result_cache_size)


def provide_result_cache(state: State) -> ResultCache:
    cache: ResultCache = state["result_cache"]
    return cache


DEPENDENCIES = {"result_cache": Provide(provide_result_cache, sync_to_thread=False)}
