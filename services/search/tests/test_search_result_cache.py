"""The result cache: served until the read model itself changes, never while changes could go unheard.

Unit tests use a fake database (pure logic); the rest use the stack's Postgres: a real LISTEN
connection (`ReadModelChangeFeed`), real event handlers and, over HTTP, the running service fed
through the real event path (product and inventory services -> SNS/SQS -> search consumer).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import msgspec
import pytest

from commerce_platform.database import Database, asyncpg_dsn
from commerce_platform.testing import admin_headers, create_category, create_product, eventually
from search_service.change_feed import READ_MODEL_CHANNEL, ReadModelChangeFeed
from search_service.queries import MAX_COUNTED_MATCHES
from search_service.repositories import apply_product_deletion, apply_product_snapshot, apply_stock
from search_service.result_cache import RECENT_CHANGES, Generation, ResultCache, changed_product
from search_service.schemas import SearchCriteria, SearchFacets, SearchItem, SearchResults
from search_service.services import search_catalog


def _results(total: int, *showing: uuid.UUID) -> SearchResults:
    empty = SearchFacets(categories=[], price_bands=[])
    return SearchResults(items=[_item(i) for i in showing], total=total, page=1, page_size=20, facets=empty)


def _item(product_id: uuid.UUID, available: int = 1) -> SearchItem:
    return SearchItem(
        product_id=product_id,
        sku="SKU",
        name="Thing",
        price_cents=1000,
        currency="EUR",
        category_slug="misc",
        in_stock=available > 0,
        available=available,
        score=None,
    )


def _known() -> Generation:
    generation = Generation()
    generation.listening()
    return generation


class FakeDatabase:
    """Answers every statement with `items` and `total`, counting statements; `during` runs while
    a statement is 'executing' (to interleave a commit)."""

    def __init__(self) -> None:
        self.statements = 0
        self.total = 0
        self.items: list[SearchItem] = []
        self.during: Callable[[], None] = lambda: None

    async def fetchrow(self, _sql: str, *_args: object) -> dict[str, Any]:
        self.statements += 1
        self.during()
        items = msgspec.json.encode(self.items).decode()
        return {"items": items, "total": self.total, "categories": None, "price_bands": None}


class CountingDatabase:
    """The real database, counting the statements the search sends; `after` runs once a statement
    has returned, before the search stores its result (to interleave a commit)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self.statements = 0
        self.after: Callable[[], Awaitable[None]] | None = None

    async def fetchrow(self, sql: str, *args: object) -> asyncpg.Record | None:
        self.statements += 1
        row = await self._database.fetchrow(sql, *args)
        if self.after is not None:
            await self.after()
        return row

    async def read_pool(self) -> asyncpg.Pool:
        self.statements += 1  # only the typo fallback uses the pool directly
        return await self._database.read_pool()


# -- the cache on its own -------------------------------------------------------------------------
def test_the_least_recently_used_search_leaves_first() -> None:
    cache = ResultCache(capacity=2, generation=_known())
    now = cache.generation.current
    first, second, third = (ResultCache.key(SearchCriteria(category=slug)) for slug in ("a", "b", "c"))
    cache.put(first, now, _results(1))
    cache.put(second, now, _results(2))
    assert cache.get(first, now) is not None  # first is now the most recently used
    cache.put(third, now, _results(3))

    assert len(cache) == 2
    assert cache.get(second, now) is None
    assert [cache.get(k, now).total for k in (first, third)] == [1, 3]  # type: ignore[union-attr]


def test_equal_criteria_share_a_key_and_different_ones_do_not() -> None:
    assert ResultCache.key(SearchCriteria(text="lamp", attributes={"a": ["1"], "b": ["2"]})) == ResultCache.key(
        SearchCriteria(text="lamp", attributes={"b": ["2"], "a": ["1"]})
    )
    assert ResultCache.key(SearchCriteria(text="lamp", page=1)) != ResultCache.key(SearchCriteria(text="lamp", page=2))


