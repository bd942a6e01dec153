"""The JWKS refetch cooldown: while the issuer is down, unknown-kid tokens cost one fetch per cooldown."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from commerce_platform.auth import KeySet, TokenVerifier
from commerce_platform.errors import DependencyUnavailable, Unauthorized

ISSUER, AUDIENCE = "commerce-user-service", "commerce"
PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWK: dict[str, Any] = {
    **jwt.algorithms.RSAAlgorithm.to_jwk(PRIVATE.public_key(), as_dict=True),
    "kid": "k1",
    "alg": "RS256",
    "use": "sig",
}


def token(kid: str = "k1") -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": str(uuid.uuid4()), "role": "customer", "typ": "access",
        "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, PRIVATE, algorithm="RS256", headers={"kid": kid})


class Issuer:
    """A JWKS endpoint that can be up or down, and counts how often it is asked."""

    def __init__(self, *, up: bool) -> None:
        self.up = up
        self.fetches = 0

    async def fetch(self) -> dict[str, Any]:
        self.fetches += 1
        await asyncio.sleep(0.01)  # a round trip, so concurrent callers really overlap
        if not self.up:
            raise OSError("connection refused")
        return {"keys": [JWK]}


def verifier(issuer: Issuer, **key_set: float) -> TokenVerifier:
    return TokenVerifier(KeySet(issuer.fetch, **key_set), issuer=ISSUER, audience=AUDIENCE)


async def test_a_failed_fetch_starts_the_cooldown() -> None:
    issuer = Issuer(up=False)
    tokens = verifier(issuer)
    for _ in range(20):
        with pytest.raises(DependencyUnavailable):  # still the issuer's fault, not the token's
            await tokens.verify(token(kid=uuid.uuid4().hex))
    assert issuer.fetches == 1


async def test_concurrent_unknown_kids_during_an_outage_share_one_fetch() -> None:
    issuer = Issuer(up=False)
    tokens = verifier(issuer)
    outcomes = await asyncio.gather(
        *(tokens.verify(token(kid=uuid.uuid4().hex)) for _ in range(40)), return_exceptions=True
    )
    assert all(isinstance(outcome, DependencyUnavailable) for outcome in outcomes)
    assert issuer.fetches == 1


async def test_after_the_cooldown_the_issuer_is_asked_again_and_recovery_is_seen() -> None:
    issuer = Issuer(up=False)
    tokens = verifier(issuer, refetch_cooldown_seconds=0.05)
    with pytest.raises(DependencyUnavailable):
        await tokens.verify(token())
    issuer.up = True
    await asyncio.sleep(0.06)
    assert (await tokens.verify(token())).role == "customer"
    assert issuer.fetches == 2
    with pytest.raises(Unauthorized, match="unknown key"):  # up, and the kid is simply not there
        await tokens.verify(token(kid="rotated-away"))
    assert issuer.fetches == 2


async def test_a_stale_known_key_is_served_while_the_issuer_is_down_with_one_fetch_per_cooldown() -> None:
    issuer = Issuer(up=True)
    tokens = verifier(issuer, cache_seconds=0.0, refetch_cooldown_seconds=0.05)
    await tokens.verify(token())
    issuer.up = False
    await asyncio.sleep(0.06)  # the cache has expired and the cooldown is over
    for _ in range(10):  # each a fresh token, so none is answered from the verifier's memory
        assert (await tokens.verify(token())).role == "customer"
    # One load, then one failed refresh of the expired cache; the cooldown holds back the rest.
    assert issuer.fetches == 2
