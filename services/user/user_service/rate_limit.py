"""Failed-attempt throttling (sign-in, and the current-password check of a password change), counted
in Postgres so replicas share it."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar import Request
from sqlalchemy import text

from commerce_platform.database import Database
from commerce_platform.errors import TooManyRequests

# One statement counts the attempt for every key and reports where each window stands, so two
# replicas racing on the same key both see the other's increment: no read-then-write gap.
_COUNT_ATTEMPT = text(
    """
    INSERT INTO login_throttle AS t (key, window_started_at, failures)
    SELECT key, now(), 1 FROM unnest(CAST(:keys AS text[])) AS key
    ON CONFLICT (key) DO UPDATE SET
        window_started_at = CASE WHEN t.window_started_at <= now() - make_interval(secs => :window)
                                 THEN now() ELSE t.window_started_at END,
        failures = CASE WHEN t.window_started_at <= now() - make_interval(secs => :window)
                        THEN 1 ELSE t.failures + 1 END
    RETURNING key, failures, EXTRACT(EPOCH FROM t.window_started_at + make_interval(secs => :window) - now())
        AS seconds_left
    """
)
_FORGIVE = text(
    """
    WITH cleared AS (DELETE FROM login_throttle WHERE key = ANY(CAST(:cleared AS text[])))
    UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key = ANY(CAST(:decremented AS text[]))
    """
)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """Who is trying to sign in: the account named and the address the request came from."""

    email: str
    client: str

    @property
    def account_key(self) -> str:
        # Keyed on the pair, not the email alone: failures from one address must not lock the
        # owner out from another (anyone could otherwise keep any account locked for free).
        return f"account:{self.email.strip().lower()}|{self.client}"

    @property
    def client_key(self) -> str:
        return f"client:{self.client}"


def password_check_key(user_id: UUID) -> str:
    """The current-password check of one account: only a holder of its access token can fail it."""
    return f"password-check:{user_id}"


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    """Failures allowed per window: per (account, address), per address across accounts, and per
    account for the current-password check of a password change."""

    per_account_and_client: int
    per_client: int
    per_password_check: int
    window_seconds: int


class LoginThrottle:
    """Counts failed attempts per key in fixed windows and refuses with 429 past the key's limit.

    An attempt is counted before the password is checked and forgiven when it succeeds, so
    concurrent guesses cannot all slip through between a check and a write. The counts live in
    their own short transactions: they must stick even though the failed request rolls back.
    """

    def __init__(self, database: Database, limits: ThrottleLimits) -> None:
        self.database = database
        self.limits = limits

    async def count_login(self, attempt: LoginAttempt) -> None:
        """Count a sign-in; 429 if this address failed too often on this account, or on any."""
        limits = {attempt.account_key: self.limits.per_account_and_client, attempt.client_key: self.limits.per_client}
        await self._count(limits)

    async def forgive_login(self, attempt: LoginAttempt) -> None:
        """A success clears the pair's count and takes this attempt off the address's."""
        await self._forgive(cleared=[attempt.account_key], decremented=[attempt.client_key])

    async def count_password_check(self, user_id: UUID) -> None:
        """Count a current-password check; 429 past the limit, so a stolen access token cannot be
        used to guess the password it does not know."""
        await self._count({password_check_key(user_id): self.limits.per_password_check})

    async def forgive_password_check(self, user_id: UUID) -> None:
        await self._forgive(cleared=[password_check_key(user_id)], decremented=[])

    async def _count(self, limits: Mapping[str, int]) -> None:
        async with self.database.engine.begin() as conn:
            result = await conn.execute(
                _COUNT_ATTEMPT, {"keys": list(limits), "window": float(self.limits.window_seconds)}
            )
            rows: Sequence[Any] = result.all()
        blocked = [row for row in rows if row.failures > limits[row.key]]
        if blocked:
            wait = max(math.ceil(float(row.seconds_left)) for row in blocked)
            raise TooManyRequests("too many failed attempts; try again later", retry_after_seconds=max(1, wait))

    async def _forgive(self, *, cleared: list[str], decremented: list[str]) -> None:
        async with self.database.engine.begin() as conn:
            await conn.execute(_FORGIVE, {"cleared": cleared, "decremented": decremented})


def client_address(request: Request[Any, Any, Any], *, trusted_hops: int) -> str:
    """The caller's IP as the outermost trusted proxy saw it: the X-Forwarded-For entry `trusted_hops`
    from the right (with one ALB, the last). Without the header, or with no trusted proxies, the
    TCP peer. Anything that does not parse as an IP address is ignored, so the header cannot
    smuggle arbitrary text into throttle keys."""
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    if trusted_hops > 0 and hops:
        candidate = hops[-trusted_hops] if len(hops) >= trusted_hops else hops[0]
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            pass
    return request.client.host if request.client else "unknown"
