"""The local gateway stands in for the ALB: every routing-table prefix reaches its own service,
and requests pass through unchanged (method, headers, body, status)."""

import aiohttp
import pytest

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
