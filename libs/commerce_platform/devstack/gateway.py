"""The local gateway on 8080: stands in for the ALB, routing by the routing table's path prefixes.

Method, headers, body and status pass through unchanged (hop-by-hop headers aside, as any proxy
does); X-Forwarded-* are added the way the ALB adds them. The aiohttp implementation uses one
keep-alive aiohttp session, the same client the services use for their own calls.

Two implementations, same behaviour: by default the lean asyncio+httptools proxy in
`gateway_proxy`, a third of the CPU per proxied request (35-50 µs against 110-165 µs for aiohttp's
server and client, small JSON behind it; 70 against 150 in `bench gateway`); the aiohttp one below
stays as the reference and fallback (`--impl aiohttp` or `GATEWAY_IMPL=aiohttp`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
from urllib.parse import unquote

import aiohttp
import yarl
from aiohttp import web

from commerce_platform.devstack import gateway_proxy
from commerce_platform.routing import GATEWAY_PORT, route_for_path
from commerce_platform.settings import service_url

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
MAX_BODY_BYTES = 2 * 1024 * 1024
SESSION_KEY = web.AppKey("upstream_session", aiohttp.ClientSession)


def _problem(status: int, title: str, detail: str, path: str) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": path}
    return web.Response(status=status, text=json.dumps(body), content_type="application/problem+json")


async def proxy(request: web.Request) -> web.StreamResponse:
    if gateway_proxy.has_dot_segment(unquote(request.rel_url.raw_path)):
        return _problem(400, "Bad Request", "a path may not have . or .. segments", request.path)
    route = route_for_path(request.path)
    if route is None:
        return _problem(404, "Not Found", f"no service serves {request.path}", request.path)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    peer = request.remote or ""
    forwarded_for = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{forwarded_for}, {peer}" if forwarded_for else peer
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    body = await request.read() if request.can_read_body else None
    session = request.app[SESSION_KEY]
    # Forwarded exactly as received: a URL yarl may requote would also have its dot segments resolved.
    target = yarl.URL(service_url(route.name) + request.rel_url.raw_path_qs, encoded=True)
    try:
        async with session.request(
            request.method, target, headers=headers, data=body, allow_redirects=False
        ) as upstream:
            payload = await upstream.read()
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=upstream.status, body=payload, headers=out_headers)
    except (aiohttp.ClientConnectionError, TimeoutError):
        return _problem(503, "Service Unavailable", f"the {route.name} service is not answering", request.path)


async def _open_session(app: web.Application) -> None:
    connector = aiohttp.TCPConnector(limit=256, limit_per_host=128)
    app[SESSION_KEY] = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30, connect=2),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
    )


async def _close_session(app: web.Application) -> None:
    await app[SESSION_KEY].close()


async def gateway_health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_gateway() -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.on_startup.append(_open_session)
    app.on_cleanup.append(_close_session)
    # Its own liveness lives under a path no service can claim.
    app.router.add_get("/_gateway/health", gateway_health)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


def _use_uvloop() -> None:
    """The loop uvicorn gives the services; ~12% less gateway CPU per request (bench gateway)."""
    try:
        import uvloop
    except ImportError:  # not built for this platform: asyncio's own loop works too
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def default_impl() -> str:
    return os.environ.get("GATEWAY_IMPL") or "httptools"


def run(host: str = "127.0.0.1", port: int = GATEWAY_PORT, impl: str | None = None) -> None:
    """Serve the gateway on host:port until interrupted; `impl` "httptools" (lean) or "aiohttp"."""
    impl = impl or default_impl()
    _use_uvloop()
    if impl == "aiohttp":
        web.run_app(create_gateway(), host=host, port=port, access_log=None, print=None)
    elif impl == "httptools":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(gateway_proxy.serve(host, port))
    else:
        raise ValueError(f"unknown gateway implementation {impl!r}: httptools or aiohttp")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local gateway standing in for the ALB")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=GATEWAY_PORT)
    parser.add_argument(
        "--impl", choices=("httptools", "aiohttp"), default=None,
        help="the lean asyncio+httptools proxy or the aiohttp one (default: GATEWAY_IMPL, else httptools)",
    )
    args = parser.parse_args(argv)
    run(args.host, args.port, args.impl)


if __name__ == "__main__":
    main()
