"""Token issuing: the signing key, the JWKS (with previous keys), signed access tokens, opaque refresh tokens."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from commerce_platform.auth import KeySet
from commerce_platform.http_client import ServiceClient
from commerce_platform.settings import PlatformSettings, SettingsError
from user_service.settings import UserSettings

LOCAL_KEY_PATH = Path(".local/jwt/private.pem")
RSA_KEY_BITS = 2048
REFRESH_TOKEN_BYTES = 32

SigningPrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The private key access tokens are signed with, and the public JWK that verifies them."""

    private_key: SigningPrivateKey
    algorithm: str
    kid: str
    public_jwk: dict[str, str]

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:  # TypeError: the key is encrypted
            raise SettingsError("JWT signing key is not an unencrypted PEM private key") from exc
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < RSA_KEY_BITS:
                raise SettingsError(f"JWT signing key: RSA keys need at least {RSA_KEY_BITS} bits")
        elif not isinstance(key, ed25519.Ed25519PrivateKey):
            raise SettingsError("JWT signing key must be an RSA or Ed25519 private key")
        public = public_jwk(key.public_key())
        return cls(key, public["alg"], public["kid"], public)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid})


def public_jwk(key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> dict[str, str]:
    """The JWK a verifier needs: only the public members, `kid` = thumbprint, `alg`, `use: sig`."""
    if isinstance(key, rsa.RSAPublicKey):
        jwk: dict[str, str] = RSAAlgorithm.to_jwk(key, as_dict=True)
        algorithm = "RS256"
    else:
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
        algorithm = "EdDSA"
    kid = jwk_thumbprint(jwk)
    public = {k: str(v) for k, v in jwk.items() if k in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    return {**public, "kid": kid, "alg": algorithm, "use": "sig"}


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The key that signs, and the previous keys that only verify: their tokens stay valid until
    they expire, so rotating the signing key signs nobody out."""

    current: SigningKey
    previous: tuple[dict[str, str], ...] = ()

    def public_jwks(self) -> list[dict[str, str]]:
        # The current key first; a key listed twice (or the current one again) is published once.
        keys = {self.current.kid: self.current.public_jwk}
        for jwk in self.previous:
            keys.setdefault(jwk["kid"], jwk)
        return list(keys.values())

    def jwks(self) -> dict[str, Any]:
        return {"keys": self.public_jwks()}


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


def previous_public_jwks(pems: str) -> tuple[dict[str, str], ...]:
    """JWT_PREVIOUS_PUBLIC_KEYS: one or more PEM public keys, one after the other."""
    jwks: list[dict[str, str]] = []
    blocks = list(_PEM_BLOCK.finditer(pems.replace("\\n", "\n")))
    if not blocks:
        raise SettingsError("JWT_PREVIOUS_PUBLIC_KEYS holds no PEM public key")
    for number, block in enumerate(blocks, start=1):
        # A private key here would be one more copy of a retired secret: only its public half is needed.
        if "PRIVATE" in block.group(1):
            raise SettingsError(
                f"JWT_PREVIOUS_PUBLIC_KEYS: key {number} is a private key; give its public half "
                "(openssl pkey -pubout)"
            )
        try:
            key = serialization.load_pem_public_key(block.group(0).encode())
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"JWT_PREVIOUS_PUBLIC_KEYS: key {number} is not a PEM public key") from exc
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < RSA_KEY_BITS:
            raise SettingsError(f"JWT_PREVIOUS_PUBLIC_KEYS: key {number}: RSA keys need at least {RSA_KEY_BITS} bits")
        if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
            raise SettingsError(f"JWT_PREVIOUS_PUBLIC_KEYS: key {number} must be an RSA or Ed25519 public key")
        jwks.append(public_jwk(key))
    return tuple(jwks)


# RFC 7638 §3.2: the required members of each key type, and only those, make the thumbprint.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url without padding: a `kid` that names the key itself."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


@functools.cache
def signing_key(settings: UserSettings) -> SigningKey:
    """The configured key: JWT_PRIVATE_KEY, else JWT_PRIVATE_KEY_FILE, else (local only) a key
    generated once and kept under .local/ so tokens survive restarts and every process agrees."""
    if settings.jwt_private_key:
        return SigningKey.from_pem(settings.jwt_private_key.replace("\\n", "\n").encode())
    if settings.jwt_private_key_file:
        path = Path(settings.jwt_private_key_file)
        try:
            return SigningKey.from_pem(path.read_bytes())
        except OSError as exc:
            raise SettingsError(f"JWT_PRIVATE_KEY_FILE: cannot read {path}: {exc.strerror}") from exc
    if settings.environment == "local":
        return SigningKey.from_pem(local_key_pem(Path.cwd() / LOCAL_KEY_PATH))
    raise SettingsError("JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE is required outside ENVIRONMENT=local")


@functools.cache
def key_ring(settings: UserSettings) -> KeyRing:
    """The signing key and, from JWT_PREVIOUS_PUBLIC_KEYS, the keys that only verify."""
    previous = settings.jwt_previous_public_keys
    return KeyRing(signing_key(settings), previous_public_jwks(previous) if previous else ())


def local_key_pem(path: Path) -> bytes:
    """Read the local development key, generating it first if missing. Several processes may start
    at once: each writes a private temporary file and links it into place, and the losers read the
    winner's key, so all of them sign with the same one."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    try:
        os.link(temporary, path)  # atomic, and fails if another process got there first
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_bytes()


def own_key_set(settings: PlatformSettings, _user_service: ServiceClient) -> KeySet:
    """The user service verifies its own tokens against its own JWKS, with no HTTP call to itself."""
    if not isinstance(settings, UserSettings):
        raise TypeError("the user service runs with UserSettings")
    keys = key_ring(settings)  # load now, so a bad key stops the start instead of the first request

    async def fetch() -> dict[str, Any]:
        return keys.jwks()

    return KeySet(fetch, cache_seconds=float(settings.jwks_cache_seconds))


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_in: int


class AccessTokenIssuer:
    """Signs short-lived access tokens with the claims every service's verifier requires."""

    def __init__(self, key: SigningKey, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(self, *, user_id: uuid.UUID, email: str, role: str, now: int | None = None) -> IssuedAccessToken:
        issued_at = int(time.time()) if now is None else now
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "email": email,
            "role": role,
            "typ": "access",
            "iat": issued_at,
            "exp": issued_at + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return IssuedAccessToken(self.key.sign(claims), self.ttl_seconds)


def new_refresh_token() -> str:
    """An opaque, unguessable refresh token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def refresh_token_digest(token: str) -> str:
    """What the database keeps instead of the token: a leaked table cannot be replayed. SHA-256 is
    enough (no salt, no stretching) because the token is 256 random bits, not a guessable password."""
    return hashlib.sha256(token.encode()).hexdigest()
