"""`GET /health` (the process is alive) and `GET /ready` (its database and broker answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Request, Response, get

ReadinessCheck = Callable[[], Awaitable[None]]


class HealthController(Controller):
    include_in_schema = True
    tags = ["health"]

    @get("/health", operation_id="health", cache=False)
    async def health(self) -> dict[str, str]:
        """Liveness: answers without touching any dependency."""
        return {"status": "ok"}

    @get("/ready", operation_id="ready", cache=False)
    async def ready(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """Readiness: 200 when every dependency answers within two seconds, else 503 naming the failures."""
        checks: dict[str, ReadinessCheck] = request.app.state["readiness_checks"]
        results = await asyncio.gather(*(_run(check) for check in checks.values()))
        report = dict(zip(checks, results, strict=True))
        ok = all(result == "ok" for result in report.values())
        return Response(
            {"status": "ready" if ok else "unavailable", "checks": report}, status_code=200 if ok else 503
        )


async def _run(check: ReadinessCheck) -> str:
    try:
        await asyncio.wait_for(check(), timeout=2.0)
    except Exception as exc:
        return f"failed: {type(exc).__name__}"
    return "ok"
