"""Fill the product service's tables with N generated products across a category tree, fast (COPY).

    uv run python -m bench.generate_products --database-url postgresql://... [--count 100000] [--emit-events]

Writes straight into the `products` schema (the admin URL or the product service's own URL both
work), bypassing the API: 100,000 products take a few seconds instead of minutes. The rows look
exactly like the service's own: same columns, revision 1, category paths, attributes. With
`--emit-events` each product also gets its `ProductCreated` outbox row, so the running relay
publishes them and the search read model fills up as it would from real writes.

Everything a run creates carries its `--prefix` (random unless given) in category slugs and SKUs,
so runs never collide with each other or with test data. `generate()` is the same thing for code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec

from commerce_platform.database import asyncpg_dsn
from commerce_platform.events.catalog import ProductCreated
from commerce_platform.events.envelope import encode_envelope, new_envelope, topic_of

SCHEMA = "products"
SOURCE = "product-service"
PRODUCT_COLUMNS = (
    "id", "sku", "name", "description", "price_cents", "currency", "category_id",
    "attributes", "revision", "created_at", "updated_at",
)
OUTBOX_COLUMNS = ("id", "topic", "event_type", "payload")

_DEPARTMENTS = (
    "Outdoor", "Kitchen", "Garden", "Office", "Toys", "Sports", "Audio", "Lighting",
    "Bath", "Travel", "Pets", "Crafts", "Tools", "Fitness", "Baby", "Books",
)
_KINDS = (
    "Essentials", "Classics", "Pro", "Basics", "Deluxe", "Compact", "Vintage", "Eco",
    "Premium", "Starter", "Studio", "Urban",
)
_ADJECTIVES = (
    "Blue", "Red", "Compact", "Sturdy", "Light", "Quiet", "Rugged", "Smart", "Classic", "Soft",
    "Bright", "Folding", "Wireless", "Heated", "Waterproof", "Portable", "Ceramic", "Bamboo",
)
_NOUNS = (
    "Kettle", "Lamp", "Backpack", "Tent", "Chair", "Speaker", "Blender", "Jacket", "Mug", "Drill",
    "Notebook", "Bottle", "Pillow", "Helmet", "Rug", "Clock", "Shelf", "Scooter", "Brush", "Tray",
)
_COLORS = ("red", "blue", "green", "black", "white", "grey", "yellow", "orange")
_MATERIALS = ("steel", "wood", "cotton", "plastic", "glass", "wool", "leather", "bamboo")


@dataclass(frozen=True, slots=True)
class GeneratedCategory:
    id: uuid.UUID
    slug: str
    name: str
    parent_id: uuid.UUID | None
    path: list[str]


@dataclass
class Generated:
    """What a run created: its prefix, every category slug (top-level first) and every product id."""

    prefix: str
    categories: list[str] = field(default_factory=list)
    product_ids: list[uuid.UUID] = field(default_factory=list)
    events: int = 0
    seconds: float = 0.0


def uuid7(at: datetime, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 for `at`: time-ordered like the service's own ids, so the primary key stays compact."""
    millis = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62) | rng.getrandbits(62)
    return uuid.UUID(int=value)


def category_tree(prefix: str, fanout: Sequence[int], rng: random.Random) -> list[GeneratedCategory]:
    """A tree with fanout[0] top-level categories, each with fanout[1] children, and so on."""
    now = datetime.now(UTC)
    tree: list[GeneratedCategory] = []
    level: list[GeneratedCategory | None] = [None]
    names = (_DEPARTMENTS, _KINDS, _ADJECTIVES)
    for depth, width in enumerate(fanout):
        labels = names[min(depth, len(names) - 1)]
        next_level: list[GeneratedCategory] = []
        for parent in level:
            for index in range(width):
                label = labels[index % len(labels)]
                slug = f"{parent.slug}-{index}" if parent else f"{prefix}-{label.lower()}-{index}"
                node = GeneratedCategory(
                    id=uuid7(now, rng),
                    slug=slug,
                    name=f"{parent.name} {label}" if parent else label,
                    parent_id=parent.id if parent else None,
                    path=[*(parent.path if parent else []), slug],
                )
                next_level.append(node)
        tree.extend(next_level)
        level = list(next_level)
    return tree


@dataclass(frozen=True, slots=True)
class GeneratedProduct:
    id: uuid.UUID
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    category: GeneratedCategory
    attributes: dict[str, object]
    created_at: datetime

    def row(self) -> tuple[object, ...]:
        """The product table row, in PRODUCT_COLUMNS order (revision 1, never updated yet)."""
        return (
            self.id, self.sku, self.name, self.description, self.price_cents, self.currency, self.category.id,
            msgspec.json.encode(self.attributes).decode(), 1, self.created_at, self.created_at,
        )

    def created_event(self) -> tuple[object, ...]:
        """The ProductCreated outbox row the service itself would have written, in OUTBOX_COLUMNS order."""
        event = ProductCreated(
            product_id=self.id,
            sku=self.sku,
            name=self.name,
            description=self.description,
            price_cents=self.price_cents,
            currency=self.currency,
            category_slug=self.category.slug,
            category_path=self.category.path,
            attributes=self.attributes,
            revision=1,
            created_at=self.created_at,
            updated_at=self.created_at,
        )
        envelope = new_envelope(event, source=SOURCE)
        return (envelope.id, topic_of(envelope.type), envelope.type, encode_envelope(envelope))


