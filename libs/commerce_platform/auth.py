"""Bearer-token authentication: JWTs from the user service, verified against its JWKS.

Only asymmetric algorithms are accepted, so a token signed with a shared secret (or `alg: none`)
can never pass, whatever key material an attacker knows. Signature, issuer, audience, expiry and
issued-at are all required. Keys are cached; an unknown `kid` triggers at most one refetch per
cooldown (counted from the last attempt, failed ones included), so key rotation works without
letting garbage tokens hammer the user service, even while it is down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import jwt
import msgspec
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from commerce_platform.admin_standing import AdminStanding
from commerce_platform.errors import DependencyUnavailable, Forbidden, Unauthorized

ALLOWED_ALGORITHMS = ("RS256", "ES256", "EdDSA")
REFETCH_COOLDOWN_SECONDS = 10.0


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the subject of a verified access token."""

    user_id: UUID
    email: str
    role: str
    token_id: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


KeysFetcher = Callable[[], Awaitable[dict[str, Any]]]


class KeySet:
    """Verification keys by `kid`, refreshed from a JWKS document.

    The refetch cooldown runs from the last *attempt*, failed or not: while the issuer is down or
    slow, tokens with unknown `kid`s (anyone can mint those) cost at most one fetch per cooldown
    instead of one per request, each queued behind the lock for up to the HTTP timeout.
    """

    def __init__(
        self,
        fetch_jwks: KeysFetcher,
        *,
        cache_seconds: float = 300.0,
        refetch_cooldown_seconds: float = REFETCH_COOLDOWN_SECONDS,
    ) -> None:
        self._fetch = fetch_jwks
        self._cache_seconds = cache_seconds
        self._cooldown = refetch_cooldown_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")  # last successful load
        self._attempted_at = float("-inf")  # last fetch, successful or not
        self._failure: Exception | None = None  # why the last fetch failed, if it did
        self._lock = asyncio.Lock()
        self.generation = 0

    def load(self, jwks: dict[str, Any]) -> None:
        keys: dict[str, jwt.PyJWK] = {}
        for jwk in jwks.get("keys", []):
            kid, alg = jwk.get("kid"), jwk.get("alg")
            if kid and alg in ALLOWED_ALGORITHMS:
                keys[kid] = jwt.PyJWK.from_dict(jwk)
        if set(self._keys) - set(keys):
            # A key was withdrawn: tokens verified with it earlier must be checked again.
            self.generation += 1
        self._keys = keys
        self._fetched_at = self._attempted_at = time.monotonic()
        self._failure = None

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        key = self._keys.get(kid)
        now = time.monotonic()
        if key is not None and now - self._fetched_at < self._cache_seconds:
            return key
        if key is not None and self._lock.locked():
            return key  # a refresh is in flight: a stale but known key now beats waiting for it
        if now - self._attempted_at < self._cooldown:
            return self._outcome(kid)  # tried moments ago, maybe in vain: do not hammer the issuer
        attempted = self._attempted_at
        async with self._lock:
            if self._attempted_at == attempted:  # nobody tried while we waited for the lock
                await self._refresh()
        return self._outcome(kid)

    async def _refresh(self) -> None:
        try:
            self.load(await self._fetch())
        except Exception as exc:
            # Stamped only once the attempt is over: a fetch cancelled half-way (its client left)
            # says nothing, and the next caller tries again.
            self._failure = exc
            self._attempted_at = time.monotonic()

    def _outcome(self, kid: str) -> jwt.PyJWK | None:
        """The key as the last attempt left it: a stale but known key beats an outage; an unknown
        one during an outage is the issuer's fault (503), not the token's (401)."""
        key = self._keys.get(kid)
        if key is None and self._failure is not None:
            raise DependencyUnavailable("cannot fetch signing keys from the user service") from self._failure
        return key


class TokenVerifier:
    """Turns an `Authorization: Bearer ...` value into a Principal, or raises 401.

    A token that verified once is remembered (bounded, oldest evicted) until it expires: a client
    sends the same access token with every request, and checking its RSA signature and claims again
    is most of an authenticated request's CPU. Expiry is still checked on every hit, and the memory
    is dropped whenever the key set changes.
    """

    def __init__(
        self, keys: KeySet, *, issuer: str, audience: str, leeway_seconds: int = 5, remember: int = 10_000
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self._remember = remember
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._generation = keys.generation

    async def verify(self, token: str) -> Principal:
        if self._generation != self.keys.generation:
            self._verified.clear()
            self._generation = self.keys.generation
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires_at = remembered
            if time.time() < expires_at + self.leeway:
                return principal
            del self._verified[token]
            raise Unauthorized("token expired")
        principal, expires_at = await self._verify_fully(token)
        if len(self._verified) >= self._remember:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (principal, expires_at)
        return principal

    async def _verify_fully(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("malformed token") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGORITHMS:
            raise Unauthorized("token algorithm not accepted")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("token has no key id")
        key = await self.keys.key_for(kid)
        if key is None:
            raise Unauthorized("token signed by an unknown key")
        if key.algorithm_name != alg:
            raise Unauthorized("token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("token rejected") from exc
        if claims.get("typ") != "access":
            raise Unauthorized("not an access token")
        try:
            principal = Principal(
                user_id=UUID(claims["sub"]),
                email=str(claims.get("email", "")),
                role=str(claims.get("role", "customer")),
                token_id=str(claims["jti"]),
            )
        except (ValueError, KeyError) as exc:
            raise Unauthorized("token subject is malformed") from exc
        return principal, float(claims["exp"])


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The caller's Principal, verified once per request and cached on the connection state."""
    cached = connection.state.get("principal")
    if isinstance(cached, Principal):
        return cached
    verifier: TokenVerifier = connection.app.state["token_verifier"]
    principal = await verifier.verify(bearer_token(connection))
    if principal.is_admin:
        principal = await confirmed_admin(connection, principal)
    connection.state["principal"] = principal
    return principal


async def confirmed_admin(connection: ASGIConnection[Any, Any, Any, Any], principal: Principal) -> Principal:
    """A token that says admin, checked against the account as it is now (at most a few seconds old).

    Deactivated or deleted: 403 on every route. Demoted: the caller continues with the account's role
    now, so admin-only routes answer 403 and admin views narrow to the caller's own data. Standing
    unknown (user service down): 503 from every route, even those where admin only widens the view:
    serving such a caller as a customer would be a wrong answer, as a silent grant would be unsafe.
    Apps without an `admin_standing` (the user service, whose guards read its own rows) keep the claim.
    """
    standing: AdminStanding | None = connection.app.state.get("admin_standing")
    if standing is None:
        return principal
    now = await standing.standing(principal.user_id)
    if not now.is_active:
        raise Forbidden("this account is deactivated")
    if now.role != principal.role:
        return msgspec.structs.replace(principal, role=now.role)
    return principal


async def provide_principal(request: Any) -> Principal:
    """Litestar dependency `principal`: declare it on a handler to require a signed-in caller."""
    return await authenticate(request)


async def provide_optional_principal(request: Any) -> Principal | None:
    """Litestar dependency `optional_principal`: the caller if a token is sent (and valid), else None.

    A token that is present but invalid is still a 401: silently treating it as anonymous would hide
    expired sessions from the client."""
    if not request.headers.get("authorization"):
        return None
    return await authenticate(request)


async def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for admin-only routes: 401 without a valid token, 403 for a non-admin (the account's role
    now, where the app confirms admin standing: see `confirmed_admin`), 503 if that cannot be told."""
    principal = await authenticate(connection)
    if not principal.is_admin:
        raise Forbidden("administrator role required")
