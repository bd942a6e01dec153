"""Issue 3: product read vs a bare asyncpg baseline, search latency at 32 connections, write-to-searchable lag.

    uv run python -m bench.catalog [-n 100000] [-d 10] [-r 3] [--writes 150 --write-rate 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException

from bench import procinfo, pyspy
from bench.generate_products import generate
from bench.harness import Case, Goal, table, verdicts
from bench.loadgen import Load, Target
from bench.shopstack import full_stack, percentile, pids_of, random_paths_script, run_wrk
from bench.stack import start_app, wait_ready
from commerce_platform.database import asyncpg_dsn
from commerce_platform.devstack.launcher import Stack
from commerce_platform.testing import admin_headers

DATABASE_URL_ENV = "BENCH_DATABASE_URL"
# The product service's own statement (product_service.queries._PRODUCT_BY_ID), schema-qualified.
PRODUCT_BY_ID = """
    SELECT p.id, p.sku, p.name, p.description, p.price_cents, p.currency, c.slug, c.path,
           p.attributes, p.revision, p.created_at, p.updated_at
    FROM products.product p JOIN products.category c ON c.id = p.category_id
    WHERE p.id = $1 AND p.deleted_at IS NULL
"""
SEARCH_COPY = """
    INSERT INTO search.search_product (product_id, sku, name, description, price_cents, currency, category_slug,
        category_path, attributes, product_revision, on_hand, available, stock_revision, created_at, updated_at)
    SELECT p.id, p.sku, p.name, p.description, p.price_cents, p.currency, c.slug, c.path, p.attributes,
           p.revision, s.n, s.n, 1, p.created_at, p.updated_at
    FROM products.product p JOIN products.category c ON c.id = p.category_id
    CROSS JOIN LATERAL (SELECT (ARRAY[0, 0, 3, 10, 25])[1 + abs(hashtext(p.sku)) % 5] AS n) s
    ON CONFLICT DO NOTHING
"""
WORDS = ("kettle", "lamp", "backpack", "tent", "chair", "speaker", "blender", "jacket", "mug", "drill", "bottle",
         "pillow", "helmet", "rug", "clock", "shelf", "scooter", "brush", "tray", "notebook")
ADJECTIVES = ("red", "blue", "compact", "sturdy", "quiet", "rugged", "smart", "wireless", "waterproof", "bamboo",
              "ceramic", "folding", "portable", "heated")
TYPOS = ("kettel", "backpak", "speeker", "jackett", "blendr", "helmit")


@get("/products/{product_id:uuid}")
async def product_row(product_id: uuid.UUID, state: State) -> dict[str, Any]:
    """Bare baseline: the same row and join as GET /v1/products/{id}, through an asyncpg pool."""
    async with state.pool.acquire() as conn:
        record = await conn.fetchrow(PRODUCT_BY_ID, product_id)
    if record is None:
        raise NotFoundException()
    return dict(record)


@contextlib.asynccontextmanager
async def _pool(app: Litestar) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ[DATABASE_URL_ENV], min_size=10, max_size=10)
    try:
        yield
    finally:
        await app.state.pool.close()


def create_product_pk_app() -> Litestar:
    """Bare Litestar + asyncpg pool (asyncpg's defaults, like bench.baselines.create_pk_app)."""
    return Litestar(route_handlers=[product_row], lifespan=[_pool], debug=False)


def search_queries(categories: Sequence[str], rng: random.Random, count: int = 400) -> list[str]:
    """A mix of shopper searches: one word 40%, two words 25%, word + category 10%, word + price 10%,
    word + attribute 5%, typo (fuzzy fallback) 5%, browse a category in stock 5%."""
    tops = [c for c in categories if c.count("-") == 2]
    out = []
    for _ in range(count):
        word, adj, roll = rng.choice(WORDS), rng.choice(ADJECTIVES), rng.random()
        if roll < 0.40:
            q = f"q={word}"
        elif roll < 0.65:
            q = f"q={adj}+{word}"
        elif roll < 0.75:
            q = f"q={word}&category={rng.choice(tops)}"
        elif roll < 0.85:
            low = rng.randrange(0, 200_000)
            q = f"q={word}&min_price={low}&max_price={low + rng.randrange(1000, 100_000)}"
        elif roll < 0.90:
            q = f"q={word}&attributes=color:{rng.choice(('red', 'blue', 'black', 'white'))}"
        elif roll < 0.95:
            q = f"q={rng.choice(TYPOS)}"
        else:
            q = f"category={rng.choice(tops)}&in_stock=true&sort=price_asc"
        out.append(f"/v1/search?{q}")
    return out


# A commit elsewhere in the database (other services write all the time): must not evict search's cache.
UNRELATED_COMMIT = "SELECT txid_current()"
# What a StockChanged event does to the read model, on a random in-stock product: `available` moves by
# one and the product stays in stock, so the search processes drop the cached pages showing it.
STOCK_CHANGE = """
    UPDATE search.search_product
    SET available = CASE WHEN available > 1 THEN available - 1 ELSE available + 1 END,
        on_hand = CASE WHEN available > 1 THEN on_hand - 1 ELSE on_hand + 1 END,
        stock_revision = stock_revision + 1, applied_at = now()
    WHERE product_id = $1 AND in_stock
"""
IN_STOCK_IDS = "SELECT product_id FROM search.search_product WHERE in_stock AND listed LIMIT 10000"
# "Anything may have changed" (what a product update sends): every search process empties its cache.
EMPTY_SEARCH_CACHES = "SELECT pg_notify('search_read_model_changed', '')"


async def churn(
    dsn: str, per_second: float, stop: asyncio.Event, statement: str = UNRELATED_COMMIT, *,
    on_random_product: bool = False,
) -> int:
    """Commit `statement` `per_second` times a second until `stop`, as a live shop's other writers do;
    with `on_random_product`, its $1 is a random in-stock product each time."""
    conn = await asyncpg.connect(dsn)
    rng = random.Random(11)
    done = 0
    try:
        ids = [row[0] for row in await conn.fetch(IN_STOCK_IDS)] if on_random_product else []
        while not stop.is_set():
            await conn.execute(statement, *([rng.choice(ids)] if ids else []))
            done += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / per_second)
    finally:
        await conn.close()
    return done


