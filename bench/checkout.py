"""Issue 5: the Online Boutique shopper mix through the gateway, paced (open model), stepped to the highest rate.

    uv run python -m bench.checkout [--rate 20 --seconds 60] [--steps 30,40,55] [--step-seconds 20] [--parts 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg

from bench import procinfo, pyspy
from bench.shopstack import NOT_PLATFORM, cpu_by_name, full_stack, percentile, platform_cpu_seconds
from commerce_platform.database import asyncpg_dsn
from commerce_platform.devstack.launcher import Stack
from commerce_platform.testing import (
    SHIPPING_ADDRESS,
    Shopper,
    admin_headers,
    create_category,
    create_product,
    new_shopper,
    set_stock,
)

# Online Boutique's locustfile weights: browse (index / product / search) 10, view cart 3, add to cart 2, checkout 1.
MIX = ("browse",) * 10 + ("cart",) * 3 + ("add",) * 2 + ("checkout",)
STOCK = 1_000_000
LAG_SQL = """
    SELECT extract(epoch FROM r.committed_at - s.created_at) * 1000 AS lag_ms
    FROM orders.customer_order o
    JOIN orders.order_status_change s ON s.order_id = o.id AND s.to_status = 'confirmed'
    JOIN inventory.reservation r ON r.id = o.reservation_id
    WHERE o.status = 'confirmed' AND s.created_at >= $1
"""
STOCK_SQL = "SELECT product_id, on_hand, reserved FROM inventory.stock_item WHERE product_id = ANY($1::uuid[])"
SOLD_SQL = """
    SELECT l.product_id, sum(l.quantity)::int FROM orders.order_line l
    JOIN orders.customer_order o ON o.id = l.order_id
    WHERE o.status = 'confirmed' GROUP BY l.product_id
