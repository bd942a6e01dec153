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
    # PEMs of earlier signing keys' public halves, one after the other (literal "\n" accepted too):
    # published in the JWKS and accepted, never used to sign, so a rotation leaves tokens signed
    # before it valid until they expire. Drop a key once the access-token lifetime has passed.
    jwt_previous_public_keys: str | None = None
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = THIRTY_DAYS
    # The admin created at start. An account that already has this email is promoted only if this
    # password verifies against its hash: sign-up is open and unverified, so whoever took the
    # address first must not become admin (the start logs a warning and leaves it alone).
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = None
    # Failed logins allowed per window: per (email, client address) pair, so nobody can lock an
    # account for everyone else; and, looser, per client address across emails, against spraying.
    login_max_failures_per_email_and_client: int = 5
    login_max_failures_per_client: int = 30
    login_failure_window_seconds: int = 900
    # Wrong `current_password`s allowed per account and window on a password change: without a
    # limit a stolen access token could guess the password it does not know (same window).
    password_check_max_failures: int = 5
    # Proxies in front of the service that append to X-Forwarded-For (the ALB, or the local gateway).
    # The client is the entry that many places from the right: entries further left are whatever
    # the client sent, and would let it pick a fresh address for every guess. 0: use the TCP peer.
    forwarded_for_trusted_hops: int = 1
    max_addresses_per_user: int = 20
    # Argon2id cost: OWASP's recommended m=19 MiB, t=2, p=1 (~20 ms here) rather than argon2-cffi's
    # default 64 MiB, t=3, p=4 (~90 ms, four threads): on two cores that is 4x the logins per second
    # and a third of the memory per concurrent hash. Raising any of them rehashes on the next login.
    password_hash_time_cost: int = 2
    password_hash_memory_kib: int = 19456
    password_hash_parallelism: int = 1
    # Hashing is CPU- and memory-heavy: bound how many run at once so a login burst cannot starve the
    # event loop or take 64 MiB per concurrent request.
    password_hash_workers: int = 2
    # And bound how many may wait (running ones included): past that a request gets 503 with
    # Retry-After at once instead of queueing for seconds. Hashing a new password (sign-up, password
    # change) may take only a share of the queue, so a flood of sign-ups leaves room for logins.
    password_hash_max_pending: int = 64
    password_hash_max_pending_new: int = 16