async def measure_cases(cases: Sequence[Case], scripts: dict[str, tuple[str, str]], load: Load, repeats: int,
                        churn_dsn: str, progress: Callable[[str], None], profile_dir: Path | None = None) -> None:
    """Interleaved rounds (as harness.measure), but each case with its own Lua script; keys ending in
    '_churn' run while another connection commits 100 unrelated transactions/s; keys ending in
    '_stock' while 20 stock changes a second reach the read model (a shop selling ~10 orders/s)."""
    for case in cases:  # warm-up
        url, script = scripts[case.key]
        await run_wrk(url, script, Load(load.connections, 2, load.threads))
    for round_no in range(1, repeats + 1):
        for case in cases:
            url, script = scripts[case.key]
            stop = asyncio.Event()
            churner = None
            if case.key.endswith("_churn"):
                churner = asyncio.create_task(churn(churn_dsn, 100, stop))
            elif case.key.endswith("_stock"):
                churner = asyncio.create_task(churn(churn_dsn, 20, stop, STOCK_CHANGE, on_random_product=True))
            spy = None
            if profile_dir is not None and round_no == 1 and pyspy.available():
                out = profile_dir / f"pyspy-{case.key}.txt"
                spy = asyncio.create_task(pyspy.record(case.pids()[0], load.duration_seconds - 1, out))
            cpu0, db0 = procinfo.cpu_seconds(case.pids()), procinfo.cpu_seconds(case.db_pids())
            result = await run_wrk(url, script, load)
            cpu1, db1 = procinfo.cpu_seconds(case.pids()), procinfo.cpu_seconds(case.db_pids())
            if churner:
                stop.set()
                await churner
            if spy is not None and (path := await spy) is not None:
                progress(f"  py-spy, {case.label} (share of its CPU samples, inclusive; with py-spy attached):\n"
                         f"{pyspy.summary(path, 25)}")
            if result.non_2xx or result.socket_errors or not result.requests:
                raise RuntimeError(f"{case.label}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors")
            case.runs.append(result)
            if cpu0 is not None and cpu1 is not None:
                case.cpu_us.append((cpu1 - cpu0) / result.requests * 1e6)
            if db0 is not None and db1 is not None:
                case.db_cpu_us.append((db1 - db0) / result.requests * 1e6)
            progress(f"  round {round_no}/{repeats} {case.label:<46} {result.requests_per_second:>8,.0f} req/s "
                     f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:7.2f} ms  CPU {case.cpu_us[-1]:,.0f} µs/req")
            if round_no == repeats:
                case.memory = procinfo.tree_memory(case.pids())


