"""`python -m bench.hops`: the CPU floor of the checkout's call graph.

Issue 5 asks for at most 20 ms of platform CPU per checkout of the shopper mix. This runs the mix of
`bench.checkout` (browse 10, view cart 3, add 2, checkout 1) at the same rate through the real gateway,
against one uvicorn process per platform service running `bench.hop_app`: bare Litestar handlers that
make exactly the real services' calls to each other and do nothing else (no database, no events, no
middleware, telemetry or logging). What those processes spend per checkout is what the design's hops
cost a Litestar + aiohttp implementation before any work; the real figure adds Postgres, the events,
the email and the platform's own per-request work on top.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from bench import REPO_ROOT, procinfo
from bench.checkout import MIX, paced
from bench.shopstack import percentile
from bench.stack import App, start_app, wait_ready
from commerce_platform.devstack.processes import ManagedProcess, free_port
from commerce_platform.routing import service

SERVICES = ("user", "product", "order", "cart", "payment", "search", "inventory")
FACTORY = "bench.hop_app:create_hop_app"


class Mix:
    """The shopper mix of `bench.checkout`, paced the same way, against the hop apps."""

    def __init__(self, http: aiohttp.ClientSession, gateway: str, payment: str) -> None:
        self.http, self.gateway, self.payment = http, gateway, payment
        self.latency_ms: list[float] = []
        self.checkouts = 0
        self.errors: list[str] = []

    async def _call(self, method: str, url: str, body: object = None) -> None:
        started = time.perf_counter()
        try:
            async with self.http.request(method, url, json=body) as resp:
                await resp.read()
                if resp.status >= 300:
                    self.errors.append(f"{method} {url}: {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.errors.append(f"{method} {url}: {exc!r}")
        if url.endswith("/v1/orders"):
            self.latency_ms.append((time.perf_counter() - started) * 1000)
            self.checkouts += 1

    async def task(self, kind: str) -> None:
        product = str(uuid.uuid4())
        if kind == "browse":
            path = random.choice(("/v1/products?page=2", f"/v1/products/{product}", "/v1/search?q=kettle"))
            await self._call("GET", self.gateway + path)
        elif kind == "cart":
            await self._call("GET", self.gateway + "/v1/cart")
        else:
            await self._call("POST", self.gateway + "/v1/cart/items", {"product_id": product, "quantity": 1})
            if kind == "checkout":
                await self._call("POST", self.gateway + "/v1/orders", {"payment_method": "pm_card_visa"})
                # The payment provider's webhook, sent by the provider (not a platform process).
                await self._call("POST", self.payment + "/v1/payments/webhooks/stripe",
                                 {"type": "payment_intent.succeeded"})

    async def run(self, rate: float, seconds: float) -> float:
        """The mix's tasks paced as `bench.checkout` paces them, at `rate` checkouts/s; the wall time."""
        return await paced(MIX, rate, seconds, lambda kind, _due: self.task(kind))


def cpu_of(processes: dict[str, int]) -> dict[str, float]:
    return {name: procinfo.cpu_seconds([pid]) or 0.0 for name, pid in processes.items()}


async def measure(rate: float, seconds: float, rounds: int) -> int:
    say = lambda m: print(m, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="bench-hops-") as tmp:
        logs = Path(tmp)
        apps: dict[str, App] = {}
        gateway: ManagedProcess | None = None
        try:
            apps["stripe"] = start_app("stripe", FACTORY, logs)
            ports = {name: free_port() for name in SERVICES}
            peers = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            peers["stripe"] = apps["stripe"].url
            for name in SERVICES:
                apps[name] = start_app(name, FACTORY, logs, env={"HOP_PEERS": json.dumps(peers)}, port=ports[name])
            gateway_port = free_port()
            urls = {service(name).url_env_var: peers[name] for name in SERVICES}
            gateway = ManagedProcess(
                "gateway", [sys.executable, "-m", "commerce_platform.devstack.gateway", "--port", str(gateway_port)],
                log_path=logs / "gateway.log", env={**os.environ, **urls}, cwd=REPO_ROOT,
            )
            gateway.start()
            for app in apps.values():
                await wait_ready(app.url + "/health", app.process)
            gateway_url = f"http://127.0.0.1:{gateway_port}"
            await wait_ready(gateway_url + "/_gateway/health", gateway)
            platform = {name: apps[name].pid for name in SERVICES}
            assert gateway.pid is not None
            platform["gateway"] = gateway.pid
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as http:
                mix = Mix(http, gateway_url, apps["payment"].url)
                await mix.run(rate, 5)  # warm-up: connections open, code paths hot
                say(f"the design's hops with empty handlers, {rate:g} checkouts/s of the shopper mix, "
                    f"{rounds} x {seconds:g} s")
                figures: list[float] = []
                failed = False
                for round_no in range(1, rounds + 1):
                    mix = Mix(http, gateway_url, apps["payment"].url)
                    before = cpu_of(platform)
                    wall = await mix.run(rate, seconds)
                    after = cpu_of(platform)
                    per = {n: (after[n] - before[n]) * 1000 / max(mix.checkouts, 1) for n in platform}
                    total = sum(per.values())
                    figures.append(total)
                    failed = failed or bool(mix.errors)
                    say(f"  round {round_no}: {mix.checkouts / wall:.1f} checkouts/s, checkout p50 "
                        f"{percentile(mix.latency_ms, 50):.0f} ms p99 {percentile(mix.latency_ms, 99):.0f} ms, "
                        f"errors {len(mix.errors)}; platform CPU {total:.1f} ms per checkout ("
                        + ", ".join(f"{n} {v:.1f}" for n, v in sorted(per.items(), key=lambda kv: -kv[1])) + ")")
                    for error in sorted(set(mix.errors))[:5]:
                        say(f"    error: {error}")
                say(f"floor: {min(figures):.1f}-{max(figures):.1f} ms of platform CPU per checkout for the hops "
                    "alone (target for everything: 20 ms)")
                return 1 if failed else 0
        finally:
            if gateway is not None:
                gateway.stop()
            for app in apps.values():
                app.process.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hops", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="checkouts/s of the mix")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    raise SystemExit(asyncio.run(measure(args.rate, args.seconds, args.rounds)))


if __name__ == "__main__":
    main()
