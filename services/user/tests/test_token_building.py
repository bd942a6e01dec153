"""Signing keys, key ids and access tokens, without a running stack."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from commerce_platform.auth import TokenVerifier
from commerce_platform.errors import Unauthorized
from commerce_platform.settings import SettingsError
from user_service.settings import UserSettings
from user_service.tokens import (
    AccessTokenIssuer,
    SigningKey,
    jwk_thumbprint,
    key_ring,
    local_key_pem,
    own_key_set,
    refresh_token_digest,
    signing_key,
)


def pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def test_rfc7638_thumbprint_example() -> None:
    """The worked example of RFC 7638, section 3.1."""
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
        "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9"
        "c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-"
        "csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_rsa_key_publishes_only_public_members(rsa_pem: bytes) -> None:
    key = SigningKey.from_pem(rsa_pem)
    assert key.algorithm == "RS256"
    assert set(key.public_jwk) == {"kty", "n", "e", "kid", "alg", "use"}
    assert key.public_jwk["kid"] == jwk_thumbprint(key.public_jwk)


def test_ed25519_keys_sign_eddsa() -> None:
    key = SigningKey.from_pem(pem(ed25519.Ed25519PrivateKey.generate()))
    assert key.algorithm == "EdDSA"
    assert set(key.public_jwk) == {"kty", "crv", "x", "kid", "alg", "use"}


def test_garbage_and_encrypted_keys_are_refused(rsa_pem: bytes) -> None:
    with pytest.raises(SettingsError, match="PEM"):
        SigningKey.from_pem(b"not a key")
    encrypted = serialization.load_pem_private_key(rsa_pem, password=None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(SettingsError, match="unencrypted"):
        SigningKey.from_pem(encrypted)


def test_short_rsa_keys_are_refused() -> None:
    with pytest.raises(SettingsError, match="2048"):
        SigningKey.from_pem(pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))


def settings(**overrides: object) -> UserSettings:
    values: dict[str, object] = {"database_url": "postgresql://unused/db", **overrides}
    return UserSettings(**values)  # type: ignore[arg-type]


async def test_issued_tokens_pass_the_platform_verifier(rsa_pem: bytes) -> None:
    config = settings(jwt_private_key=rsa_pem.decode().replace("\n", "\\n"))  # escaped, as in a .env file
    key = signing_key(config)
    issuer = AccessTokenIssuer(key, issuer=config.jwt_issuer, audience=config.jwt_audience, ttl_seconds=60)
    user_id = uuid.uuid4()
    issued = issuer.issue(user_id=user_id, email="ann@example.com", role="admin")
    assert issued.expires_in == 60
    verifier = TokenVerifier(own_key_set(config, None), issuer=config.jwt_issuer, audience=config.jwt_audience)  # type: ignore[arg-type]
    principal = await verifier.verify(issued.token)
    assert principal.user_id == user_id and principal.is_admin and principal.email == "ann@example.com"

    stale = issuer.issue(user_id=user_id, email="ann@example.com", role="admin", now=1_000_000)
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(stale.token)
    other_audience = TokenVerifier(own_key_set(config, None), issuer=config.jwt_issuer, audience="other")  # type: ignore[arg-type]
    with pytest.raises(Unauthorized):
        await other_audience.verify(issued.token)


def public_pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


async def test_previous_public_keys_are_published_and_verify_but_never_sign(rsa_pem: bytes) -> None:
    current = serialization.load_pem_private_key(rsa_pem, password=None)
    old_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    old_ed = ed25519.Ed25519PrivateKey.generate()
    # Two PEMs one after the other, escaped as in a .env file; the current key listed again is harmless.
    previous = (public_pem(old_rsa) + public_pem(old_ed) + public_pem(current)).replace("\n", "\\n")  # type: ignore[arg-type]
    config = settings(jwt_private_key=rsa_pem.decode(), jwt_previous_public_keys=previous)
    ring = key_ring(config)
    old_kids = [SigningKey.from_pem(pem(k)).kid for k in (old_rsa, old_ed)]
    assert [k["kid"] for k in ring.public_jwks()] == [signing_key(config).kid, *old_kids]
    assert [k["alg"] for k in ring.public_jwks()] == ["RS256", "RS256", "EdDSA"]

    verifier = TokenVerifier(own_key_set(config, None), issuer=config.jwt_issuer, audience=config.jwt_audience)  # type: ignore[arg-type]
    for old in (old_rsa, old_ed):
        old_issuer = AccessTokenIssuer(
            SigningKey.from_pem(pem(old)), issuer=config.jwt_issuer, audience=config.jwt_audience, ttl_seconds=60
        )
        await verifier.verify(old_issuer.issue(user_id=uuid.uuid4(), email="ann@example.com", role="customer").token)
    assert ring.current.kid == signing_key(config).kid  # and only the current key signs


def test_bad_previous_public_keys_stop_the_start(rsa_pem: bytes) -> None:
    short = public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    broken = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    for value, message in [
        ("not a key", "no PEM public key"),
        (rsa_pem.decode(), "private key"),
        (broken, "key 1 is not a PEM public key"),
        (public_pem(ed25519.Ed25519PrivateKey.generate()) + short, "key 2: RSA keys need at least"),
    ]:
        with pytest.raises(SettingsError, match=message):
            key_ring(settings(jwt_private_key=rsa_pem.decode(), jwt_previous_public_keys=value))


def test_key_from_file_and_missing_key(tmp_path: Path, rsa_pem: bytes) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(rsa_pem)
    assert signing_key(settings(jwt_private_key_file=str(path))).kid == SigningKey.from_pem(rsa_pem).kid
    with pytest.raises(SettingsError, match="JWT_PRIVATE_KEY_FILE"):
        signing_key(settings(jwt_private_key_file=str(tmp_path / "missing.pem")))
    with pytest.raises(SettingsError, match="outside ENVIRONMENT=local"):
        signing_key(settings(environment="production"))


async def test_local_key_is_generated_once_even_by_racing_processes(tmp_path: Path) -> None:
    path = tmp_path / ".local" / "jwt" / "private.pem"
    keys = await asyncio.gather(*(asyncio.to_thread(local_key_pem, path) for _ in range(4)))
    assert len(set(keys)) == 1
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["private.pem"]  # no temporary files left behind
    assert local_key_pem(path) == keys[0]
    assert os.access(path, os.R_OK)


def test_refresh_tokens_are_stored_as_sha256() -> None:
    assert refresh_token_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
