"""`/.well-known/jwks.json`: the public keys that verify this service's access tokens."""

from __future__ import annotations

from litestar import Controller, get
from litestar.datastructures import CacheControlHeader

from user_service.schemas import JsonWebKeySet
from user_service.settings import UserSettings
from user_service.tokens import key_ring

# Verifiers cache the key set; a short max-age lets a rotated key reach them within minutes.
JWKS_CACHE = CacheControlHeader(max_age=300, public=True)


class JwksController(Controller):
    tags = ["keys"]

    @get("/.well-known/jwks.json", operation_id="getJwks", cache_control=JWKS_CACHE)
    async def jwks(self, user_settings: UserSettings) -> JsonWebKeySet:
        """The JSON Web Key Set (RFC 7517): the signing key, then the previous keys that still verify;
        each with `kid`, `alg` and `use: sig`."""
        return JsonWebKeySet(keys=key_ring(user_settings).public_jwks())
