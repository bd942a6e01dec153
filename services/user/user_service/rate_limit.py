"""Login throttling per email and per client address, counted in Postgres so replicas share it."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
    WITH forgiven_email AS (DELETE FROM login_throttle WHERE key = :email_key)
    UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key = :client_key
    """
)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """Who is trying to sign in: the account named and the address the request came from."""

    email: str
    client: str

    @property
    def email_key(self) -> str:
        return f"email:{self.email.strip().lower()}"

    @property
    def client_key(self) -> str:
        return f"client:{self.client}"


class LoginThrottle:
    """At most `per_email` failed logins per account and `per_client` per address in each window.

    An attempt is counted before the password is checked and forgiven when it succeeds, so
    concurrent guesses cannot all slip through between a check and a write. The counts live in
    their own short transactions: they must stick even though the failed request rolls back.
    """

    def __init__(self, database: Database, *, per_email: int, per_client: int, window_seconds: int) -> None:
        self.database = database
        self.limits = {"email": per_email, "client": per_client}
        self.window_seconds = window_seconds

    async def count_attempt(self, attempt: LoginAttempt) -> None:
        """Count the attempt; raise 429 with Retry-After if the account or the address is over its limit."""
        async with self.database.engine.begin() as conn:
            result = await conn.execute(
                _COUNT_ATTEMPT, {"keys": [attempt.email_key, attempt.client_key], "window": float(self.window_seconds)}
            )
            rows: Sequence[Any] = result.all()
        blocked = [row for row in rows if row.failures > self.limits[row.key.partition(":")[0]]]
        if blocked:
            wait = max(math.ceil(float(row.seconds_left)) for row in blocked)
            raise TooManyRequests(
                "too many failed sign-in attempts; try again later", retry_after_seconds=max(1, wait)
            )

    async def forgive(self, attempt: LoginAttempt) -> None:
        """A successful login clears the account's count and takes this attempt off the address's."""
        async with self.database.engine.begin() as conn:
            await conn.execute(_FORGIVE, {"email_key": attempt.email_key, "client_key": attempt.client_key})


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
