"""Token verification: only asymmetric, correctly signed, unexpired tokens for our issuer and audience."""

import asyncio
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from commerce_platform.auth import KeySet, TokenVerifier
from commerce_platform.errors import DependencyUnavailable, Unauthorized

ISSUER, AUDIENCE = "commerce-user-service", "commerce"


def _keypair(kid: str) -> tuple[Any, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return private, jwk


PRIVATE, JWK = _keypair("k1")
OTHER_PRIVATE, _ = _keypair("k1")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": str(uuid.uuid4()), "email": "a@example.com", "role": "customer",
        "typ": "access", "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], key: Any = PRIVATE, alg: str = "RS256", kid: str = "k1") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def _verifier(fetches: list[int] | None = None) -> TokenVerifier:
    async def fetch() -> dict[str, Any]:
        if fetches is not None:
            fetches.append(1)
        return {"keys": [JWK]}

    return TokenVerifier(KeySet(fetch), issuer=ISSUER, audience=AUDIENCE)


async def test_valid_token_gives_principal() -> None:
    claims = _claims(role="admin")
    principal = await _verifier().verify(_sign(claims))
    assert str(principal.user_id) == claims["sub"]
    assert principal.is_admin


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (_claims(exp=int(time.time()) - 60), "expired"),
        (_claims(aud="someone-else"), "rejected"),
        (_claims(iss="evil"), "rejected"),
        (_claims(typ="refresh"), "not an access token"),
        (_claims(jti=None), "rejected"),
        (_claims(sub="not-a-uuid"), "malformed"),
    ],
)
async def test_bad_claims_are_rejected(claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        await _verifier().verify(_sign(claims))


async def test_tampered_and_foreign_signatures_are_rejected() -> None:
    token = _sign(_claims())
    head, payload, sig = token.split(".")
    tampered = f"{head}.{payload}.{sig[:-4]}AAAA"
    with pytest.raises(Unauthorized):
        await _verifier().verify(tampered)
    with pytest.raises(Unauthorized):
        await _verifier().verify(_sign(_claims(), key=OTHER_PRIVATE))


async def test_alg_none_and_hmac_with_public_key_are_rejected() -> None:
    unsigned = jwt.encode(_claims(), None, algorithm="none", headers={"kid": "k1"})
    with pytest.raises(Unauthorized, match="algorithm"):
        await _verifier().verify(unsigned)
    public_pem = PRIVATE.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    # The classic key-confusion attack: HS256 keyed with the RSA public key.
    header = b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    body = b64(json.dumps(_claims()).encode())
    sig = b64(hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(Unauthorized, match="algorithm"):
        await _verifier().verify(f"{header}.{body}.{sig}")


async def test_garbage_and_unknown_kid() -> None:
    with pytest.raises(Unauthorized, match="malformed"):
        await _verifier().verify("not-a-jwt")
    with pytest.raises(Unauthorized, match="unknown key"):
        await _verifier().verify(_sign(_claims(), kid="k2"))


async def test_keys_are_cached_and_unknown_kid_refetch_is_rate_limited() -> None:
    fetches: list[int] = []
    verifier = _verifier(fetches)
    for _ in range(5):
        await verifier.verify(_sign(_claims()))
    assert len(fetches) == 1
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await verifier.verify(_sign(_claims(), kid="rotated-away"))
    # Within the cooldown an unknown kid does not trigger a fetch per request.
    assert len(fetches) == 1


async def test_unreachable_issuer_is_503_not_401() -> None:
    async def fetch() -> dict[str, Any]:
        raise OSError("connection refused")

    verifier = TokenVerifier(KeySet(fetch), issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(DependencyUnavailable):
        await verifier.verify(_sign(_claims()))


async def test_verified_tokens_are_remembered_but_still_expire() -> None:
    async def fetch() -> dict[str, Any]:
        return {"keys": [JWK]}

    verifier = TokenVerifier(KeySet(fetch), issuer=ISSUER, audience=AUDIENCE, leeway_seconds=0)
    token = _sign(_claims(exp=int(time.time()) + 1))
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first  # remembered, not re-verified
    await asyncio.sleep(max(0.0, first_expiry(verifier, token) - time.time()) + 0.05)
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(token)
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(token)  # and it stays rejected once forgotten


def first_expiry(verifier: TokenVerifier, token: str) -> float:
    return verifier._verified[token][1]


async def test_remembered_tokens_are_dropped_when_keys_change() -> None:
    verifier = _verifier()
    token = _sign(_claims())
    await verifier.verify(token)
    assert token in verifier._verified
    verifier.keys.load({"keys": []})  # the issuer withdrew its key
    with pytest.raises(Unauthorized):
        await verifier.verify(token)


async def test_memory_is_bounded() -> None:
    async def fetch() -> dict[str, Any]:
        return {"keys": [JWK]}

    verifier = TokenVerifier(KeySet(fetch), issuer=ISSUER, audience=AUDIENCE, remember=3)
    tokens = [_sign(_claims()) for _ in range(5)]
    for token in tokens:
        await verifier.verify(token)
    assert list(verifier._verified) == tokens[-3:]


async def test_a_rotation_keeps_the_previous_keys_tokens_valid_until_their_key_is_dropped() -> None:
    """The issuer's JWKS goes [k1] -> [k2, k1] (rotated; k1 verifies only) -> [k2] (k1 dropped)."""
    new_private, new_jwk = _keypair("k2")
    published = [[JWK], [new_jwk, JWK], [new_jwk]]

    async def fetch() -> dict[str, Any]:
        return {"keys": published[0]}

    verifier = TokenVerifier(KeySet(fetch, refetch_cooldown_seconds=0), issuer=ISSUER, audience=AUDIENCE)
    old_token = _sign(_claims())
    await verifier.verify(old_token)

    published.pop(0)
    new_token = _sign(_claims(), key=new_private, kid="k2")
    await verifier.verify(new_token)  # an unknown kid fetches the rotated set at once
    assert verifier.keys._keys.keys() == {"k1", "k2"}
    assert old_token in verifier._verified  # nothing was withdrawn: what verified stays verified
    await verifier.verify(_sign(_claims()))  # the previous key still verifies tokens not seen before

    published.pop(0)
    verifier.keys.load(await fetch())  # the next refresh, once the previous key is dropped
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify(old_token)
    await verifier.verify(new_token)
