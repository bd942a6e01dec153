"""Is a caller whose token says admin still an active admin? Asked of the user service, briefly cached.

A token's `role` is what it was at issue, up to 15 minutes ago. A demoted or deactivated admin must
not keep catalog writes, stock writes, every customer's data or cancel-with-refund for that long, so
services other than the user service (which reads its own rows, `user_service.guards`) confirm admin
power with `GET /internal/v1/users/{id}` before granting it. Customers' tokens never get here, so
they cost nothing extra.

Answers are cached per user for `ttl_seconds` (5 s by default): a burst of admin requests costs one
lookup, and a demotion or deactivation takes effect within that window. Failures are not cached and
fail closed: when the user service cannot answer, the caller gets a 503, never a silent grant.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from uuid import UUID

import msgspec

from commerce_platform.errors import DependencyUnavailable
from commerce_platform.http_client import ServiceClient

DEFAULT_TTL_SECONDS = 5.0
DEFAULT_MAX_ENTRIES = 1024


class Standing(msgspec.Struct, frozen=True):
    """An account as it is now, as far as authorization cares."""

    is_active: bool
    role: str


# No such account (deleted): as powerless as a deactivated one.
NO_STANDING = Standing(is_active=False, role="")

StandingLookup = Callable[[UUID], Awaitable[Standing]]


class AdminStanding:
    """A bounded, per-user TTL cache in front of a standing lookup, with one lookup in flight per user."""

    def __init__(
        self,
        lookup: StandingLookup,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._answers: dict[UUID, tuple[Standing, float]] = {}  # oldest insertion first
        self._in_flight: dict[UUID, asyncio.Task[Standing]] = {}

    async def standing(self, user_id: UUID) -> Standing:
        """The account's standing, at most `ttl_seconds` old; raises DependencyUnavailable if unknown."""
        cached = self._answers.get(user_id)
        if cached is not None:
            if self._clock() < cached[1]:
                return cached[0]
            del self._answers[user_id]
        task = self._in_flight.get(user_id)
        if task is None:
            task = asyncio.ensure_future(self._fetch(user_id))
            self._in_flight[user_id] = task
            task.add_done_callback(lambda done: self._settle(user_id, done))
        # Shielded: a caller that goes away must not cancel the lookup others are waiting for.
        return await asyncio.shield(task)

    async def _fetch(self, user_id: UUID) -> Standing:
        answer = await self._lookup(user_id)
        # Stamped when the answer arrived, so the window is measured from what the user service said.
        if len(self._answers) >= self._max_entries:
            del self._answers[next(iter(self._answers))]
        self._answers[user_id] = (answer, self._clock() + self.ttl_seconds)
        return answer

    def _settle(self, user_id: UUID, task: asyncio.Task[Standing]) -> None:
        if self._in_flight.get(user_id) is task:
            del self._in_flight[user_id]
        if not task.cancelled():
            task.exception()  # retrieved here, so a failure every waiter abandoned is not logged as lost


class _AccountStanding(msgspec.Struct):
    is_active: bool
    role: str | None = None


def user_service_lookup(user_service: ServiceClient) -> StandingLookup:
    """Asks the user service's internal account route."""

    async def lookup(user_id: UUID) -> Standing:
        response = await user_service.get(f"/internal/v1/users/{user_id}")
        if response.status == 404:
            return NO_STANDING
        if not response.ok:
            raise DependencyUnavailable(f"cannot confirm administrator standing: user service said {response.status}")
        try:
            account = msgspec.json.decode(response.body, type=_AccountStanding)
        except msgspec.DecodeError as exc:
            raise DependencyUnavailable("cannot confirm administrator standing: unreadable answer") from exc
        if account.role is None:
            # An older user service that does not say the role: we cannot tell, so no admin power.
            raise DependencyUnavailable("cannot confirm administrator standing: the user service did not say the role")
        return Standing(is_active=account.is_active, role=account.role)

    return lookup