async def search_breakdown(search_url: str, queries: Sequence[str], dsn: str, each: int = 15) -> dict[str, float]:
    """Median latency of each kind of search alone (one connection; before each, a read model write whose
    notification empties the result cache, so nothing is served from it)."""
    kinds: dict[str, list[str]] = {}
    for path in queries:
        q = path.split("?", 1)[1]
        kind = ("typo" if any(t in q for t in TYPOS) else "browse category" if not q.startswith("q=")
                else "word+category" if "category=" in q else "word+price" if "min_price" in q
                else "word+attribute" if "attributes" in q else "two words" if "+" in q else "one word")
        kinds.setdefault(kind, []).append(path)
    out: dict[str, float] = {}
    conn = await asyncpg.connect(dsn)
    try:
        async with aiohttp.ClientSession() as http:
            for kind, paths in sorted(kinds.items()):
                times = []
                for path in paths[:each]:
                    await conn.execute(EMPTY_SEARCH_CACHES)
                    await asyncio.sleep(0.02)  # the notification reaches the service's listener
                    started = time.perf_counter()
                    async with http.get(search_url + path) as resp:
                        await resp.read()
                    times.append((time.perf_counter() - started) * 1000)
                out[kind] = statistics.median(times)
    finally:
        await conn.close()
    return out


async def write_lag(stack: Stack, categories: Sequence[str], writes: int, rate: float,
                    poll_seconds: float = 0.01) -> tuple[list[float], int]:
    """POST /v1/products (admin) at `rate`/s; for each, poll GET /v1/search?q=<its unique word> until it is found.
    Returns lags in ms (from the 201 to the first search that finds it) and how many never appeared in 10 s."""
    product_url, search_url = stack.service_url("product"), stack.service_url("search")
    leaves = [c for c in categories if c.count("-") == 4]
    lags: list[float] = []
    missing = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        admin = await admin_headers(http, stack.service_url("user"), stack.admin_email, stack.admin_password)

        async def one(i: int) -> None:
            nonlocal missing
            word = "lagprobe" + "".join(random.choice("bcdfghjklmnpqrstvwxz") for _ in range(10))
            body = {"sku": f"LAG-{secrets.token_hex(5).upper()}", "name": f"Probe {word}", "description": "Lag probe.",
                    "price_cents": 1000 + i, "currency": "EUR", "category": random.choice(leaves), "attributes": {}}
            async with http.post(f"{product_url}/v1/products", json=body, headers=admin) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"POST /v1/products answered {resp.status}: {await resp.text()}")
                product_id = (await resp.json())["id"]
            written = time.perf_counter()
            while time.perf_counter() - written < 10:
                async with http.get(f"{search_url}/v1/search", params={"q": word}) as resp:
                    items = (await resp.json())["items"] if resp.status == 200 else []
                    # Only this product counts: the fuzzy fallback may also return earlier probes.
                    found = any(item["product_id"] == product_id for item in items)
                if found:
                    lags.append((time.perf_counter() - written) * 1000)
                    return
                await asyncio.sleep(poll_seconds)
            missing += 1

        tasks = []
        started = time.perf_counter()
        for i in range(writes):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return lags, missing


