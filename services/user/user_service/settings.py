"""The user service's settings: the platform's, plus signing keys, token lifetimes, bootstrap admin and throttling."""

from __future__ import annotations

from commerce_platform.settings import PlatformSettings

THIRTY_DAYS = 30 * 24 * 3600


class UserSettings(PlatformSettings, kw_only=True, frozen=True):
    """Field `foo_bar` comes from the environment variable `FOO_BAR`."""

    # PEM of the RSA (RS256) or Ed25519 (EdDSA) signing key; literal "\n" sequences are accepted
    # because multi-line values are awkward in .env files and task definitions.
    jwt_private_key: str | None = None
    jwt_private_key_file: str | None = None
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = THIRTY_DAYS
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = None
    # Failed logins allowed per window, per email and per client address.
    login_max_failures_per_email: int = 5
    login_max_failures_per_client: int = 30
    login_failure_window_seconds: int = 900
    # Behind the gateway or an ALB the peer is the proxy, and X-Forwarded-For names the client.
    trust_forwarded_for: bool = True
    max_addresses_per_user: int = 20
    # Argon2id cost (argon2-cffi's RFC 9106 "low memory" profile); raising them rehashes on next login.
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    password_hash_parallelism: int = 4
    # Hashing is CPU- and memory-heavy: bound how many run at once so a login burst cannot starve the
    # event loop or take 64 MiB per concurrent request.
    password_hash_workers: int = 2
