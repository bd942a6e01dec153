"""User-service variants for ablation runs (uvicorn factories): each removes one per-request cost, to measure it."""

# They patch the platform inside the variant's own process only; nothing here is meant for production. A
# variant that helps shows what a real change in libs/ or services/ would buy (see docs/benchmarks.md).

from __future__ import annotations

import sys
from typing import Any

from litestar import Litestar


def _user_app() -> Litestar:
    from user_service.app import create_app

    return create_app()


def _drop_otel_middleware() -> None:
    from litestar._asgi.utils import wrap_in_exception_handler
    from litestar.types import ASGIApp

    from commerce_platform import service_app

    def handler(self: service_app.ServiceApp) -> ASGIApp:
        return self._request_context(wrap_in_exception_handler(app=self.asgi_router))

    service_app.ServiceApp._create_asgi_handler = handler  # type: ignore[method-assign]


def _sample_nothing() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    from commerce_platform import telemetry

    class UnsampledTracerProvider(TracerProvider):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("sampler", ParentBased(ALWAYS_OFF))
            super().__init__(*args, **kwargs)

    telemetry.TracerProvider = UnsampledTracerProvider  # type: ignore[attr-defined]


def _sequential_dependencies() -> None:
    from litestar._kwargs import kwargs_model
    from litestar._kwargs.cleanup import DependencyCleanupGroup
    from litestar._kwargs.dependencies import resolve_dependency

    async def resolve_dependencies(
        self: kwargs_model.KwargsModel, connection: Any, kwargs: dict[str, Any]
    ) -> DependencyCleanupGroup:
        cleanup_group = DependencyCleanupGroup()
        for batch in self.dependency_batches:
            for dependency in batch:
                await resolve_dependency(dependency, connection, kwargs, cleanup_group)
        return cleanup_group

    kwargs_model.KwargsModel.resolve_dependencies = resolve_dependencies  # type: ignore[method-assign]


def _header_from_first_segment() -> None:
    """PyJWT 2.15 validates every base64url character of every segment in Python, and
    `jwt.get_unverified_header` decodes all three segments; read the header from its own segment only,
    so the whole token is parsed once (by `jwt.decode`)."""
    import base64
    import json

    import jwt

    original = jwt.get_unverified_header

    def header_only(token: str) -> dict[str, Any]:
        try:
            segment = token.split(".", 1)[0]
            header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except ValueError:
            return original(token)  # let PyJWT raise its usual error
        if not isinstance(header, dict):
            return original(token)
        return header

    from commerce_platform import auth

    auth.jwt = _JwtWith(jwt, get_unverified_header=header_only)  # type: ignore[assignment,attr-defined]


class _JwtWith:
    """The `jwt` module with some functions replaced (for `commerce_platform.auth` only)."""

    def __init__(self, module: Any, **overrides: Any) -> None:
        self._module = module
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        return self._overrides[name] if name in self._overrides else getattr(self._module, name)


def _cache_verified_tokens(max_entries: int = 10_000) -> None:
    """Remember tokens already verified (until they expire): a client sends the same access token for up
    to 15 minutes, so most requests skip parsing and the RSA check altogether."""
    import time

    import jwt

    from commerce_platform.auth import Principal, TokenVerifier

    verify = TokenVerifier.verify
    cache: dict[str, tuple[Principal, float]] = {}

    async def cached_verify(self: TokenVerifier, token: str) -> Principal:
        hit = cache.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        principal = await verify(self, token)
        expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
        if len(cache) >= max_entries:
            cache.clear()
        cache[token] = (principal, expires)
        return principal

    TokenVerifier.verify = cached_verify  # type: ignore[method-assign]


def create_user_app_header_once() -> Litestar:
    """The token is parsed once instead of twice (header read from its own segment)."""
    _header_from_first_segment()
    return _user_app()


def create_user_app_token_cache() -> Litestar:
    """Verified tokens cached until expiry."""
    _cache_verified_tokens()
    return _user_app()


def create_user_app_without_otel() -> Litestar:
    """No OpenTelemetry ASGI middleware around the app (no server span per request)."""
    _drop_otel_middleware()
    return _user_app()


def create_user_app_unsampled() -> Litestar:
    """OpenTelemetry middleware kept, but the tracer provider samples nothing (spans are non-recording;
    trace ids still exist for logs and propagation): what `configure_tracing` could do with no exporter."""
    _sample_nothing()
    return _user_app()


def create_user_app_sequential_dependencies() -> Litestar:
    """Litestar resolves a batch of several dependencies (here `principal` and `database`) in an anyio task
    group per request; this resolves them one after the other instead."""
    _sequential_dependencies()
    return _user_app()


def create_user_app_lean() -> Litestar:
    """No OpenTelemetry middleware, verified-token cache (run with ACCESS_LOG=false for the leanest)."""
    _drop_otel_middleware()
    _cache_verified_tokens()
    return _user_app()


def run_gateway_aiohttp() -> None:
    """The dev gateway's aiohttp implementation (the reference the lean httptools proxy replaced):
    `python -c "from bench.variants import run_gateway_aiohttp; run_gateway_aiohttp()" --port N`."""
    from commerce_platform.devstack.gateway import main

    main([*sys.argv[1:], "--impl", "aiohttp"])
