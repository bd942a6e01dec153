"""Outages versus poison: which failures belong to the infrastructure, how long to back off, and the
breaker that stops a queue consumer from pulling messages into an outage.

A handler that fails because the database or a service it calls is out of reach says nothing about
its message: retrying that message until the redrive policy dead-letters it would move every healthy
message of a failover window to the dead-letter queue. Those failures pause the consumer instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import asyncpg

from commerce_platform.errors import DATABASE_DOWN, DependencyUnavailable, unreachable

# 2.0 ** 1024 overflows a float; every backoff here is capped far below that anyway.
_MAX_EXPONENT = 30

# A service we call is out of reach; the database is (errors.DATABASE_DOWN) or has no connection to spare.
_UNAVAILABLE: tuple[type[BaseException], ...] = (DependencyUnavailable, *DATABASE_DOWN, asyncpg.TooManyConnectionsError)


def backoff_seconds(failures: int, *, first: float, cap: float) -> float:
    """`first` after the first failure, doubling with each further one, never above `cap`; safe
    for any count (an uncapped `2.0 ** failures` raises OverflowError from 1024 failures on)."""
    return float(min(cap, first * 2.0 ** min(max(failures - 1, 0), _MAX_EXPONENT)))


class HandlerTimedOut(Exception):
    """A handler ran past its deadline: a failure of the handler (retried, then dead-lettered), even
    though what it waited on may have been the database."""


def is_outage(exc: BaseException) -> bool:
    """True when `exc`, or an error it was raised from, says a dependency is out of reach rather
    than that the handler or its message is wrong."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None or isinstance(seen, HandlerTimedOut):
            return False
        if isinstance(seen, _UNAVAILABLE):
            return True
        # Pool acquire or connect timeouts, and connections that could not be made or were lost.
        if isinstance(seen, TimeoutError) or unreachable(seen):
            return True
        # asyncpg's InterfaceError also reports misuse (a bug); only a closed connection is an outage.
        if isinstance(seen, asyncpg.InterfaceError) and "closed" in str(seen):
            return True
        seen = seen.__cause__
    return False


@dataclass(slots=True)
class OutageBreaker:
    """Whether a consumer may receive: `closed` (yes), `open` (no: a dependency is down; wait
    `pause`, then probe), `trial` (the probe passed: one message at a time until one is handled,
    so a dependency the probe cannot see, such as another service, costs one receive, not a batch)."""

    first_pause: float = 1.0
    max_pause: float = 60.0
    failures: int = 0
    state: Literal["closed", "open", "trial"] = "closed"

    @property
    def pause(self) -> float:
        return backoff_seconds(self.failures, first=self.first_pause, cap=self.max_pause)

    def trip(self) -> float:
        """A message failed for an outage; returns how long to keep it away. Messages of one batch
        that fail together count as one failure."""
        if self.state != "open":
            self.failures += 1
            self.state = "open"
        return self.pause

    def probe_failed(self) -> None:
        self.failures += 1

    def probe_passed(self) -> None:
        self.state = "trial"

    def handled(self) -> None:
        """A message went through (or failed for a reason of its own): the dependencies answer."""
        if self.state == "trial":
            self.state = "closed"
            self.failures = 0