def test_an_unknown_generation_neither_serves_nor_stores() -> None:
    generation = Generation()
    cache = ResultCache(capacity=4, generation=generation)
    key = ResultCache.key(SearchCriteria(text="lamp"))
    assert generation.current is None  # not listening yet
    cache.put(key, generation.current, _results(1))
    assert len(cache) == 0

    generation.listening()
    cache.put(key, generation.current, _results(1))
    assert cache.get(key, generation.current) is not None
    generation.deaf()  # the LISTEN connection dropped
    assert cache.get(key, generation.current) is None
    generation.listening()  # back, under a number nothing was stored with
    assert cache.get(key, generation.current) is None


def test_a_notification_arriving_after_the_connection_was_lost_keeps_the_cache_off() -> None:
    generation = _known()
    generation.deaf()
    generation.changed()  # a callback asyncpg queued before it noticed the drop
    assert generation.current is None


async def test_a_repeated_search_does_not_query_until_the_read_model_changes() -> None:
    database = FakeDatabase()
    cache = ResultCache(capacity=8, generation=_known())
    criteria = SearchCriteria(category="lamps")

    first = await search_catalog(database, criteria, cache)  # type: ignore[arg-type]
    again = await search_catalog(database, criteria, cache)  # type: ignore[arg-type]
    assert again is first
    assert database.statements == 1

    cache.generation.changed()
    await search_catalog(database, criteria, cache)  # type: ignore[arg-type]
    assert database.statements == 2


async def test_a_result_computed_while_a_change_commits_is_not_served_after_it() -> None:
    database = FakeDatabase()
    cache = ResultCache(capacity=8, generation=_known())
    criteria = SearchCriteria(category="lamps")
    # The change commits (and is heard) while the statement runs: its result may predate it.
    database.during = cache.generation.changed
    await search_catalog(database, criteria, cache)  # type: ignore[arg-type]
    database.during = lambda: None

    database.total = 5
    after = await search_catalog(database, criteria, cache)  # type: ignore[arg-type]
    assert (database.statements, after.total) == (2, 5)


def test_a_product_change_drops_only_the_entries_showing_that_product() -> None:
    cache = ResultCache(capacity=8, generation=_known())
    now = cache.generation.current
    x, y = uuid.uuid4(), uuid.uuid4()
    showing_x, showing_y, showing_both, empty = (
        ResultCache.key(SearchCriteria(category=slug)) for slug in ("x", "y", "xy", "none")
    )
    cache.put(showing_x, now, _results(1, x))
    cache.put(showing_y, now, _results(1, y))
    cache.put(showing_both, now, _results(2, x, y))
    cache.put(empty, now, _results(0))

    cache.generation.changed(x)
    now = cache.generation.current
    assert [cache.get(k, now) is not None for k in (showing_x, showing_y, showing_both, empty)] == [
        False,
        True,
        False,
        True,
    ]
    cache.generation.changed()  # anything may have changed
    assert len(cache) == 0


async def test_a_product_change_heard_while_a_search_runs_keeps_only_a_page_showing_it_out() -> None:
    database = FakeDatabase()
    cache = ResultCache(capacity=8, generation=_known())
    shown, other = uuid.uuid4(), uuid.uuid4()
    database.items = [_item(shown, available=5)]
    criteria = SearchCriteria(category="lamps")

    database.during = lambda: cache.generation.changed(other)  # not on the page: the result stays good
    await search_catalog(database, criteria, cache)  # type: ignore[arg-type]
    database.during = lambda: None
    await search_catalog(database, criteria, cache)  # type: ignore[arg-type]
    assert database.statements == 1

    cache.generation.changed(shown)
    database.during = lambda: cache.generation.changed(shown)  # its page may predate this change
    await search_catalog(database, criteria, cache)  # type: ignore[arg-type]
    database.during = lambda: None
    database.items = [_item(shown, available=4)]
    after = await search_catalog(database, criteria, cache)  # type: ignore[arg-type]
    assert (database.statements, [item.available for item in after.items]) == (3, [4])


