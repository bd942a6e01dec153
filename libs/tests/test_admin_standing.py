"""An admin token grants admin power only while the account is, right now (give or take the cache
window), an active admin: the standing cache, the user-service lookup and the principal plumbing."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar import get
from litestar.testing import AsyncTestClient

from commerce_platform.admin_standing import NO_STANDING, AdminStanding, Standing, user_service_lookup
from commerce_platform.auth import KeySet, Principal, TokenVerifier, admin_guard
from commerce_platform.devstack.processes import free_port
from commerce_platform.errors import DependencyUnavailable
from commerce_platform.http_client import ServiceResponse
from commerce_platform.service_app import ServiceApp, ServiceDefinition, create_service_app
from commerce_platform.settings import PlatformSettings

ADMIN = Standing(is_active=True, role="admin")
DEMOTED = Standing(is_active=True, role="customer")
DEACTIVATED = Standing(is_active=False, role="admin")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Directory:
    """A fake user service: what it says per user, and who it was asked about."""

    def __init__(self, answer: Standing | Exception = ADMIN, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.asked: list[UUID] = []

    async def __call__(self, user_id: UUID) -> Standing:
        self.asked.append(user_id)
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


# --- the cache ---------------------------------------------------------------------------------


async def test_an_answer_is_reused_within_the_window_and_asked_again_after_it() -> None:
    clock, directory = Clock(), Directory()
    cache = AdminStanding(directory, ttl_seconds=5.0, clock=clock)
    user = uuid.uuid4()
    assert await cache.standing(user) == ADMIN
    clock.now += 4.9
    directory.answer = DEMOTED
    assert await cache.standing(user) == ADMIN  # still inside the documented window
    assert len(directory.asked) == 1
    clock.now += 0.2
    assert await cache.standing(user) == DEMOTED  # the window is over: the account as it is now
    assert len(directory.asked) == 2


async def test_a_burst_of_concurrent_admin_requests_costs_one_lookup() -> None:
    directory = Directory(delay=0.05)
    cache = AdminStanding(directory)
    user = uuid.uuid4()
    answers = await asyncio.gather(*(cache.standing(user) for _ in range(20)))
    assert answers == [ADMIN] * 20
    assert directory.asked == [user]


async def test_users_are_cached_separately() -> None:
    directory = Directory()
    cache = AdminStanding(directory)
    first, second = uuid.uuid4(), uuid.uuid4()
    await cache.standing(first)
    await cache.standing(second)
    await cache.standing(first)
    assert directory.asked == [first, second]


async def test_a_failed_lookup_fails_closed_and_is_not_cached() -> None:
    directory = Directory(answer=DependencyUnavailable("user service down"))
    cache = AdminStanding(directory)
    user = uuid.uuid4()
    for _ in range(2):
        with pytest.raises(DependencyUnavailable):
            await cache.standing(user)
    assert len(directory.asked) == 2  # every request asks again: an outage is never remembered as a grant
    directory.answer = ADMIN
    assert await cache.standing(user) == ADMIN


async def test_the_cache_is_bounded_and_drops_the_oldest() -> None:
    directory = Directory()
    cache = AdminStanding(directory, max_entries=3)
    users = [uuid.uuid4() for _ in range(4)]
    for user in users:
        await cache.standing(user)
    await cache.standing(users[0])  # evicted by the fourth: asked again
    await cache.standing(users[3])  # still cached
    assert directory.asked == [*users, users[0]]


async def test_a_caller_that_leaves_does_not_cancel_the_lookup_others_wait_for() -> None:
    directory = Directory(delay=0.05)
    cache = AdminStanding(directory)
    user = uuid.uuid4()
    leaving = asyncio.ensure_future(cache.standing(user))
    staying = asyncio.ensure_future(cache.standing(user))
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert await staying == ADMIN
    assert directory.asked == [user]


# --- asking the user service -----------------------------------------------------------------------


class FakeUserService:
    def __init__(self, status: int, body: Any) -> None:
        self.response = ServiceResponse(status, msgspec.json.encode(body), {})
        self.paths: list[str] = []

    async def get(self, path: str, **_: Any) -> ServiceResponse:
        self.paths.append(path)
        return self.response


async def test_the_lookup_reads_is_active_and_role_of_the_internal_route() -> None:
    user = uuid.uuid4()
    service = FakeUserService(200, {"id": str(user), "email": "a@example.com", "is_active": False, "role": "admin"})
    assert await user_service_lookup(service)(user) == Standing(is_active=False, role="admin")  # type: ignore[arg-type]
    assert service.paths == [f"/internal/v1/users/{user}"]


async def test_an_unknown_account_has_no_standing() -> None:
    lookup = user_service_lookup(FakeUserService(404, {"detail": "no such account"}))  # type: ignore[arg-type]
    assert await lookup(uuid.uuid4()) == NO_STANDING


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, {"detail": "boom"}), (200, {"is_active": True}), (200, ["not", "an", "account"])],
    ids=["error", "no-role", "garbage"],
)
async def test_an_answer_that_cannot_confirm_is_503(status: int, body: Any) -> None:
    lookup = user_service_lookup(FakeUserService(status, body))  # type: ignore[arg-type]
    with pytest.raises(DependencyUnavailable):
        await lookup(uuid.uuid4())


# --- the principal plumbing of every service but the user service ----------------------------------

ISSUER, AUDIENCE = "commerce-user-service", "commerce"
PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWK = {**jwt.algorithms.RSAAlgorithm.to_jwk(PRIVATE.public_key(), as_dict=True), "kid": "k1", "alg": "RS256"}


def token(user: UUID, role: str) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": str(user), "email": "a@example.com", "role": role,
        "typ": "access", "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex,
    }
    return {"Authorization": "Bearer " + jwt.encode(claims, PRIVATE, algorithm="RS256", headers={"kid": "k1"})}


@get("/v1/products/admin-only", operation_id="adminOnly", guards=[admin_guard])
async def admin_only() -> str:
    return "granted"


@get("/v1/products/view", operation_id="view")
async def view(principal: Principal) -> dict[str, Any]:
    return {"all_customers": principal.is_admin}


async def app_client(name: str, tmp_path: Path, directory: Directory) -> AsyncIterator[AsyncTestClient[ServiceApp]]:
    settings = PlatformSettings(
        database_url=f"postgresql+asyncpg://nobody:nothing@127.0.0.1:{free_port()}/none",
        run_migrations_on_start=False,
        access_log=False,
    )
    app = create_service_app(
        ServiceDefinition(name=name, route_handlers=[admin_only, view], migrations_dir=tmp_path), settings=settings
    )

    async def jwks() -> dict[str, Any]:
        return {"keys": [JWK]}

    async with AsyncTestClient(app) as client:
        app.state["token_verifier"] = TokenVerifier(KeySet(jwks), issuer=ISSUER, audience=AUDIENCE)
        if "admin_standing" in app.state:
            app.state["admin_standing"] = AdminStanding(directory)
        yield client


@pytest.fixture
def directory() -> Directory:
    return Directory()


@pytest.fixture
async def product(tmp_path: Path, directory: Directory) -> AsyncIterator[AsyncTestClient[ServiceApp]]:
    async for client in app_client("product", tmp_path, directory):
        yield client


async def test_a_confirmed_admin_keeps_admin_power(product: AsyncTestClient[ServiceApp], directory: Directory) -> None:
    user = uuid.uuid4()
    assert (await product.get("/v1/products/admin-only", headers=token(user, "admin"))).status_code == 200
    assert (await product.get("/v1/products/view", headers=token(user, "admin"))).json() == {"all_customers": True}
    assert directory.asked == [user]  # one lookup for both requests


async def test_a_demoted_admin_is_refused_admin_routes_and_sees_only_their_own(
    product: AsyncTestClient[ServiceApp], directory: Directory
) -> None:
    directory.answer = DEMOTED
    user = uuid.uuid4()
    assert (await product.get("/v1/products/admin-only", headers=token(user, "admin"))).status_code == 403
    assert (await product.get("/v1/products/view", headers=token(user, "admin"))).json() == {"all_customers": False}


async def test_a_deactivated_admin_is_refused_everywhere(
    product: AsyncTestClient[ServiceApp], directory: Directory
) -> None:
    directory.answer = DEACTIVATED
    user = uuid.uuid4()
    assert (await product.get("/v1/products/admin-only", headers=token(user, "admin"))).status_code == 403
    assert (await product.get("/v1/products/view", headers=token(user, "admin"))).status_code == 403


async def test_an_admin_whose_standing_cannot_be_confirmed_gets_503_not_a_grant(
    product: AsyncTestClient[ServiceApp], directory: Directory
) -> None:
    directory.answer = DependencyUnavailable("the user service is unavailable, try again shortly")
    user = uuid.uuid4()
    for path in ("/v1/products/admin-only", "/v1/products/view"):
        reply = await product.get(path, headers=token(user, "admin"))
        assert reply.status_code == 503, reply.text
        assert reply.headers["content-type"].startswith("application/problem+json")


async def test_customers_cost_no_lookup(product: AsyncTestClient[ServiceApp], directory: Directory) -> None:
    user = uuid.uuid4()
    assert (await product.get("/v1/products/view", headers=token(user, "customer"))).json() == {"all_customers": False}
    assert (await product.get("/v1/products/admin-only", headers=token(user, "customer"))).status_code == 403
    assert directory.asked == []


async def test_the_user_service_never_asks_itself(tmp_path: Path, directory: Directory) -> None:
    async for client in app_client("user", tmp_path, directory):
        assert "admin_standing" not in client.app.state  # its admin routes read its own rows (guards.py)
        directory.answer = DEMOTED
        assert (await client.get("/v1/products/admin-only", headers=token(uuid.uuid4(), "admin"))).status_code == 200
    assert directory.asked == []