async def main_async(args: argparse.Namespace) -> int:
    say: Callable[[str], None] = lambda m: print(m, flush=True)  # noqa: E731
    from bench.__main__ import machine

    say(f"machine: {machine()}\ndate:    {time.strftime('%Y-%m-%d %H:%M %Z')}")
    async with full_stack(say) as stack:
        admin_dsn = asyncpg_dsn(stack.admin_database_url)
        made = await generate(stack.admin_database_url, count=args.products, seed=args.seed)
        conn = await asyncpg.connect(admin_dsn)
        try:
            started = time.perf_counter()
            await conn.execute(SEARCH_COPY)
            await conn.execute("VACUUM ANALYZE search.search_product")
            await conn.execute("ANALYZE search.search_facet_count")
        finally:
            await conn.close()
        say(f"generated {len(made.product_ids):,} products in {made.seconds:.1f}s; search read model seeded "
            f"from them in {time.perf_counter() - started:.1f}s")
        log_dir = stack.data_dir / "logs"
        base = start_app("catalog-baseline", "bench.catalog:create_product_pk_app", log_dir,
                         {DATABASE_URL_ENV: admin_dsn})
        try:
            await wait_ready(f"{base.url}/products/{made.product_ids[0]}", base.process)
            rng = random.Random(args.seed)
            ids = [str(i) for i in rng.sample(made.product_ids, min(10_000, len(made.product_ids)))]
            product_url, search_url = stack.service_url("product"), stack.service_url("search")
            queries = search_queries(made.categories, rng)
            pg = pids_of(stack, ["postgres"])
            product, search = pids_of(stack, ["product"]), pids_of(stack, ["search"])
            cases = [
                Case("pk", "bare Litestar + asyncpg product row", Target(base.url),
                     pids=lambda: [base.pid], db_pids=lambda: pg),
                Case("product", "GET /v1/products/{id} (product service)", Target(product_url), versus="pk",
                     pids=lambda: product, db_pids=lambda: pg),
                Case("search", "GET /v1/search (query mix)", Target(search_url),
                     pids=lambda: search, db_pids=lambda: pg),
                Case("search_churn", "GET /v1/search, 100 commits/s elsewhere", Target(search_url),
                     pids=lambda: search, db_pids=lambda: pg),
                Case("search_stock", "GET /v1/search, 20 stock changes/s", Target(search_url),
                     pids=lambda: search, db_pids=lambda: pg),
            ]
            scripts = {
                "pk": (base.url, random_paths_script([f"/products/{i}" for i in ids])),
                "product": (product_url, random_paths_script([f"/v1/products/{i}" for i in ids])),
                "search": (search_url, random_paths_script(queries)),
                "search_churn": (search_url, random_paths_script(queries)),
                "search_stock": (search_url, random_paths_script(queries)),
            }
            load = Load(connections=args.connections, duration_seconds=args.duration, threads=2)
            profile_dir = stack.data_dir if args.profile else None
            await measure_cases(cases, scripts, load, args.repeats, admin_dsn, say, profile_dir)
            say("\n" + table(cases))
            text, ok = verdicts([Goal("GET /v1/products/{id} vs bare asyncpg row", "product", "pk", 0.50)], cases)
            say("\n" + text)
            for case in cases[2:]:
                p99s = [r.p99_ms for r in case.runs]
                verdict = "PASS" if max(p99s) < 50 else "FAIL" if min(p99s) >= 50 else "MIXED"
                say(f"  {verdict}  {case.label}: p99 per round {', '.join(f'{p:.1f}' for p in p99s)} ms "
                    f"(target < 50 ms); p50 {case.p50_ms:.1f} ms")
            say("\nuncached latency of each kind of search (one connection, median of up to 15 distinct queries):")
            for kind, ms in (await search_breakdown(search_url, queries, admin_dsn)).items():
                say(f"  {kind:<16} {ms:7.1f} ms")
        finally:
            base.process.stop()
        say(f"\nwrite → searchable: {args.writes} POST /v1/products at {args.write_rate}/s, "
            f"polling search every 10 ms")
        cpu0 = procinfo.cpu_seconds(pids_of(stack, ["product", "search", "postgres"]))
        lags, missing = await write_lag(stack, made.categories, args.writes, args.write_rate)
        cpu1 = procinfo.cpu_seconds(pids_of(stack, ["product", "search", "postgres"]))
        p50, p99 = percentile(lags, 50), percentile(lags, 99)
        say(f"  lag ms: p50 {p50:.0f}  p99 {p99:.0f}  max {max(lags, default=float('nan')):.0f}  "
            f"mean {statistics.fmean(lags) if lags else float('nan'):.0f}  not found within 10 s: {missing}")
        if cpu0 is not None and cpu1 is not None:
            say(f"  (product+search+postgres CPU during the lag test: {cpu1 - cpu0:.1f} s)")
        lag_ok = p99 < 1000 and not missing
        say(f"  {'PASS' if lag_ok else 'FAIL'}  event lag p99 {p99:.0f} ms (target < 1000 ms)")
    return 0 if ok and lag_ok else 1


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.catalog", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--products", type=int, default=100_000)
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("-r", "--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--writes", type=int, default=150, help="product writes in the lag test")
    parser.add_argument("--write-rate", type=float, default=5.0, help="product writes per second")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="py-spy each case's server in its first round")
    args = parser.parse_args(argv)
    raise SystemExit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()