"""


@dataclass
class Step:
    """What one paced run measured."""

    rate: float
    seconds: float
    latency_ms: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in ("browse", "checkout", "all")})
    checkouts: int = 0
    tasks: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    late: int = 0  # tasks that started > 100 ms after their scheduled time (no idle shopper / driver behind)
    wall: float = 0.0
    platform_cpu: float = 0.0
    driver_cpu: float = 0.0
    by_process: dict[str, float] = field(default_factory=dict)

    @property
    def checkouts_per_second(self) -> float:
        return self.checkouts / self.wall if self.wall else 0.0

    def p(self, kind: str, q: float) -> float:
        return percentile(self.latency_ms[kind], q)

    @property
    def sustained(self) -> bool:
        return (not self.errors and self.p("checkout", 99) < 300 and self.late <= 0.01 * self.requests
                and self.checkouts_per_second >= 0.95 * self.rate)


async def paced(mix: Sequence[str], rate: float, seconds: float,
                start: Callable[[str, float], Coroutine[Any, Any, None]]) -> float:
    """Start one task per slot, len(mix) x `rate` slots per second for `seconds`, each kind of the mix
    once per round in random order (with MIX: checkouts at `rate`/s), then wait for them; the wall time.
    `start(kind, due)` makes the task; `due` is when it was scheduled, to count late starts."""
    interval = 1 / (rate * len(mix))
    tasks: list[asyncio.Task[None]] = []
    order: list[str] = []
    started = time.perf_counter()
    i = 0
    while (due := started + i * interval) < started + seconds:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        if not order:
            order = random.sample(list(mix), len(mix))
        tasks.append(asyncio.create_task(start(order.pop(), due)))
        i += 1
    await asyncio.gather(*tasks)
    return time.perf_counter() - started


class Driver:
    """One task per scheduled slot; each borrows an idle shopper so a shopper never runs two tasks at once."""

    def __init__(self, http: aiohttp.ClientSession, base: str, shoppers: Sequence[Shopper],
                 product_ids: Sequence[str], words: Sequence[str]) -> None:
        self.http, self.base, self.products, self.words = http, base, product_ids, words
        self.idle: asyncio.Queue[Shopper] = asyncio.Queue()
        for s in shoppers:
            self.idle.put_nowait(s)

    async def _call(self, step: Step, kind: str, method: str, path: str, shopper: Shopper | None,
                    json: Any = None, headers: dict[str, str] | None = None) -> None:
        h = {**(shopper.headers if shopper else {}), **(headers or {})}
        started = time.perf_counter()
        try:
            async with self.http.request(method, self.base + path, json=json, headers=h) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            step.errors.append(f"{method} {path}: {exc!r}")
            return
        ms = (time.perf_counter() - started) * 1000
        step.requests += 1
        step.latency_ms["all"].append(ms)
        if kind in step.latency_ms:
            step.latency_ms[kind].append(ms)
        if status >= 300:
            step.errors.append(f"{method} {path}: {status}")
        elif kind == "checkout":
            step.checkouts += 1

    async def task(self, step: Step, kind: str, due: float) -> None:
        shopper = await self.idle.get()
        step.tasks += 1
        if time.perf_counter() - due > 0.1:
            step.late += 1
        try:
            product = random.choice(self.products)
            if kind == "browse":
                path = random.choice((f"/v1/products?page={random.randint(1, 5)}", f"/v1/products/{product}",
                                      f"/v1/search?q={random.choice(self.words)}"))
                await self._call(step, "browse", "GET", path, shopper)
            elif kind == "cart":
                await self._call(step, "cart", "GET", "/v1/cart", shopper)
            else:
                await self._call(step, "add", "POST", "/v1/cart/items", shopper,
                                 json={"product_id": product, "quantity": 1})
                if kind == "checkout":
                    await self._call(step, "checkout", "POST", "/v1/orders", shopper,
                                     json={"shipping_address": SHIPPING_ADDRESS, "payment_method": "pm_card_visa"},
                                     headers={"Idempotency-Key": str(uuid.uuid4())})
        finally:
            self.idle.put_nowait(shopper)

    async def run(self, stack: Stack, rate: float, seconds: float, mix: Sequence[str] = MIX) -> Step:
        """Start `mix` tasks at len(mix) x `rate` per second (with MIX: checkouts at `rate`/s) for `seconds`,
        then wait for them."""
        step = Step(rate, seconds)
        names0, drv0 = cpu_by_name(stack), time.process_time()
        step.wall = await paced(mix, rate, seconds, lambda kind, due: self.task(step, kind, due))
        names1 = cpu_by_name(stack)
        step.platform_cpu = sum(names1.get(n, 0.0) - v for n, v in names0.items() if n not in NOT_PLATFORM)
        step.driver_cpu = time.process_time() - drv0
        step.by_process = {n: names1.get(n, 0.0) - v for n, v in names0.items()}
        return step


async def prepare(stack: Stack, http: aiohttp.ClientSession, shoppers: int, products: int,
                  say: Callable[[str], None]) -> tuple[list[Shopper], list[str]]:
    """A category with `products` products, each stocked with STOCK units, and `shoppers` signed-in shoppers."""
    admin = await admin_headers(http, stack.service_url("user"), stack.admin_email, stack.admin_password)
    category = await create_category(http, stack.service_url("product"), admin)
    names = ("Blue Kettle", "Trail Lamp", "Rain Jacket", "Bamboo Tray", "Steel Bottle", "Quiet Speaker")
    ids = []
    for i in range(products):
        body = await create_product(http, stack.service_url("product"), admin, category=category,
                                    price_cents=500 + 37 * i, name=f"{names[i % len(names)]} {i}")
        ids.append(body["id"])
    await asyncio.sleep(2)  # let ProductCreated create the stock records first (it would create them at 0)
    for pid in ids:
        await set_stock(http, stack.service_url("inventory"), admin, pid, STOCK)
    made: list[Shopper] = []
    sem = asyncio.Semaphore(4)

    async def one() -> None:
        async with sem:
            made.append(await new_shopper(http, stack.service_url("user")))

    await asyncio.gather(*(one() for _ in range(shoppers)))
    say(f"prepared {len(ids)} products ({STOCK:,} units each) and {len(made)} shoppers")
    return made, ids


async def consistency(dsn: str, product_ids: Sequence[str], since: Any) -> tuple[str, bool, list[float]]:
    """Wait (up to 60 s) until every hold is committed, then check the ledger: on_hand - reserved + units in
    confirmed orders == initial stock, 0 <= reserved <= on_hand; also OrderCreated → committed lags since `since`."""
    conn = await asyncpg.connect(dsn)
    waited = time.perf_counter()
    try:
        while True:
            rows = await conn.fetch(STOCK_SQL, [uuid.UUID(p) for p in product_ids])
            if sum(r["reserved"] for r in rows) == 0 or time.perf_counter() - waited > 60:
                break
            await asyncio.sleep(0.5)
        settle = time.perf_counter() - waited
        sold = {r[0]: r[1] for r in await conn.fetch(SOLD_SQL)}
        lags = [float(r["lag_ms"]) for r in await conn.fetch(LAG_SQL, since) if r["lag_ms"] is not None]
    finally:
        await conn.close()
    oversold = [r for r in rows if r["on_hand"] < 0 or r["reserved"] > r["on_hand"]
                or sold.get(r["product_id"], 0) > STOCK]
    # on_hand drops when a hold is committed; until then the units count in `reserved`.
    drift = [r for r in rows if r["on_hand"] - r["reserved"] + sold.get(r["product_id"], 0) != STOCK]
    held = sum(r["reserved"] for r in rows)
    text = (f"{sum(sold.values()):,} units in confirmed orders; holds settled after {settle:.1f} s "
            f"(still reserved: {held}); oversold products: {len(oversold)}; products where on_hand - reserved "
            f"+ sold != initial: {len(drift)}/{len(rows)}")
    return text, not oversold and not drift and len(rows) == len(product_ids), lags


def report(step: Step, label: str, say: Callable[[str], None]) -> None:
    errors = len(step.errors)
    say(f"  {label}: {step.checkouts_per_second:5.1f} checkouts/s (target {step.rate:g}) over {step.wall:.0f} s, "
        f"{step.requests / step.wall:,.0f} req/s; checkout p50 {step.p('checkout', 50):.0f} ms "
        f"p99 {step.p('checkout', 99):.0f} ms; browse p50 {step.p('browse', 50):.0f} ms "
        f"p99 {step.p('browse', 99):.0f} ms; errors {errors}; late starts {step.late}; "
        f"{'SUSTAINED' if step.sustained else 'NOT sustained'}")
    if step.checkouts:
        say(f"    platform CPU {step.platform_cpu * 1000 / step.checkouts:.1f} ms per checkout, "
            f"{step.platform_cpu * 1e6 / step.requests:,.0f} µs per request of the mix "
            f"({step.platform_cpu / step.wall:.2f} cores); load generator {step.driver_cpu / step.wall:.2f} cores")
        top = sorted(step.by_process.items(), key=lambda kv: -kv[1])
        say("    CPU ms per checkout by process: " + ", ".join(
            f"{n} {v * 1000 / step.checkouts:.1f}" for n, v in top if v > 0))
    for e in sorted(set(step.errors))[:5]:
        say(f"    error: {e} (x{step.errors.count(e)})")


async def parts(driver: Driver, stack: Stack, rate: float, seconds: float, idle_cores: float,
                mix_ms: float, say: Callable[[str], None]) -> None:
    """Each kind of task of the mix alone, paced at the rate it has inside the mix at `rate` checkouts/s, so
    the platform CPU per checkout can be split into what browsing, cart views, adds and the checkout cost."""
    say(f"\nparts: each kind of task alone for {seconds:g} s, at its rate within {rate:g} checkouts/s "
        "(platform CPU net of idle)")
    per_task: dict[str, float] = {}
    for kind in ("browse", "cart", "add", "checkout"):
        count = MIX.count(kind)
        step = await driver.run(stack, rate * count, seconds, mix=(kind,))
        net = step.platform_cpu - idle_cores * step.wall
        per_task[kind] = net * 1000 / step.tasks if step.tasks else float("nan")
        top = sorted(((n, v) for n, v in step.by_process.items() if n not in NOT_PLATFORM and v > 0),
                     key=lambda kv: -kv[1])[:6]
        say(f"  {kind:8s} {rate * count:5.0f}/s: {per_task[kind]:5.2f} ms per task, errors {len(step.errors)} ("
            + ", ".join(f"{n} {v * 1000 / step.tasks:.2f}" for n, v in top) + ")")
        await asyncio.sleep(2)  # let the events of the last tasks drain before the next kind
    # A checkout task is an add, then the checkout (see Driver.task).
    alone = per_task["checkout"] - per_task["add"]
    shares = {kind: per_task[kind] * MIX.count(kind) for kind in ("browse", "cart", "add")}
    shares["add"] += per_task["add"] * MIX.count("checkout")
    shares["checkout itself"] = alone
    say("  per checkout of the mix: " + ", ".join(f"{k} {v:.1f} ms" for k, v in shares.items())
        + f"; sum {sum(shares.values()):.1f} ms (the mix measured {mix_ms:.1f} ms net of idle)")


async def _now(dsn: str) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT now()")
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> int:
    say: Callable[[str], None] = lambda m: print(m, flush=True)  # noqa: E731
    from bench.__main__ import machine

    say(f"machine: {machine()}\ndate:    {time.strftime('%Y-%m-%d %H:%M %Z')}")
    async with full_stack(say) as stack:
        dsn = asyncpg_dsn(stack.admin_database_url)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as http:
            shoppers, ids = await prepare(stack, http, args.shoppers, args.products, say)
            driver = Driver(http, stack.gateway_url, shoppers, ids, ("kettle", "lamp", "jacket", "bamboo tray"))
            say("warm-up: 10 s at 2 checkouts/s, then wait until every hold is committed")
            await driver.run(stack, 2, 10)
            await consistency(dsn, ids, await _now(dsn))
            aws = [p.pid for p in stack.processes if p.name == "aws" and p.pid is not None]
            idle0, aws0, idle_at = platform_cpu_seconds(stack), procinfo.cpu_seconds(aws), time.perf_counter()
            await asyncio.sleep(10)
            span = time.perf_counter() - idle_at
            idle = (platform_cpu_seconds(stack) - idle0) / span
            aws_idle = ((procinfo.cpu_seconds(aws) or 0.0) - (aws0 or 0.0)) / span
            say(f"idle CPU: platform {idle:.3f} cores (consumers, relays, sweepers); AWS emulator {aws_idle:.3f} cores")
            steps: list[Step] = []
            for rate in args.steps:  # ascending, each from a settled state, until one is not sustained
                since = await _now(dsn)
                say(f"\nstep: {rate:g} checkouts/s for {args.step_seconds:g} s")
                step = await driver.run(stack, rate, args.step_seconds)
                report(step, f"{rate:g}/s", say)
                text, _, lags = await consistency(dsn, ids, since)
                say(f"    {text}\n    OrderCreated → stock committed: p50 {percentile(lags, 50):.0f} ms "
                    f"p99 {percentile(lags, 99):.0f} ms ({len(lags)} orders)")
                steps.append(step)
                if not step.sustained:
                    break
            since = await _now(dsn)
            say(f"\ntarget run: {args.rate:g} checkouts/s for {args.seconds:g} s")
            profiles = []
            if args.profile and pyspy.available():
                for p in stack.processes:
                    if p.name in args.profile and p.pid is not None:
                        out = stack.data_dir / f"pyspy-{p.name}.txt"
                        profiles.append((p.name, asyncio.create_task(pyspy.record(p.pid, args.seconds, out))))
            main_step = await driver.run(stack, args.rate, args.seconds)
            for name, job in profiles:
                if (path := await job) is not None:
                    say(f"  py-spy, {name} (share of its CPU samples, inclusive):\n{pyspy.summary(path, 30)}")
            report(main_step, "target", say)
            net = float("nan")
            if main_step.checkouts:
                net = (main_step.platform_cpu - idle * main_step.wall) * 1000 / main_step.checkouts
                say(f"    net of idle CPU: {net:.1f} ms per checkout")
            text, consistent, lags = await consistency(dsn, ids, since)
            say(f"  stock: {text} -> {'consistent' if consistent else 'INCONSISTENT'}")
            lag99 = percentile(lags, 99)
            say(f"  OrderCreated → stock committed ({len(lags)} orders): p50 {percentile(lags, 50):.0f} ms "
                f"p99 {lag99:.0f} ms max {max(lags, default=float('nan')):.0f} ms")
            if args.parts:
                await parts(driver, stack, args.rate, args.parts, idle, net, say)
    cpu_ms = main_step.platform_cpu * 1000 / main_step.checkouts if main_step.checkouts else float("inf")
    best = max([s.rate for s in (main_step, *steps) if s.sustained], default=0.0)
    checks = [
        (f"sustain {args.rate:g} checkouts/s for {args.seconds:g} s (p99 < 300 ms, zero errors)", main_step.sustained),
        ("zero oversold units, stock ledger consistent", consistent),
        (f"platform CPU per checkout {cpu_ms:.1f} ms (target <= 20 ms)", cpu_ms <= 20),
        (f"OrderCreated → stock committed p99 {lag99:.0f} ms (target < 1000 ms)", lag99 < 1000),
    ]
    say("")
    for title, ok in checks:
        say(f"  {'PASS' if ok else 'FAIL'}  {title}")
    say(f"  INFO  highest stepped rate sustained: {best:g} checkouts/s; "
        f"median checkout latency over the target run {statistics.median(main_step.latency_ms['checkout']):.0f} ms")
    return 0 if all(ok for _, ok in checks) else 1


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.checkout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="checkouts/s of the target run")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the target run")
    parser.add_argument("--steps", type=lambda s: [float(x) for x in s.split(",")], default=[2, 4, 6, 8, 10, 15],
                        help="rates to step through first, ascending, stopping at the first not sustained")
    parser.add_argument("--step-seconds", type=float, default=20.0)
    parser.add_argument("--shoppers", type=int, default=120, help="signed-in shoppers in the pool")
    parser.add_argument("--products", type=int, default=30)
    parser.add_argument("--parts", type=float, default=0.0, metavar="SECONDS",
                        help="after the target run, run each kind of task alone for SECONDS at its rate within "
                             "the target rate, to split the CPU per checkout between browse, cart, add and checkout")
    parser.add_argument("--profile", type=lambda s: s.split(","), default=[],
                        help="py-spy these stack processes during the target run, e.g. cart,order,gateway")
    args = parser.parse_args(argv)
    raise SystemExit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
