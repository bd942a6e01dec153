"""The local gateway stands in for the ALB: every routing-table prefix reaches its own service,
and requests pass through unchanged (method, headers, body, status)."""

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from commerce_platform.devstack import gateway_proxy
from commerce_platform.devstack.launcher import Stack
from commerce_platform.routing import SERVICES

PREFIXES = [(route.name, prefix) for route in SERVICES for prefix in route.path_prefixes]


@pytest.mark.parametrize(("service", "prefix"), PREFIXES, ids=[f"{s}:{p}" for s, p in PREFIXES])
async def test_every_prefix_reaches_its_service(
    stack: Stack, http: aiohttp.ClientSession, service: str, prefix: str
) -> None:
    async with http.get(f"{stack.gateway_url}{prefix}/routing-probe") as resp:
        assert resp.headers.get("x-served-by") == service
        # The service itself answered (not the gateway): its own problem body for an unknown path.
        assert resp.status in (200, 401, 404, 405)


async def test_unrouted_path_is_a_gateway_404_problem(stack: Stack, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{stack.gateway_url}/v1/nothing-here") as resp:
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"
        body = await resp.json(content_type=None)
        assert body["status"] == 404
        assert "x-served-by" not in resp.headers


async def test_method_body_status_and_headers_pass_through(stack: Stack, http: aiohttp.ClientSession) -> None:
    # A malformed register request: the user service's 400 problem must come back unchanged.
    payload = b'{"email": "broken'
    async with http.post(
        f"{stack.gateway_url}/v1/auth/register",
        data=payload,
        headers={"content-type": "application/json", "x-request-id": "gateway-test-1"},
    ) as via_gateway:
        gateway_body = await via_gateway.read()
        assert via_gateway.status == 400
        assert via_gateway.headers["x-request-id"] == "gateway-test-1"
        assert via_gateway.content_type == "application/problem+json"
    async with http.post(
        f"{stack.service_url('user')}/v1/auth/register",
        data=payload,
        headers={"content-type": "application/json", "x-request-id": "gateway-test-1"},
    ) as direct:
        assert direct.status == 400
        assert await direct.read() == gateway_body


async def test_every_service_is_ready_and_serves_openapi(stack: Stack, http: aiohttp.ClientSession) -> None:
    for route in SERVICES:
        base = stack.service_url(route.name)
        async with http.get(f"{base}/health") as resp:
            assert resp.status == 200
        async with http.get(f"{base}/ready") as resp:
            body = await resp.json()
            assert resp.status == 200, body
            assert body["checks"]["database"] == "ok"
        async with http.get(f"{base}/schema/openapi.json") as resp:
            assert resp.status == 200
            document = await resp.json()
            assert document["openapi"].startswith("3.")
            paths = document["paths"]
            assert "/health" in paths
            for prefix in route.path_prefixes:
                assert any(p.startswith(prefix) for p in paths), (route.name, prefix)


# --- The proxy itself, against small upstreams started here (no stack needed) ----------------------
#
# The gateway runs as the launcher runs it (`python -m commerce_platform.devstack.gateway`), with
# the service URLs pointing at: an aiohttp echo app (user), a raw server that answers one request
# per connection and drops the connection when the next one comes (product: a pooled connection
# the service closed while idle), an aiohttp app closing idle keep-alive connections after 0.3 s
# (cart), and nothing at all (payment). Every request target an upstream receives is recorded in
# `UPSTREAM_TARGETS`. `any_gateway` also runs the aiohttp fallback (`--impl aiohttp`) before the same upstreams.

ECHO_CHUNK = b"0123456789abcdef" * 256  # 4 KiB
UPSTREAM_TARGETS: list[str] = []


@web.middleware
async def _record_target(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    UPSTREAM_TARGETS.append(request.raw_path)
    return await handler(request)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _echo(request: web.Request) -> web.StreamResponse:
    tail = request.match_info["tail"]
    if tail == "slow":
        await asyncio.sleep(1.5)
    if tail == "chunked":
        response = web.StreamResponse(headers={"content-type": "application/octet-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(64):
            await response.write(ECHO_CHUNK)
        await response.write_eof()
        return response
    if tail == "no-content":
        return web.Response(status=204, headers={"x-upstream": "yes"})
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "target": request.raw_path,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body": body.decode(errors="replace"),
            "body_length": len(body),
        },
        headers={"x-upstream": "echo", "set-cookie": "a=1"},
    )


async def _one_request_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        target = head.split(b" ")[1]
        UPSTREAM_TARGETS.append(target.decode("latin-1"))
        if target.startswith(b"/v1/products/close-delimited"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"until-close " * 20000)
            await writer.drain()
            return
        body = b'{"served": "fresh connection"}'
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        writer.write(head + body)
        await writer.drain()
        await reader.read(1)  # the next request on this connection: dropped unanswered
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@dataclass
class ProxyRig:
    url: str
    port: int
    env: dict[str, str]  # the gateway's environment: where each service is


@asynccontextmanager
async def _gateway(env: dict[str, str], port: int, *args: str) -> AsyncIterator[ProxyRig]:
    """The gateway as the launcher runs it, on `port`; up once its health answers."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "commerce_platform.devstack.gateway", "--port", str(port), *args, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"{url}/_gateway/health") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the gateway did not start")
        yield ProxyRig(url=url, port=port, env=env)
    finally:
        process.terminate()
        await process.wait()


@pytest.fixture(scope="module")
async def rig() -> AsyncIterator[ProxyRig]:
    echo_app = web.Application(client_max_size=8 * 1024 * 1024, middlewares=[_record_target])
    echo_app.router.add_route("*", "/v1/users/{tail:.*}", _echo)
    echo = web.AppRunner(echo_app, access_log=None)
    idle_closing_app = web.Application(middlewares=[_record_target])
    idle_closing_app.router.add_route("*", "/{tail:.*}", _echo)
    idle_closing = web.AppRunner(idle_closing_app, access_log=None, keepalive_timeout=0.3)
    ports = {name: _free_port() for name in ("user", "product", "cart", "payment", "gateway")}
    for runner, name in ((echo, "user"), (idle_closing, "cart")):
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", ports[name]).start()
    raw = await asyncio.start_server(_one_request_per_connection, "127.0.0.1", ports["product"])
    env = dict(os.environ)
    env.pop("GATEWAY_IMPL", None)
    for route in SERVICES:  # payment (and the rest) point at ports nobody listens on
        env[route.url_env_var] = f"http://127.0.0.1:{ports.get(route.name, ports['payment'])}"
    try:
        async with _gateway(env, ports["gateway"]) as gateway:
            yield gateway
    finally:
        raw.close()
        await echo.cleanup()
        await idle_closing.cleanup()


@pytest.fixture(scope="module", params=["httptools", "aiohttp"])
async def any_gateway(request: pytest.FixtureRequest, rig: ProxyRig) -> AsyncIterator[ProxyRig]:
    """Each implementation in turn: the lean default (`rig`), then the aiohttp fallback."""
    if request.param == "httptools":
        yield rig
        return
    async with _gateway(rig.env, _free_port(), "--impl", "aiohttp") as gateway:
        yield gateway


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def _raw_exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes to the gateway; everything it answers until it closes (or 3 s of silence)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    if half_close:
        writer.write_eof()
    chunks = []
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), 3):
            chunks.append(chunk)
    except TimeoutError:
        pass
    writer.close()
    return b"".join(chunks)


def _headers(pairs: list[list[str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in pairs}


async def test_proxy_passes_request_through_with_forwarded_headers(
    rig: ProxyRig, client: aiohttp.ClientSession
) -> None:
    async with client.post(
        f"{rig.url}/v1/users/echo?a=1&b=%20x",
        data=b"hello upstream",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Custom": "kept", "Host": "shop.example"},
    ) as resp:
        assert resp.status == 200
        assert resp.headers["x-upstream"] == "echo"
        assert resp.headers["set-cookie"] == "a=1"
        echoed = await resp.json()
    assert echoed["method"] == "POST"
    assert echoed["target"] == "/v1/users/echo?a=1&b=%20x"
    assert echoed["body"] == "hello upstream"
    headers = _headers(echoed["headers"])
    assert headers["x-custom"] == "kept"
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == "shop.example"
    assert headers["host"].startswith("127.0.0.1:")
    assert headers["content-length"] == "14"


async def test_proxy_unrouted_path_and_health(rig: ProxyRig, client: aiohttp.ClientSession) -> None:
    async with client.get(f"{rig.url}/v1/nothing-here") as resp:
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"
        body = await resp.json(content_type=None)
        assert body["status"] == 404
        assert body["instance"] == "/v1/nothing-here"
    async with client.get(f"{rig.url}/_gateway/health") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}


async def test_proxy_chunked_request_body_arrives_whole(rig: ProxyRig, client: aiohttp.ClientSession) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(10):
            yield f"part-{i};".encode()

    async with client.put(f"{rig.url}/v1/users/echo", data=chunks()) as resp:
        assert resp.status == 200
        echoed = await resp.json()
    assert echoed["body"] == "".join(f"part-{i};" for i in range(10))
    assert "transfer-encoding" not in _headers(echoed["headers"])


async def test_proxy_chunked_upstream_response(rig: ProxyRig, client: aiohttp.ClientSession) -> None:
    async with client.get(f"{rig.url}/v1/users/chunked") as resp:
        assert resp.status == 200
        assert await resp.read() == ECHO_CHUNK * 64


async def test_proxy_close_delimited_upstream_response(rig: ProxyRig, client: aiohttp.ClientSession) -> None:
    for _ in range(2):
        async with client.get(f"{rig.url}/v1/products/close-delimited") as resp:
            assert resp.status == 200
            assert await resp.read() == b"until-close " * 20000


async def test_proxy_body_limit_is_413(rig: ProxyRig, client: aiohttp.ClientSession) -> None:
    limit = 2 * 1024 * 1024
    async with client.post(f"{rig.url}/v1/users/echo", data=b"x" * limit) as resp:
        assert resp.status == 200
        assert (await resp.json())["body_length"] == limit
    async with client.post(f"{rig.url}/v1/users/echo", data=b"x" * (limit + 1)) as resp:
        assert resp.status == 413
        assert resp.content_type == "application/problem+json"

    async def too_much() -> AsyncIterator[bytes]:
        for _ in range(48):
            yield b"y" * 65536

    async with client.post(f"{rig.url}/v1/users/echo", data=too_much()) as resp:
        assert resp.status == 413
    # Expect: 100-continue: refused before the body is sent, accepted otherwise.
    answer = await _raw_exchange(
        rig.port, b"POST /v1/users/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\nExpect: 100-continue\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 413 ")
    async with client.post(f"{rig.url}/v1/users/echo", data=b"z" * 5000, expect100=True) as resp:
        assert resp.status == 200
        echoed = await resp.json()
        assert echoed["body_length"] == 5000
        assert "expect" not in _headers(echoed["headers"])


async def test_proxy_head_and_204_have_no_body_and_keep_the_connection(rig: ProxyRig) -> None:
    answer = await _raw_exchange(
        rig.port,
        b"HEAD /v1/users/echo HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /v1/users/no-content HTTP/1.1\r\nHost: x\r\n\r\n"
        b"HEAD /v1/users/echo HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /v1/users/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    # Pipelined: four answers, in order, then the close the last request asked for.
    head1, rest = answer.split(b"\r\n\r\n", 1)
    assert head1.startswith(b"HTTP/1.1 200 ")
    assert b"content-length: 0" not in head1.lower()  # upstream's length of the GET body, kept
    no_content, rest = rest.split(b"\r\n\r\n", 1)
    assert no_content.startswith(b"HTTP/1.1 204 ")
    assert b"x-upstream: yes" in no_content.lower()
    head2, rest = rest.split(b"\r\n\r\n", 1)
    assert head2.startswith(b"HTTP/1.1 200 ")
    last, body = rest.split(b"\r\n\r\n", 1)
    assert last.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in last.lower()
    assert json.loads(body)["method"] == "GET"


async def test_proxy_answers_a_client_that_half_closed(rig: ProxyRig) -> None:
    answer = await _raw_exchange(rig.port, b"GET /v1/users/echo HTTP/1.1\r\nHost: x\r\n\r\n", half_close=True)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["method"] == "GET"


async def test_proxy_malformed_request_is_400(rig: ProxyRig) -> None:
    answer = await _raw_exchange(rig.port, b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"application/problem+json" in answer


async def test_proxy_retries_idempotent_request_on_stale_connection(
    rig: ProxyRig, client: aiohttp.ClientSession
) -> None:
    # Every second request on a product connection meets a connection the service dropped.
    for _ in range(3):
        async with client.get(f"{rig.url}/v1/products/x") as resp:
            assert resp.status == 200, await resp.text()
            assert await resp.json() == {"served": "fresh connection"}
    # A POST may have reached the service: not retried, a 503 problem instead.
    async with client.post(f"{rig.url}/v1/products/x", data=b"{}") as resp:
        assert resp.status == 503
        assert resp.content_type == "application/problem+json"


async def test_proxy_survives_upstream_closing_idle_connections(rig: ProxyRig, client: aiohttp.ClientSession) -> None:
    for _ in range(3):
        async with client.post(f"{rig.url}/v1/cart/echo", data=b"not idempotent") as resp:
            assert resp.status == 200
        await asyncio.sleep(0.6)  # the cart stand-in closes idle keep-alive connections after 0.3 s


async def test_proxy_upstream_down_is_503_problem(rig: ProxyRig, client: aiohttp.ClientSession) -> None:
    async with client.get(f"{rig.url}/v1/payments/anything") as resp:
        assert resp.status == 503
        assert resp.content_type == "application/problem+json"
        body = await resp.json(content_type=None)
        assert body["status"] == 503
        assert "payment" in body["detail"]


async def test_proxy_slow_upstream_does_not_block_others(rig: ProxyRig, client: aiohttp.ClientSession) -> None:
    async def slow() -> float:
        async with client.get(f"{rig.url}/v1/users/slow") as resp:
            assert resp.status == 200
            return time.monotonic()

    slow_task = asyncio.create_task(slow())
    await asyncio.sleep(0.1)
    started = time.monotonic()
    for _ in range(5):
        async with client.get(f"{rig.url}/v1/users/echo") as resp:
            assert resp.status == 200
    assert time.monotonic() - started < 1.0
    assert not slow_task.done()
    assert await slow_task - started > 1.0


DOT_SEGMENT_TARGETS = [
    b"/v1/users/../../internal/v1/users/x",
    b"/v1/users/%2e%2e/%2E%2E/internal/v1/users/x",
    b"/v1/users/x%2f..%2f..%2f..%2finternal/v1/users/x",
    b"/v1/users/./x",
    b"/v1/users/x/..?a=1",
    b"http://shop.example/v1/users/../../internal/v1/users/x",
]


@pytest.mark.parametrize("target", DOT_SEGMENT_TARGETS, ids=[t.decode() for t in DOT_SEGMENT_TARGETS])
async def test_proxy_dot_segments_are_400_and_never_forwarded(any_gateway: ProxyRig, target: bytes) -> None:
    # The route is chosen on the path as sent: an upstream resolving the dots would serve /internal/.
    UPSTREAM_TARGETS.clear()
    request = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = await _raw_exchange(any_gateway.port, request)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"application/problem+json" in answer
    assert UPSTREAM_TARGETS == []


async def test_proxy_forwards_the_target_exactly_as_received(any_gateway: ProxyRig) -> None:
    target = "/v1/users/a%2Fb%20c/...x/v1.2?q=%41&r=a+b"  # dots inside a segment are no dot segment
    UPSTREAM_TARGETS.clear()
    answer = await _raw_exchange(
        any_gateway.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["target"] == target
    assert [target] == UPSTREAM_TARGETS


async def test_proxy_request_line_and_head_are_capped(rig: ProxyRig) -> None:
    long_target = b"/v1/users/" + b"a" * (gateway_proxy.MAX_REQUEST_LINE_BYTES + 1)
    answer = await _raw_exchange(rig.port, b"GET " + long_target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414 "), answer[:200]
    assert b"application/problem+json" in answer
    one_field = b"X-Pad: " + b"p" * (gateway_proxy.MAX_FIELD_BYTES + 1) + b"\r\n"
    many_fields = b"".join(b"X-Pad-%d: " % i + b"p" * 8000 + b"\r\n" for i in range(10))  # 80 KB in all
    for fields in (one_field, many_fields):
        answer = await _raw_exchange(rig.port, b"GET /v1/users/echo HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    # A header that never ends: refused once it passes the limit, not held in memory ever after.
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.port)
    writer.write(b"GET /v1/users/echo HTTP/1.1\r\nHost: x\r\nX-Pad: ")
    answer = b""
    for _ in range(40):
        writer.write(b"p" * 8192)
        await writer.drain()
        await asyncio.sleep(0.01)
        with contextlib.suppress(TimeoutError):
            answer += await asyncio.wait_for(reader.read(65536), 0.01)
        if answer:
            break
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    # Right under the limits, a request passes.
    fields = b"".join(b"X-Pad-%d: " % i + b"p" * 8000 + b"\r\n" for i in range(7))
    answer = await _raw_exchange(
        rig.port, b"GET /v1/users/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + fields + b"\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


async def test_proxy_duplicate_host_is_400(rig: ProxyRig) -> None:
    UPSTREAM_TARGETS.clear()
    answer = await _raw_exchange(rig.port, b"GET /v1/users/echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert UPSTREAM_TARGETS == []


async def test_proxy_headers_have_a_deadline_that_trickling_does_not_reset() -> None:
    port = _free_port()
    ready = asyncio.Event()
    server = asyncio.create_task(gateway_proxy.serve("127.0.0.1", port, ready=ready, headers_timeout=0.5))
    try:
        await asyncio.wait_for(ready.wait(), 5)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        head = b"GET /v1/users/echo HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 100
        answer = b""
        for byte in head:  # one byte every 50 ms: the connection is never idle
            if reader.at_eof():
                break
            writer.write(bytes([byte]))
            with contextlib.suppress(TimeoutError):
                answer += await asyncio.wait_for(reader.read(65536), 0.05)
        answer += await asyncio.wait_for(reader.read(), 3)  # then the gateway closes
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert time.monotonic() - started < 3
        writer.close()
        # A keep-alive connection idle between requests is not bound by that deadline.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /_gateway/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await reader.readuntil(b"}")).startswith(b"HTTP/1.1 200 ")
        await asyncio.sleep(1.0)
        writer.write(b"GET /_gateway/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"}"), 3)).startswith(b"HTTP/1.1 200 ")
        writer.close()
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
