"""bench/generate_products.py: what it writes is what the service itself would serve and publish."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]


async def test_generated_products_are_served_like_real_ones(
    stack: Any, public: Any, products_db: Any, tmp_path: Path
) -> None:
    prefix = f"gt{uuid.uuid4().hex[:6]}"
    ids_file = tmp_path / "ids.txt"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.generate_products",
        "--database-url", stack.admin_database_url,
        "--count", "250", "--fanout", "2,3", "--prefix", prefix, "--emit-events", "--seed", "7",
        "--ids-out", str(ids_file),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "250 products, 250 events" in out.decode()

    ids = ids_file.read_text().split()
    assert len(ids) == len(set(ids)) == 250
    tree = (await public.call("GET", "/v1/categories")).ok(200)
    tops = [node for node in tree if node["slug"].startswith(prefix)]
    assert len(tops) == 2 and all(len(node["children"]) == 3 for node in tops)
    totals = [(await public.call("GET", "/v1/products", params={"category": t["slug"]})).ok(200)["total"] for t in tops]
    assert sum(totals) == 250

    product = (await public.call("GET", f"/v1/products/{ids[0]}")).ok(200)
    assert product["sku"].startswith(prefix.upper()) and product["revision"] == 1
    assert product["category_path"][0] in {t["slug"] for t in tops}
    assert set(product["attributes"]) == {"color", "material", "weight_kg", "in_gift_box"}

    events = await products_db.fetchval(
        "SELECT count(*) FROM products.outbox WHERE event_type = 'ProductCreated'"
        " AND convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'sku' LIKE $1",
        prefix.upper() + "-%",
    )
    assert events == 250
