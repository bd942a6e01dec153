"""The bounded password-hashing queue, without a running stack: full means 503 at once, not a long wait."""

from __future__ import annotations

import asyncio

import pytest

from user_service.passwords import HashingBusy, PasswordHashing

PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture
def hashing() -> PasswordHashing:
    # One worker and a cost that takes a few milliseconds, so calls really wait in the queue.
    return PasswordHashing(time_cost=2, memory_kib=8192, parallelism=1, workers=1, max_pending=6, max_pending_new=2)


async def test_new_passwords_get_only_their_share_and_logins_keep_the_rest(hashing: PasswordHashing) -> None:
    digest = await hashing.hash(PASSWORD)
    signups = [asyncio.ensure_future(hashing.hash_new(PASSWORD)) for _ in range(5)]
    logins = [asyncio.ensure_future(hashing.verify(digest, PASSWORD)) for _ in range(4)]
    signup_outcomes = await asyncio.gather(*signups, return_exceptions=True)
    assert sum(isinstance(o, HashingBusy) for o in signup_outcomes) == 3  # two places for new passwords
    assert await asyncio.gather(*logins) == [True] * 4  # and logins still found room


async def test_a_full_queue_refuses_with_503_and_retry_after(hashing: PasswordHashing) -> None:
    digest = await hashing.hash(PASSWORD)
    outcomes = await asyncio.gather(*(hashing.verify(digest, PASSWORD) for _ in range(8)), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, HashingBusy)]
    assert len(refused) == 2
    assert refused[0].status_code == 503 and refused[0].headers["Retry-After"] == "1"
    # Places are given back: once the queue drains, calls are admitted again.
    assert await hashing.verify(digest, PASSWORD)
