"""Database passwords derived from one secret seed in stack config, so they are stable across runs.

Pulumi has no random provider installed here, and a password regenerated on every `pulumi up`
would rotate the database on every deploy. HMAC-SHA256(seed, purpose) gives each role its own
unguessable password; rotating means setting a new seed and re-running the bootstrap task.
"""

from __future__ import annotations

import hashlib
import hmac

MIN_SEED_LENGTH = 32


def derive_password(seed: str, purpose: str) -> str:
    if len(seed) < MIN_SEED_LENGTH:
        raise ValueError(f"commerce:dbPasswordSeed must be at least {MIN_SEED_LENGTH} characters")
    # Hex only: safe inside a URL and a libpq connection string without escaping.
    return hmac.new(seed.encode(), f"commerce-db:{purpose}".encode(), hashlib.sha256).hexdigest()
