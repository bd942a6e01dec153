"""Inter-service calls over a real socket: trace context, request ids, retries only when safe, 503s."""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from commerce_platform.devstack.processes import free_port
from commerce_platform.errors import DependencyUnavailable
from commerce_platform.http_client import ServiceClient, new_session


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, CIMultiDict[str]]] = []
        self.fail_first = 0


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, Recorder]]:
    recorder = Recorder()

    async def handle(request: web.Request) -> web.Response:
        recorder.calls.append((request.method, CIMultiDict(request.headers)))
        if recorder.fail_first > 0:
            recorder.fail_first -= 1
            return web.json_response({"status": 503}, status=503)
        return web.json_response({"ok": True, "echo": await request.text()})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}", recorder
    finally:
        await server.close()


@pytest.fixture
async def client_factory() -> AsyncIterator[type[ServiceClient]]:
    session = new_session(timeout_seconds=2)

    def make(base_url: str) -> ServiceClient:
        return ServiceClient(session, service="product", base_url=base_url, retries=2, backoff_seconds=0.001)

    yield make  # type: ignore[misc]
    await session.close()


async def test_propagates_trace_context_and_request_id(upstream, client_factory) -> None:  # type: ignore[no-untyped-def]
    base_url, recorder = upstream
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    structlog.contextvars.bind_contextvars(request_id="req-42")
    try:
        with tracer.start_as_current_span("caller") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            response = await client_factory(base_url).post("/v1/things", json={"a": 1})
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
    assert response.ok and response.json()["echo"] == '{"a":1}'
    _method, headers = recorder.calls[0]
    assert headers["traceparent"].split("-")[1] == trace_id
    assert headers["x-request-id"] == "req-42"
    assert trace.get_current_span().get_span_context().is_valid is False


async def test_retries_idempotent_requests_on_503(upstream, client_factory) -> None:  # type: ignore[no-untyped-def]
    base_url, recorder = upstream
    recorder.fail_first = 2
    response = await client_factory(base_url).get("/v1/things/1")
    assert response.status == 200
    assert len(recorder.calls) == 3


async def test_does_not_retry_a_post_unless_told(upstream, client_factory) -> None:  # type: ignore[no-untyped-def]
    base_url, recorder = upstream
    recorder.fail_first = 1
    response = await client_factory(base_url).post("/v1/charges", json={})
    assert response.status == 503
    assert len(recorder.calls) == 1
    recorder.fail_first = 1
    retried = await client_factory(base_url).post("/v1/charges", json={}, retry=True)
    assert retried.status == 200


async def test_unreachable_service_is_dependency_unavailable(client_factory) -> None:  # type: ignore[no-untyped-def]
    client = client_factory(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DependencyUnavailable, match="product"):
        await client.get("/v1/things")


async def test_a_hung_service_costs_one_budget_not_one_timeout_per_attempt() -> None:
    # A dependency that accepts the connection and never answers: retrying a timed-out request would
    # triple the caller's wait (and outlast the gateway's own timeout); the call's budget bounds it all.
    calls = 0
    released = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        await released.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hang)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = new_session(timeout_seconds=5)
    try:
        client = ServiceClient(session, service="payment", base_url=f"http://127.0.0.1:{server.port}",
                               retries=2, budget_seconds=0.5)
        started = time.monotonic()
        with pytest.raises(DependencyUnavailable, match="payment"):
            await client.post("/internal/v1/payments", json={}, retry=True)
        assert time.monotonic() - started < 1.0
        assert calls == 1
    finally:
        released.set()
        await session.close()
        await server.close()