def test_a_search_overlapping_more_changes_than_are_kept_is_not_stored() -> None:
    cache = ResultCache(capacity=8, generation=_known())
    key = ResultCache.key(SearchCriteria(category="lamps"))
    started = cache.generation.current
    for _ in range(RECENT_CHANGES + 1):
        cache.generation.changed(uuid.uuid4())  # none of them on the page, but the first is forgotten
    cache.put(key, started, _results(1, uuid.uuid4()))
    assert len(cache) == 0


def test_a_payload_other_than_a_product_id_means_anything_changed() -> None:
    product_id = uuid.uuid4()
    assert changed_product(str(product_id)) == product_id
    assert changed_product("") is None
    assert changed_product("not an id") is None


# -- against Postgres: the LISTEN connection ------------------------------------------------------
@asynccontextmanager
async def _feed(database: Database) -> AsyncIterator[tuple[ReadModelChangeFeed, Generation]]:
    generation = Generation()
    feed = ReadModelChangeFeed(database, generation, probe_every_seconds=0.5)
    task = asyncio.create_task(feed.run())
    try:
        await _until(lambda: generation.current is not None, "the change feed never connected")
        yield feed, generation
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _until(condition: Callable[[], bool], message: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        await asyncio.sleep(0.02)


async def _quiet_for(generation: Generation, seconds: float) -> bool:
    """Whether no read model change was heard for `seconds` (other tests' events may land)."""
    before = generation.current
    await asyncio.sleep(seconds)
    return generation.current == before


async def test_commits_elsewhere_in_the_database_do_not_evict(
    search_database: Database, stack: Any, read_model: Any, events: Any, new_token: Any
) -> None:
    category = new_token()
    await read_model.apply(events.created(uuid.uuid4(), category_path=[category], price_cents=500))
    counting = CountingDatabase(search_database)
    criteria = SearchCriteria(category=category)
    other = await asyncpg.connect(asyncpg_dsn(stack.admin_database_url))
    try:
        async with _feed(search_database) as (_feed_task, generation):
            cache = ResultCache(capacity=16, generation=generation)
            # Other tests' events (and the sweeps they leave behind) change the read model too; each
            # attempt counts only if nothing was heard from before the first search to after the
            # commits settled, and a quiet stretch comes within the deadline.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                heard_before = generation.current
                first = await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
                statements = counting.statements
                # Commits the read model has nothing to do with: other tables, another channel.
                for _ in range(20):
                    await other.fetchval("SELECT txid_current()")
                await other.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS scratch (n int); INSERT INTO scratch VALUES (1);"
                    "NOTIFY some_other_channel"
                )
                quiet = await _quiet_for(generation, 0.3)
                if not quiet or heard_before is None or generation.current != heard_before:
                    continue
                again = await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
                assert again is first
                assert counting.statements == statements  # served without a statement
                break
            else:
                pytest.fail("the read model never stayed quiet for 0.3 s in 60 s")
    finally:
        await other.close()


async def test_a_read_model_write_reaches_the_next_search(
    search_database: Database, read_model: Any, events: Any, new_token: Any
) -> None:
    category = new_token()
    product_id = uuid.uuid4()
    await read_model.apply(events.created(product_id, category_path=[category], price_cents=500))
    counting = CountingDatabase(search_database)
    criteria = SearchCriteria(category=category)
    async with _feed(search_database) as (_feed_task, generation):
        cache = ResultCache(capacity=16, generation=generation)
        before = await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
        assert [item.price_cents for item in before.items] == [500]
        heard = generation.current

        # The event handler's transaction (the consumer's path) notifies at commit.
        await read_model.apply(events.updated(product_id, revision=2, category_path=[category], price_cents=700))
        await _until(lambda: generation.current != heard, "the change was never heard")
        after = await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
        assert [item.price_cents for item in after.items] == [700]


