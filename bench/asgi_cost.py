"""CPU time per request of an ASGI app called in-process (no server, no sockets), optionally with a cProfile."""

# Run as a subprocess by the `cpu` and `ablation` benchmarks, one fresh interpreter per app, so patches made
# by a variant factory stay in that process. It reports CPU time, not wall time, so other load on the
# machine barely moves it:  python -m bench.asgi_cost FACTORY PATH [--token T] [--requests N] [--profile 25]

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import io
import json
import pstats
import time
from collections import Counter
from typing import Any

# The app's own logs share stdout; the result is the line that starts with this.
RESULT_MARKER = "BENCH_RESULT "


def load_factory(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)()


async def _lifespan(app: Any) -> tuple[asyncio.Task[None], asyncio.Queue[dict[str, Any]]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    message = await outbox.get()
    if message["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"app did not start: {message}")
    return task, inbox


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _call(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(path, headers), receive, send)
    return status


async def measure(
    factory: str, path: str, token: str | None, requests: int, warmup: int, profile: int, concurrency: int = 32
) -> dict[str, Any]:
    app = load_factory(factory)
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    lifespan, inbox = await _lifespan(app)
    statuses: Counter[int] = Counter()

    async def client(count: int) -> None:
        for _ in range(count):
            statuses[await _call(app, path, headers)] += 1

    async def drive(total: int) -> None:
        # `concurrency` requests in flight, as from a load generator's connections.
        share, extra = divmod(total, concurrency)
        await asyncio.gather(*(client(share + (i < extra)) for i in range(concurrency)))

    try:
        await drive(warmup)
        statuses.clear()
        profiler = cProfile.Profile(time.process_time) if profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        await drive(requests)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(lifespan, timeout=10)
    result: dict[str, Any] = {
        "cpu_us_per_request": cpu / requests * 1e6,
        "wall_us_per_request": wall / requests * 1e6,
        "statuses": {str(k): v for k, v in statuses.items()},
    }
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(profile)
        stats.sort_stats("tottime").print_stats(profile)
        result["profile"] = out.getvalue()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.asgi_cost", description=__doc__)
    parser.add_argument("factory", help="module:function returning the ASGI app")
    parser.add_argument("path")
    parser.add_argument("--token")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions by cumulative CPU time")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    args = parser.parse_args()
    run = measure(args.factory, args.path, args.token, args.requests, args.warmup, args.profile, args.concurrency)
    try:
        import uvloop  # the event loop uvicorn picks when it is installed, as it is for the services
    except ImportError:
        result = asyncio.run(run)
    else:
        result = uvloop.run(run)
    print(RESULT_MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
