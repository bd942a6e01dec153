"""Forged, stale and misdirected access tokens: every one of them is a 401 problem.

The tests sign their own tokens with the stack's real private key, so each case breaks exactly one
property (signature, expiry, audience, issuer, algorithm, type) of an otherwise valid token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from user_service.tokens import SigningKey

if TYPE_CHECKING:
    from conftest import NewAccount, UserApi

pytestmark = pytest.mark.stack

ISSUER = "commerce-user-service"
AUDIENCE = "commerce"


@pytest.fixture(scope="module")
def signing_key(stack: Any) -> SigningKey:
    return SigningKey.from_pem(stack.jwt_private_key_path.read_bytes())


def claims_for(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "email": "someone@example.com",
        "role": "customer",
        "typ": "access",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_parts(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())


async def me(api: UserApi, token: str) -> Any:
    return await api.call("GET", "/v1/users/me", token=token)


async def test_a_token_signed_by_the_tests_is_accepted(
    api: UserApi, new_account: NewAccount, signing_key: SigningKey
) -> None:
    """The control case: the forging below is sound, so each 401 is for the one thing broken."""
    account = await new_account()
    reply = await me(api, signing_key.sign(claims_for(account.id)))
    assert reply.status == 200 and reply.body["id"] == account.id


async def test_tampered_signature(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    head, payload, signature = account.access_token.split(".")
    flipped = ("A" if signature[10] != "A" else "B").join([signature[:10], signature[11:]])
    (await me(api, f"{head}.{payload}.{flipped}")).problem(401)


async def test_tampered_claims_keep_the_old_signature(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    head, _, signature = account.access_token.split(".")
    elevated = claims_for(account.id, role="admin")
    forged = f"{head}.{b64url(json.dumps(elevated).encode())}.{signature}"
    (await me(api, forged)).problem(401)
    (await api.call("GET", "/v1/users", token=forged)).problem(401)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 120, "iat": int(time.time()) - 1200}, "expired"),
        ({"aud": "some-other-api"}, "wrong audience"),
        ({"iss": "https://evil.example.com"}, "wrong issuer"),
        ({"typ": "refresh"}, "not an access token"),
        ({"typ": None}, "no type"),
        ({"jti": None}, "no token id"),
        ({"exp": None}, "no expiry"),
        ({"sub": "not-a-uuid"}, "malformed subject"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_signed_but_invalid_claims(
    api: UserApi, new_account: NewAccount, signing_key: SigningKey, overrides: dict[str, Any], reason: str
) -> None:
    account = await new_account()
    (await me(api, signing_key.sign(claims_for(account.id, **overrides)))).problem(401)


async def test_alg_none(api: UserApi, new_account: NewAccount, signing_key: SigningKey) -> None:
    account = await new_account()
    token = unsigned_parts({"alg": "none", "typ": "JWT", "kid": signing_key.kid}, claims_for(account.id)) + "."
    (await me(api, token)).problem(401)


async def test_hs256_signed_with_the_public_key_as_secret(
    api: UserApi, new_account: NewAccount, signing_key: SigningKey
) -> None:
    """The classic key-confusion attack: HMAC keyed with the (public) RSA key, in PEM and JWK form."""
    account = await new_account()
    public_pem = signing_key.private_key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (public_pem, json.dumps(signing_key.public_jwk).encode()):
        signing_input = unsigned_parts({"alg": "HS256", "typ": "JWT", "kid": signing_key.kid}, claims_for(account.id))
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        (await me(api, f"{signing_input}.{b64url(mac)}")).problem(401)


async def test_unknown_key_id(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims_for(account.id), stranger, algorithm="RS256", headers={"kid": "someone-elses-key"})
    (await me(api, token)).problem(401)


async def test_someone_elses_key_under_our_kid(api: UserApi, new_account: NewAccount, signing_key: SigningKey) -> None:
    account = await new_account()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims_for(account.id), stranger, algorithm="RS256", headers={"kid": signing_key.kid})
    (await me(api, token)).problem(401)


async def test_refresh_token_used_as_access_token(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    (await me(api, account.refresh_token)).problem(401)


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt", "Bearer a.b", "Token abc"],
)
async def test_missing_or_malformed_authorization(api: UserApi, authorization: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    reply = await api.call("GET", "/v1/users/me", headers=headers)
    reply.problem(401)
    assert reply.headers.get("www-authenticate", "").startswith("Bearer")