async def test_the_cache_is_off_while_the_listen_connection_is_lost(
    search_database: Database, read_model: Any, events: Any, new_token: Any
) -> None:
    category = new_token()
    await read_model.apply(events.created(uuid.uuid4(), category_path=[category]))
    counting = CountingDatabase(search_database)
    criteria = SearchCriteria(category=category)
    async with _feed(search_database) as (feed, generation):
        cache = ResultCache(capacity=16, generation=generation)
        await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
        connected_under = generation.current
        assert feed.connection is not None
        pid = feed.connection.get_server_pid()

        await search_database.fetchrow("SELECT pg_terminate_backend($1)", pid)
        await _until(lambda: generation.current is None, "a lost LISTEN connection went unnoticed", timeout=5)
        statements = counting.statements
        await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
        await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
        assert counting.statements == statements + 2  # nothing served (nor stored) meanwhile

        await _until(lambda: generation.current is not None, "the change feed never reconnected")
        assert generation.current != connected_under  # entries from before the gap stay retired
        statements = counting.statements
        await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
        assert counting.statements == statements + 1


# -- against Postgres: what each write announces, and what the cache makes of it ------------------
@asynccontextmanager
async def _notifications(database: Database) -> AsyncIterator[asyncio.Queue[str]]:
    """The payloads of `search_read_model_changed`, as a listener of its own receives them."""
    connection = await asyncpg.connect(asyncpg_dsn(database.database_url))
    queue: asyncio.Queue[str] = asyncio.Queue()
    await connection.add_listener(READ_MODEL_CHANNEL, lambda *args: queue.put_nowait(args[3]))
    try:
        yield queue
    finally:
        await connection.close()


async def _sent_by(
    database: Database, queue: asyncio.Queue[str], write: Callable[[asyncpg.Connection], Awaitable[object]]
) -> list[str]:
    """The notifications of one transaction that runs `write` (the real upserts): it also sends a
    marker before and after, and a transaction's notifications reach a listener together."""
    start, end = str(uuid.uuid4()), str(uuid.uuid4())
    marker = "SELECT pg_notify($1, $2)"
    async with database.transaction() as conn:
        await conn.execute(marker, READ_MODEL_CHANNEL, start)
        await write(conn)
        await conn.execute(marker, READ_MODEL_CHANNEL, end)
    while await asyncio.wait_for(queue.get(), 10) != start:
        pass
    sent = []
    while (payload := await asyncio.wait_for(queue.get(), 10)) != end:
        sent.append(payload)
    return sent


async def test_each_write_announces_what_it_can_change(search_database: Database, events: Any, new_token: Any) -> None:
    category = new_token()
    product, early = uuid.uuid4(), uuid.uuid4()
    async with _notifications(search_database) as queue:

        async def sent(write: Callable[[asyncpg.Connection], Awaitable[object]]) -> list[str]:
            return await _sent_by(search_database, queue, write)

        def stock(product_id: uuid.UUID, on_hand: int, revision: int, reserved: int = 0) -> Any:
            event = events.stock(product_id, on_hand=on_hand, reserved=reserved, revision=revision)
            return lambda conn: apply_stock(conn, event)

        created = events.created(product, category_path=[category])
        assert await sent(lambda conn: apply_product_snapshot(conn, created)) == [""]
        # Stock of a product not created yet: an unlisted row, in no result and no count.
        assert await sent(stock(early, 5, revision=1)) == []
        assert await sent(stock(early, 6, revision=2)) == []

        assert await sent(stock(product, 5, revision=1)) == [""]  # 0 -> 5: into stock
        assert await sent(stock(product, 6, revision=2)) == [str(product)]  # available only
        assert await sent(stock(product, 6, reserved=2, revision=3)) == [str(product)]  # a reservation
        assert await sent(stock(product, 4, reserved=0, revision=4)) == []  # its commit: available stays 4
        assert await sent(stock(product, 9, revision=3)) == []  # stale: the upsert changes no row
        assert await sent(stock(product, 0, revision=5)) == [""]  # out of stock

        updated = events.updated(product, revision=2, category_path=[category], price_cents=2500)
        assert await sent(lambda conn: apply_product_snapshot(conn, updated)) == [""]
        deleted = events.deleted(product, revision=3)
        assert await sent(lambda conn: apply_product_deletion(conn, deleted)) == [""]
        assert await sent(stock(product, 3, revision=6)) == []  # a tombstone is unlisted too


