"""Calls to other services: one keep-alive aiohttp session per process, with timeouts, bounded
retries for idempotent requests only, W3C trace context and request ids on every call.

aiohttp was chosen by measurement: on this machine one hop through `httpx.AsyncClient` cut a
database-backed endpoint to ~700 req/s (p99 > 150 ms), through an aiohttp session to ~5,700 req/s.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec
import structlog
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from commerce_platform.errors import DependencyUnavailable

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
tracer = trace.get_tracer("commerce.http_client")
log = structlog.get_logger("commerce.http_client")


class ServiceResponse(msgspec.Struct, frozen=True):
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return msgspec.json.decode(self.body) if self.body else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def new_session(*, timeout_seconds: float, connections: int = 100) -> aiohttp.ClientSession:
    """A pooled keep-alive session; create one per process and share it."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections, ttl_dns_cache=60)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_seconds, connect=min(2.0, timeout_seconds)),
        auto_decompress=False,
        skip_auto_headers=("User-Agent",),
    )


class ServiceClient:
    """A client for one service, identified by name and base URL."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        service: str,
        base_url: str,
        retries: int = 2,
        backoff_seconds: float = 0.05,
        budget_seconds: float = 5.0,
    ) -> None:
        self.session = session
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        # One call, retries included, takes at most this long: retries are for quick failures (a
        # refused connection, a 503 during a restart). Retrying a request that timed out would
        # multiply the wait, and a hung dependency must cost the caller one budget, not three.
        self.budget_seconds = budget_seconds

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        timeout_seconds: float | None = None,
        retry: bool | None = None,
    ) -> ServiceResponse:
        """Send one request; raise DependencyUnavailable (503) when the service cannot be reached.

        Retries only connection failures and 502/503/504, and only for idempotent methods unless the
        caller says otherwise (a POST carrying an Idempotency-Key is safe to retry); every attempt
        fits in what is left of the call's budget (`timeout_seconds`, else `budget_seconds`).
        """
        method = method.upper()
        may_retry = (method in IDEMPOTENT_METHODS) if retry is None else retry
        attempts = 1 + (self.retries if may_retry else 0)
        body = msgspec.json.encode(json) if json is not None else None
        url = self.base_url + path
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout_seconds or self.budget_seconds)
        last_error: Exception | None = None
        for attempt in range(attempts):
            remaining = max(0.01, deadline - loop.time())
            timeout = aiohttp.ClientTimeout(total=remaining, connect=min(2.0, remaining))
            with tracer.start_as_current_span(
                f"{method} {self.service}", kind=SpanKind.CLIENT,
                attributes={"http.request.method": method, "url.full": url, "peer.service": self.service},
            ) as span:
                out_headers = {"content-type": "application/json"} if body is not None else {}
                out_headers.update(headers or {})
                request_id = structlog.contextvars.get_contextvars().get("request_id")
                if request_id:
                    out_headers.setdefault("x-request-id", str(request_id))
                propagate.inject(out_headers)
                try:
                    async with self.session.request(
                        method, url, data=body, headers=out_headers, params=params, timeout=timeout
                    ) as resp:
                        payload = await resp.read()
                        span.set_attribute("http.response.status_code", resp.status)
                        result = ServiceResponse(resp.status, payload, dict(resp.headers))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    last_error = exc
                else:
                    if result.status in (502, 503, 504) and attempt + 1 < attempts:
                        span.set_status(Status(StatusCode.ERROR, str(result.status)))
                        last_error = None
                    else:
                        return result
            pause = self.backoff_seconds * (2**attempt)
            if attempt + 1 >= attempts or loop.time() + pause >= deadline:
                break
            await asyncio.sleep(pause)
        log.warning("dependency unavailable", service=self.service, url=url, error=repr(last_error))
        raise DependencyUnavailable(f"the {self.service} service is unavailable, try again shortly")

    async def get(self, path: str, **kwargs: Any) -> ServiceResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> ServiceResponse:
        return await self.request("POST", path, **kwargs)
