"""Login throttling: per (account, client address) and per client address, 429 with Retry-After."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import NewAccount, UserApi

pytestmark = pytest.mark.stack

PER_EMAIL_AND_CLIENT = 5
PER_CLIENT = 30
WINDOW_SECONDS = 900


async def test_five_failures_lock_the_account_from_that_address_only(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    for _ in range(PER_EMAIL_AND_CLIENT):
        (await api.login(account.email, "Wrong-Password-123")).problem(401)
    throttled = await api.login(account.email, "Wrong-Password-123")
    problem = throttled.problem(429)
    assert "try again" in problem["detail"]
    assert 0 < int(throttled.headers["retry-after"]) <= WINDOW_SECONDS
    # From this address even the right password waits, whatever the letter case of the email...
    (await api.login(account.email)).problem(429)
    (await api.login(account.email.upper())).problem(429)
    # ...but the owner, elsewhere, signs in: failures from one address lock nobody else out.
    assert (await api.another_client().login(account.email)).status == 200


async def test_guesses_from_many_addresses_cannot_lock_the_owner_out(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    for _ in range(4):
        attacker = api.another_client()
        for _ in range(PER_EMAIL_AND_CLIENT):
            (await attacker.login(account.email, "Wrong-Password-123")).problem(401)
        (await attacker.login(account.email, "Wrong-Password-123")).problem(429)
    assert (await api.login(account.email)).status == 200


async def test_a_success_clears_the_account_count(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    for _ in range(PER_EMAIL_AND_CLIENT - 1):
        (await api.login(account.email, "Wrong-Password-123")).problem(401)
    assert (await api.login(account.email)).status == 200
    for _ in range(PER_EMAIL_AND_CLIENT - 1):
        (await api.login(account.email, "Wrong-Password-123")).problem(401)
    assert (await api.login(account.email)).status == 200


async def test_one_address_guessing_many_accounts_is_throttled(api: UserApi) -> None:
    for _ in range(PER_CLIENT):
        (await api.login(api.unique_email("spray"), "Guess-Password-1")).problem(401)
    throttled = await api.login(api.unique_email("spray"), "Guess-Password-1")
    throttled.problem(429)
    assert int(throttled.headers["retry-after"]) > 0
    # Another address is not affected.
    other = api.another_client()
    (await other.login(api.unique_email("spray"), "Guess-Password-1")).problem(401)