@asynccontextmanager
async def _heard_feed(database: Database) -> AsyncIterator[tuple[ResultCache, list[uuid.UUID | None]]]:
    """A cache kept current by a real LISTEN connection, and every change it heard (None: anything)."""
    async with _feed(database) as (_feed_task, generation):
        cache = ResultCache(capacity=16, generation=generation)
        heard: list[uuid.UUID | None] = []
        generation.watch(heard.append)
        yield cache, heard


async def _heard_up_to_now(database: Database, heard: list[uuid.UUID | None]) -> None:
    """Wait until the feed has heard every notification committed before this call: a marker sent
    now (a product id no page shows) reaches it after them."""
    marker = uuid.uuid4()
    pool = await database.read_pool()
    await pool.execute("SELECT pg_notify($1, $2)", READ_MODEL_CHANNEL, str(marker))
    await _until(lambda: marker in heard, "the marker was never heard")


async def test_a_stock_change_of_a_product_on_a_cached_page_reaches_the_next_search(
    search_database: Database, read_model: Any, events: Any, new_token: Any
) -> None:
    category = new_token()
    product_id = uuid.uuid4()
    await read_model.apply(
        events.created(product_id, category_path=[category]), events.stock(product_id, on_hand=5, revision=1)
    )
    counting = CountingDatabase(search_database)
    criteria = SearchCriteria(category=category)
    async with _heard_feed(search_database) as (cache, heard):
        before = await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
        assert [item.available for item in before.items] == [5]

        await read_model.apply(events.stock(product_id, on_hand=7, revision=2))
        await _until(lambda: product_id in heard, "the stock change was never heard")
        after = await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
        assert [item.available for item in after.items] == [7]


async def _kept_while(
    search_database: Database,
    cache: ResultCache,
    heard: list[uuid.UUID | None],
    criteria: SearchCriteria,
    write: Callable[[int], Awaitable[object]],
    prepare: Callable[[int], Awaitable[object]] | None = None,
) -> list[uuid.UUID | None]:
    """`prepare` (given the attempt's number), search, `write`, search again: the second search
    must be served from the cache without a statement. Attempts in which another test's write
    emptied the cache (rightly) are repeated. Returns what was heard around the write."""
    counting = CountingDatabase(search_database)
    for attempt in range(1, 21):
        if prepare is not None:
            await prepare(attempt)
            await _heard_up_to_now(search_database, heard)
        heard.clear()
        first = await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
        statements = counting.statements
        await write(attempt)
        await _heard_up_to_now(search_database, heard)
        if None in heard:
            continue
        again = await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
        assert again is first
        assert counting.statements == statements  # served without a statement
        return list(heard)
    pytest.fail("other writes emptied the cache in every attempt")


async def test_a_stock_change_of_a_product_not_on_the_page_keeps_the_entry(
    search_database: Database, read_model: Any, events: Any, new_token: Any
) -> None:
    shown, elsewhere = uuid.uuid4(), uuid.uuid4()
    category = new_token()
    await read_model.apply(
        events.created(shown, category_path=[category]),
        events.created(elsewhere, category_path=[new_token()]),
        events.stock(elsewhere, on_hand=50, revision=1),
    )

    async def sell_elsewhere(attempt: int) -> None:
        await read_model.apply(events.stock(elsewhere, on_hand=50 - attempt, revision=1 + attempt))

    async with _heard_feed(search_database) as (cache, heard):
        during = await _kept_while(search_database, cache, heard, SearchCriteria(category=category), sell_elsewhere)
    assert elsewhere in during  # announced as a change of that product's `available` only