def products(
    prefix: str,
    numbers: range,
    categories: Sequence[GeneratedCategory],
    currency: str,
    rng: random.Random,
) -> list[GeneratedProduct]:
    """Products numbered `numbers`; most sit in leaf categories, some higher up, as in real shops."""
    depth = max(len(c.path) for c in categories)
    leaves = [c for c in categories if len(c.path) == depth]
    inner = [c for c in categories if len(c.path) < depth] or leaves
    now = datetime.now(UTC)
    made: list[GeneratedProduct] = []
    for number in numbers:
        created = now - timedelta(seconds=rng.randrange(365 * 24 * 3600))
        adjective, noun = rng.choice(_ADJECTIVES), rng.choice(_NOUNS)
        material = rng.choice(_MATERIALS)
        made.append(
            GeneratedProduct(
                id=uuid7(created, rng),
                sku=f"{prefix}-{number:07d}".upper(),
                name=f"{adjective} {noun} {rng.randrange(100, 999)}",
                description=f"A {adjective.lower()} {noun.lower()} for everyday use, {material} finish.",
                price_cents=rng.randrange(100, 500_000),
                currency=currency,
                category=rng.choice(leaves) if rng.random() < 0.9 else rng.choice(inner),
                attributes={
                    "color": rng.choice(_COLORS),
                    "material": material,
                    "weight_kg": round(rng.uniform(0.05, 25.0), 2),
                    "in_gift_box": rng.random() < 0.2,
                },
                created_at=created,
            )
        )
    return made


async def generate(
    database_url: str,
    *,
    count: int = 100_000,
    fanout: Sequence[int] = (8, 5, 4),
    emit_events: bool = False,
    prefix: str | None = None,
    currency: str = "EUR",
    seed: int | None = None,
    batch_size: int = 20_000,
) -> Generated:
    """Insert `count` products (and their category tree) in one transaction; return what was made."""
    rng = random.Random(seed)
    prefix = prefix or f"gen{secrets.token_hex(3)}"
    started = time.perf_counter()
    categories = category_tree(prefix, fanout, rng)
    result = Generated(prefix=prefix, categories=[c.slug for c in categories])
    conn = await asyncpg.connect(asyncpg_dsn(database_url), server_settings={"search_path": f"{SCHEMA},public"})
    try:
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO category (id, slug, name, parent_id, path, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, now(), now())",
                [(c.id, c.slug, c.name, c.parent_id, c.path) for c in categories],
            )
            for offset in range(0, count, batch_size):
                batch = products(prefix, range(offset, min(count, offset + batch_size)), categories, currency, rng)
                await conn.copy_records_to_table(
                    "product", records=[p.row() for p in batch], columns=PRODUCT_COLUMNS, schema_name=SCHEMA
                )
                result.product_ids.extend(p.id for p in batch)
                if emit_events:
                    events = [p.created_event() for p in batch]
                    await conn.copy_records_to_table(
                        "outbox", records=events, columns=OUTBOX_COLUMNS, schema_name=SCHEMA
                    )
                    result.events += len(events)
        # Fresh statistics, so the planner picks the indexes the service's queries were written for.
        await conn.execute("ANALYZE category; ANALYZE product")
    finally:
        await conn.close()
    result.seconds = time.perf_counter() - started
    return result


def _fanout(text: str) -> tuple[int, ...]:
    widths = tuple(int(part) for part in text.split(","))
    if not widths or any(w < 1 for w in widths) or len(widths) > 8:
        raise argparse.ArgumentTypeError("fanout is 1 to 8 positive widths, e.g. 8,5,4")
    return widths


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="admin URL or the product service's URL (default: $DATABASE_URL)",
    )
    parser.add_argument("--count", type=int, default=100_000, help="products to create (default 100000)")
    parser.add_argument("--fanout", type=_fanout, default=(8, 5, 4), help="category tree widths per level")
    parser.add_argument("--emit-events", action="store_true", help="also write a ProductCreated outbox row each")
    parser.add_argument("--prefix", help="slug and SKU prefix of this run (default: random)")
    parser.add_argument("--currency", default="EUR")
    parser.add_argument("--seed", type=int, help="random seed, for repeatable data")
    parser.add_argument("--ids-out", type=Path, help="write the product ids here, one per line")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) is required")
    if args.count < 0:
        parser.error("--count must be >= 0")

    made = asyncio.run(
        generate(
            args.database_url,
            count=args.count,
            fanout=args.fanout,
            emit_events=args.emit_events,
            prefix=args.prefix,
            currency=args.currency,
            seed=args.seed,
        )
    )
    if args.ids_out:
        args.ids_out.write_text("".join(f"{pid}\n" for pid in made.product_ids))
    rate = len(made.product_ids) / made.seconds if made.seconds else 0.0
    print(
        f"prefix {made.prefix}: {len(made.categories)} categories, {len(made.product_ids)} products, "
        f"{made.events} events in {made.seconds:.1f}s ({rate:,.0f} products/s); "
        f"top-level categories: {', '.join(s for s in made.categories[: args.fanout[0]])}"
    )


if __name__ == "__main__":
    main()
