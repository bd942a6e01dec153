"""Login throttling: per account and per client address, 429 with Retry-After."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import NewAccount, UserApi

pytestmark = pytest.mark.stack

PER_EMAIL = 5
PER_CLIENT = 30
WINDOW_SECONDS = 900


async def test_five_failures_lock_the_account_even_from_other_addresses(
    api: UserApi, new_account: NewAccount
) -> None:
    account = await new_account()
    for _ in range(PER_EMAIL):
        (await api.login(account.email, "Wrong-Password-123")).problem(401)
    throttled = await api.login(account.email, "Wrong-Password-123")
    problem = throttled.problem(429)
    assert "try again" in problem["detail"]
    assert 0 < int(throttled.headers["retry-after"]) <= WINDOW_SECONDS
    # The right password does not help, from here or from another machine.
    (await api.login(account.email)).problem(429)
    (await api.another_client().login(account.email)).problem(429)
    (await api.login(account.email.upper())).problem(429)


async def test_a_success_clears_the_account_count(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    for _ in range(PER_EMAIL - 1):
        (await api.login(account.email, "Wrong-Password-123")).problem(401)
    assert (await api.login(account.email)).status == 200
    for _ in range(PER_EMAIL - 1):
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
