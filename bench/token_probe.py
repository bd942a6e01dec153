"""A bare Litestar app whose only work is the platform's token check (uvicorn factory), to isolate its cost."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
from litestar import Litestar, get
from litestar.di import Provide

from commerce_platform.auth import KeySet, Principal, TokenVerifier, provide_principal

JWKS_URL_ENV = "BENCH_JWKS_URL"
ISSUER_ENV = "BENCH_JWT_ISSUER"
AUDIENCE_ENV = "BENCH_JWT_AUDIENCE"


@get("/whoami", sync_to_thread=False)
def whoami(principal: Principal) -> dict[str, str]:
    return {"user_id": str(principal.user_id), "role": principal.role}


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@contextlib.asynccontextmanager
async def _verifier(app: Litestar) -> AsyncIterator[None]:
    url = os.environ[JWKS_URL_ENV]

    async with aiohttp.ClientSession() as session:

        async def fetch() -> dict[str, Any]:
            async with session.get(url) as resp:
                resp.raise_for_status()
                document: dict[str, Any] = msgspec.json.decode(await resp.read())
                return document

        keys = KeySet(fetch)
        keys.load(await fetch())
        app.state["token_verifier"] = TokenVerifier(
            keys, issuer=os.environ[ISSUER_ENV], audience=os.environ[AUDIENCE_ENV]
        )
        yield


def create_token_app() -> Litestar:
    """`GET /whoami`: verify the Bearer token with commerce_platform.auth (signature, claims), answer who."""
    return Litestar(
        route_handlers=[whoami, health],
        dependencies={"principal": Provide(provide_principal)},
        lifespan=[_verifier],
        signature_namespace={"Principal": Principal},
        debug=False,
    )
