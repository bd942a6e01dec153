"""Telling an outage from a handler's failure, and the backoff arithmetic: pure logic, no stack."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import pytest

from commerce_platform.errors import DependencyUnavailable
from commerce_platform.events.consumer import MAX_RETRY_DELAY_SECONDS, retry_delay
from commerce_platform.events.outage import HandlerTimedOut, OutageBreaker, backoff_seconds, is_outage

# Far past where `2.0 ** n` overflows a float (n = 1024): years of failures at any cap.
HUGE = 10**9


def test_backoff_doubles_from_the_first_wait_up_to_the_cap() -> None:
    assert [backoff_seconds(n, first=0.5, cap=30) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff_seconds(0, first=0.5, cap=30) == 0.5


def test_backoff_after_a_huge_number_of_failures_is_the_cap() -> None:
    assert backoff_seconds(HUGE, first=0.5, cap=30.0) == 30.0
    assert backoff_seconds(1024, first=2.0, cap=30.0) == 30.0


def test_retry_delay_is_not_capped_by_the_visibility_timeout() -> None:
    # 1 s, 2 s, 4 s ... with the default base, as before; beyond a 30 s visibility timeout now.
    assert [retry_delay(n, 1.0) for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert retry_delay(3, 10.0) == 40
    assert retry_delay(8, 10.0) == MAX_RETRY_DELAY_SECONDS == 900
    assert retry_delay(HUGE, 1.0) == MAX_RETRY_DELAY_SECONDS


def test_relay_row_backoff_survives_a_huge_attempt_count() -> None:
    from datetime import timedelta

    from commerce_platform.events.relay import OutboxRelay

    relay = OutboxRelay.__new__(OutboxRelay)  # only the backoff settings matter here
    relay._base_backoff, relay._max_backoff = 1.0, 300.0
    assert relay._backoff(HUGE) == timedelta(seconds=300)
    assert relay._backoff(3) == timedelta(seconds=4)


def wrapped(cause: BaseException) -> RuntimeError:
    try:
        raise RuntimeError("could not apply the event") from cause
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize(
    "exc",
    [
        DependencyUnavailable("the user service is unavailable"),
        ConnectionRefusedError(111, "Connection refused"),
        OSError("Multiple exceptions: [Errno 111] ..."),
        socket.gaierror(-2, "Name or service not known"),
        TimeoutError(),  # a pool acquire that waited its bound
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        wrapped(ConnectionResetError()),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_outages(exc: BaseException) -> None:
    assert is_outage(exc)


def test_handler_failures_are_not_outages() -> None:
    for exc in (
        RuntimeError("bug"),
        KeyError("bug"),
        FileNotFoundError("templates/x.html"),
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        HandlerTimedOut("the handler ran longer than 60 s"),
    ):
        assert not is_outage(exc), exc


async def test_a_handler_timeout_is_not_an_outage_although_it_comes_from_a_timeout() -> None:
    async def timed_out() -> None:
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(1)
        except TimeoutError:
            raise HandlerTimedOut("the handler ran longer than 0.01 s")

    with pytest.raises(HandlerTimedOut) as caught:
        await timed_out()
    assert isinstance(caught.value.__context__, TimeoutError)
    assert not is_outage(caught.value)


def test_breaker_counts_one_failure_per_outage_and_grows_its_pause_with_failed_probes() -> None:
    breaker = OutageBreaker(first_pause=1.0, max_pause=60.0)
    assert breaker.trip() == 1.0
    assert breaker.trip() == 1.0  # the rest of the batch, failing together
    breaker.handled()  # a message received before the outage, finishing late: proves nothing
    assert breaker.state == "open"
    for _ in range(HUGE.bit_length()):
        breaker.probe_failed()
    assert breaker.pause == 60.0
    breaker.probe_passed()
    assert breaker.state == "trial"
    assert breaker.trip() == 60.0  # the trial failed: open again, still capped
    breaker.probe_passed()
    breaker.handled()
    assert (breaker.state, breaker.failures, breaker.pause) == ("closed", 0, 1.0)
