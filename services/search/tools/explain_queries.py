"""Measure the search statements on a generated catalog: EXPLAIN ANALYZE plus timed repetitions.

    uv run python services/search/tools/explain_queries.py --database-url postgresql://admin@... \
        [--products 100000] [--repeat 30] [--keep]

Creates a scratch schema (`search_explain` by default), runs the service's migrations into it,
COPYs generated products into the read model (the handlers' trigger fills the facet counts as it
would from events), then runs the exact statements the service sends for a set of typical
requests and prints rows matched, planning and execution time, shared buffers, and the client-side
p50/p95 over `--repeat` runs. Needs an administrator URL (it creates and drops the schema).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from commerce_platform import migrations
from commerce_platform.database import Database, asyncpg_dsn
from search_service.queries import results_of, search_statement
from search_service.schemas import MatchMode, SortOrder
from search_service.services import FUZZY_WORD_SIMILARITY, search_criteria

MIGRATIONS = Path(__file__).resolve().parents[1] / "search_service" / "migrations"
ADJECTIVES = [
    "Blue", "Red", "Compact", "Sturdy", "Light", "Quiet", "Rugged", "Smart", "Classic", "Soft", "Bright", "Folding",
    "Wireless", "Heated",
]
NOUNS = [
    "Kettle", "Lamp", "Backpack", "Tent", "Chair", "Speaker", "Blender", "Jacket", "Mug", "Drill", "Notebook",
    "Bottle", "Pillow", "Helmet",
]
MATERIALS = ["steel", "wood", "cotton", "plastic", "glass", "wool", "leather", "bamboo"]
COLORS = ["red", "blue", "green", "black", "white", "grey", "yellow", "orange"]
DEPARTMENTS = ["outdoor", "kitchen", "garden", "office", "toys", "sports", "audio", "lighting"]

# (label, request parameters, how the text matches)
REQUESTS: list[tuple[str, dict[str, Any], MatchMode | None]] = [
    ("one common word", {"q": "kettle"}, MatchMode.FULL_TEXT),
    ("two words", {"q": "red kettle"}, MatchMode.FULL_TEXT),
    ("word and number (few matches)", {"q": "kettle 512"}, MatchMode.FULL_TEXT),
    ("word + category", {"q": "lamp", "category": "lighting"}, MatchMode.FULL_TEXT),
    ("word, price order", {"q": "lamp", "sort": SortOrder.PRICE_ASC}, MatchMode.FULL_TEXT),
    ("word + price + attribute", {"q": "lamp", "min_price": 1000, "max_price": 50000,
                                  "attributes": ["color:red"]}, MatchMode.FULL_TEXT),
    ("typo fallback", {"q": "kettel"}, MatchMode.FUZZY),
    ("browse everything", {}, None),
    ("browse a category", {"category": "outdoor"}, None),
    ("browse a leaf, in stock, by price", {"category": "outdoor-1-2", "in_stock": True,
                                           "sort": SortOrder.PRICE_ASC}, None),
    ("price range, no text", {"min_price": 100, "max_price": 20000}, None),
    ("deep page", {"q": "kettle", "page": 50, "page_size": 100}, MatchMode.FULL_TEXT),
]


def catalog_rows(count: int, seed: int = 7) -> list[tuple[Any, ...]]:
    """Products in a 8 x 5 x 4 category tree, names "Adjective Noun 123", most in leaf categories."""
    rng = random.Random(seed)
    leaves = [[d, f"{d}-{i}", f"{d}-{i}-{j}"] for d in DEPARTMENTS for i in range(5) for j in range(4)]
    now = datetime.now(UTC)
    rows = []
    for number in range(count):
        adjective, noun, material = rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(MATERIALS)
        path = rng.choice(leaves)
        if rng.random() < 0.1:
            path = path[: rng.choice((1, 2))]
        available = rng.choice((0, 0, 3, 10, 25))
        created = now - timedelta(seconds=rng.randrange(365 * 24 * 3600))
        attributes = {"color": rng.choice(COLORS), "material": material, "weight_kg": round(rng.uniform(0.1, 25), 2)}
        rows.append((
            uuid.UUID(int=rng.getrandbits(128), version=4), f"GEN-{number:07d}",
            f"{adjective} {noun} {rng.randrange(100, 999)}",
            f"A {adjective.lower()} {noun.lower()} for everyday use, {material} finish.",
            rng.randrange(100, 500_000), "EUR", path[-1], path, json.dumps(attributes),
            1, available, available, 1, created, created,
        ))
    return rows


async def prepare(admin_url: str, schema: str, count: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    database = Database(admin_url, schema=schema, application_name="search-explain")
    try:
        await migrations.upgrade(database, MIGRATIONS)
    finally:
        await database.close()
    conn = await asyncpg.connect(asyncpg_dsn(admin_url), server_settings={"search_path": f"{schema},public"})
    try:
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "search_product",
            schema_name=schema,
            records=catalog_rows(count),
            columns=[
                "product_id", "sku", "name", "description", "price_cents", "currency", "category_slug",
                "category_path", "attributes", "product_revision", "on_hand", "available", "stock_revision",
                "created_at", "updated_at",
            ],
        )
        await conn.execute("VACUUM ANALYZE search_product")
        await conn.execute("ANALYZE search_facet_count")
        print(f"loaded {count} products into {schema} in {time.perf_counter() - started:.1f}s")
    finally:
        await conn.close()


async def measure(admin_url: str, schema: str, repeat: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url), server_settings={"search_path": f"{schema},public"})
    await conn.execute(f"SET pg_trgm.word_similarity_threshold = {FUZZY_WORD_SIMILARITY}")
    print(f"{'request':36} {'matched':>8} {'plan ms':>8} {'exec ms':>8} {'buffers':>8} {'p50 ms':>8} {'p95 ms':>8}")
    try:
        for label, params, mode in REQUESTS:
            criteria = search_criteria(
                q=params.get("q"), category=params.get("category"), min_price=params.get("min_price"),
                max_price=params.get("max_price"), in_stock=params.get("in_stock"),
                attributes=params.get("attributes", []), sort=params.get("sort"),
                page=params.get("page", 1), page_size=params.get("page_size", 20),
            )
            statement = search_statement(criteria, mode)
            timings = []
            for _ in range(repeat):
                started = time.perf_counter()
                row = await conn.fetchrow(statement.sql, *statement.args)
                timings.append((time.perf_counter() - started) * 1000)
            plan = json.loads(
                await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement.sql, *statement.args)
            )[0]
            buffers = plan["Plan"].get("Shared Hit Blocks", 0) + plan["Plan"].get("Shared Read Blocks", 0)
            timings.sort()
            print(
                f"{label:36} {matched(row, criteria, mode):>8} "
                f"{plan['Planning Time']:>8.2f} {plan['Execution Time']:>8.2f} "
                f"{buffers:>8} {statistics.median(timings):>8.2f} {timings[int(len(timings) * 0.95) - 1]:>8.2f}"
            )
    finally:
        await conn.close()


def matched(row: Any, criteria: Any, mode: MatchMode | None) -> str:
    """The total as the response gives it: "1000+" once searching stopped counting."""
    results = results_of(row, criteria, mode)
    return f"{results.total}+" if results.total_is_lower_bound else str(results.total)


async def main(args: argparse.Namespace) -> None:
    if not args.reuse:
        await prepare(args.database_url, args.schema, args.products)
    try:
        await measure(args.database_url, args.schema, args.repeat)
    finally:
        if not args.keep:
            conn = await asyncpg.connect(asyncpg_dsn(args.database_url))
            await conn.execute(f'DROP SCHEMA IF EXISTS "{args.schema}" CASCADE')
            await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="an administrator URL")
    parser.add_argument("--schema", default="search_explain")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the scratch schema for more digging")
    parser.add_argument("--reuse", action="store_true", help="measure a schema kept by an earlier --keep run")
    asyncio.run(main(parser.parse_args()))