async def test_a_reservation_commit_changes_no_cached_result(
    search_database: Database, read_model: Any, events: Any, new_token: Any
) -> None:
    category = new_token()
    product_id = uuid.uuid4()
    await read_model.apply(events.created(product_id, category_path=[category]))

    # Before the first search: on hand 10, then 2 reserved (available 8, shown on the page).
    async def reserve(attempt: int) -> None:
        await read_model.apply(
            events.stock(product_id, on_hand=10, reserved=0, revision=3 * attempt),
            events.stock(product_id, on_hand=10, reserved=2, revision=3 * attempt + 1),
        )

    # The reservation's commit: on hand and reserved both down by 2, available still 8.
    async def commit(attempt: int) -> None:
        await read_model.apply(events.stock(product_id, on_hand=8, reserved=0, revision=3 * attempt + 2))

    criteria = SearchCriteria(category=category)
    async with _heard_feed(search_database) as (cache, heard):
        during = await _kept_while(search_database, cache, heard, criteria, commit, prepare=reserve)
    assert product_id not in during  # nothing was announced for it
    assert [(item.available, item.in_stock) for item in (await search_catalog(search_database, criteria)).items] == [
        (8, True)
    ]


async def test_a_product_coming_into_stock_reaches_a_cached_in_stock_search(
    search_database: Database, read_model: Any, events: Any, new_token: Any
) -> None:
    category = new_token()
    stocked, arriving = uuid.uuid4(), uuid.uuid4()
    await read_model.apply(
        events.created(stocked, category_path=[category], created_at=datetime(2026, 1, 1, tzinfo=UTC)),
        events.created(arriving, category_path=[category], created_at=datetime(2026, 1, 2, tzinfo=UTC)),
        events.stock(stocked, on_hand=3, revision=1),
    )
    counting = CountingDatabase(search_database)
    in_stock = SearchCriteria(category=category, in_stock=True)
    async with _heard_feed(search_database) as (cache, heard):
        before = await search_catalog(counting, in_stock, cache)  # type: ignore[arg-type]
        assert ([item.product_id for item in before.items], before.total) == ([stocked], 1)

        # `arriving` is on no cached page, but coming into stock changes membership, total and facets.
        await read_model.apply(events.stock(arriving, on_hand=2, revision=1))
        await _heard_up_to_now(search_database, heard)
        assert None in heard
        after = await search_catalog(counting, in_stock, cache)  # type: ignore[arg-type]
        assert ([item.product_id for item in after.items], after.total) == ([arriving, stocked], 2)


async def test_a_stock_change_heard_while_a_search_runs_keeps_its_page_out_of_the_cache(
    search_database: Database, read_model: Any, events: Any, new_token: Any
) -> None:
    category = new_token()
    product_id = uuid.uuid4()
    await read_model.apply(
        events.created(product_id, category_path=[category]), events.stock(product_id, on_hand=5, revision=1)
    )
    counting = CountingDatabase(search_database)
    criteria = SearchCriteria(category=category)
    async with _heard_feed(search_database) as (cache, heard):

        async def sell_one() -> None:
            # Commits and is heard after the statement read 5, before the search stores its result.
            counting.after = None
            await read_model.apply(events.stock(product_id, on_hand=4, revision=2))
            await _until(lambda: product_id in heard, "the stock change was never heard")

        counting.after = sell_one
        during = await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
        assert [item.available for item in during.items] == [5]  # right when the statement ran
        statements = counting.statements
        after = await search_catalog(counting, criteria, cache)  # type: ignore[arg-type]
        assert [item.available for item in after.items] == [4]
        assert counting.statements == statements + 1


