"""ASGI middleware: a request id for every request, bound to logs, echoed back, and one access line."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
# Accept a caller's id only if it is short and plain, so logs cannot be injected through it.
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
access_log = structlog.get_logger("commerce.access")
QUIET_PATHS = frozenset({"/health", "/ready"})


SERVED_BY_HEADER = b"x-served-by"


def request_context_middleware_factory(*, service: str, log_requests: bool) -> Callable[[ASGIApp], ASGIApp]:
    # Which service answered: lets the gateway test (and an operator behind the ALB) see the route taken.
    served_by = service.encode()

    class RequestContextMiddleware:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await self.app(scope, receive, send)
                return
            incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
            request_id = incoming.decode() if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
            scope.setdefault("state", {})["request_id"] = request_id
            structlog.contextvars.bind_contextvars(request_id=request_id)
            started = time.perf_counter()
            status = 500

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [
                        *message.get("headers", []),
                        (REQUEST_ID_HEADER, request_id.encode()),
                        (SERVED_BY_HEADER, served_by),
                    ]
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if log_requests and scope["path"] not in QUIET_PATHS:
                    access_log.info(
                        "request",
                        method=scope.get("method", ""),
                        path=scope["path"],
                        status=status,
                        duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    )
                structlog.contextvars.unbind_contextvars("request_id")

    return RequestContextMiddleware