# -- the running service, fed through the real event path -----------------------------------------
async def test_the_service_serves_from_its_cache_until_an_event_changes_the_product(
    stack: Any, http: aiohttp.ClientSession, search_api: Any, search_database: Database, new_token: Any
) -> None:
    admin = await admin_headers(http, stack.service_url("user"), stack.admin_email, stack.admin_password)
    word = new_token()
    category = await create_category(http, stack.service_url("product"), admin)
    product = await create_product(http, stack.service_url("product"), admin, category=category, name=f"{word} lamp")
    product_id = product["id"]
    await _set_stock_once_known(http, stack.service_url("inventory"), admin, product_id, 5)

    async def available() -> list[int]:
        body = await search_api.search(q=word)
        return [item["available"] for item in body["items"]]

    assert await eventually(available, lambda found: found == [5]) == [5]

    # Served from the cache: a write that bypasses the notify trigger stays invisible.
    # (session_replication_role = replica skips triggers; `available` 5 -> 6 moves no facet count.)
    async def write_without_notifying(value: int) -> None:
        pool = await search_database.read_pool()
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            await connection.execute(
                "UPDATE search_product SET available = $2 WHERE product_id = $1", uuid.UUID(product_id), value
            )

    for _attempt in range(10):
        assert await available() == [5]
        await write_without_notifying(6)
        unseen = await available()
        await write_without_notifying(5)
        if unseen == [5]:
            break
        # Another test's event changed the read model in between (so the cache was rightly retired).
    else:
        pytest.fail("search never served the cached result")

    # A stock change through the inventory service (outbox -> SNS -> SQS -> search) shows up.
    await _set_stock_once_known(http, stack.service_url("inventory"), admin, product_id, 7)
    assert await eventually(available, lambda found: found == [7]) == [7]


async def _set_stock_once_known(
    http: aiohttp.ClientSession, inventory_url: str, admin: dict[str, str], product_id: str, on_hand: int
) -> None:
    """PUT the stock once the inventory service has its record (created from ProductCreated)."""

    async def put() -> int:
        url = f"{inventory_url}/v1/inventory/{product_id}"
        async with http.put(url, json={"on_hand": on_hand}, headers=admin) as resp:
            return resp.status

    assert await eventually(put, lambda status: status == 200) == 200


# -- bounded counting -----------------------------------------------------------------------------
async def _seed_many(search_database: Database, word: str, category: str, count: int) -> None:
    """`count` listed products named "<word> lamp <n>" in `category`, written directly (a bulk
    load, as bench does): ProductCreated events for a thousand products would take minutes."""
    pool = await search_database.read_pool()
    async with pool.acquire() as connection:
        await connection.execute(
            """
            INSERT INTO search_product (product_id, sku, name, price_cents, currency, category_slug, category_path,
                product_revision, on_hand, available, stock_revision, created_at, updated_at)
            SELECT gen_random_uuid(), 'SKU-' || $1 || '-' || n, $1 || ' lamp ' || n, 500 + n, 'EUR', $2,
                ARRAY[$2], 1, n % 3, n % 3, 1, now(), now()
            FROM generate_series(1, $3) AS n
            """,
            word,
            category,
            count,
        )


async def test_a_common_query_reports_a_lower_bound_and_facets_of_its_sample(
    search_api: Any, search_database: Database, new_token: Any
) -> None:
    word, category = new_token(), new_token()
    await _seed_many(search_database, word, category, MAX_COUNTED_MATCHES + 50)

    async def common() -> dict[str, Any]:
        body: dict[str, Any] = await search_api.search(q=word, sort="price_asc")
        return body

    body = await eventually(common, lambda found: found["total"] > 0, timeout=5)
    assert (body["total"], body["total_is_lower_bound"]) == (MAX_COUNTED_MATCHES, True)
    assert body["facets"]["categories"] == [{"slug": category, "count": MAX_COUNTED_MATCHES}]
    assert sum(band["count"] for band in body["facets"]["price_bands"]) == MAX_COUNTED_MATCHES
    # The page is still the top of all matches, not of the counted sample.
    assert [item["price_cents"] for item in body["items"][:3]] == [501, 502, 503]

    # Under the bound the total is exact; browsing counts exactly whatever the size.
    narrow = await search_api.search(q=f"{word} 7")
    assert (narrow["total"], narrow["total_is_lower_bound"]) == (1, False)
    browse = await search_api.search(category=category)
    assert (browse["total"], browse["total_is_lower_bound"]) == (MAX_COUNTED_MATCHES + 50, False)
