"""Wrong `current_password`s on a password change are throttled per account, like failed logins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import NewAccount, UserApi

pytestmark = pytest.mark.stack

PER_ACCOUNT = 5
WINDOW_SECONDS = 900
NEW_PASSWORD = "Brand-New-Secret-42"


def change(current: str) -> dict[str, str]:
    return {"new_password": NEW_PASSWORD, "current_password": current}


async def test_a_stolen_access_token_gets_five_guesses_at_the_password(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    for guess in range(PER_ACCOUNT):
        wrong = change(f"Guess-Number-{guess}x")
        (await api.call("PATCH", "/v1/users/me", token=account.access_token, json=wrong)).problem(400)
    throttled = await api.call("PATCH", "/v1/users/me", token=account.access_token, json=change("Guess-Number-Xx"))
    throttled.problem(429)
    assert 0 < int(throttled.headers["retry-after"]) <= WINDOW_SECONDS
    # The right one waits too (else the limit would only tell the guesser when to stop), from any address.
    elsewhere = api.another_client()
    right = change(account.password)
    (await elsewhere.call("PATCH", "/v1/users/me", token=account.access_token, json=right)).problem(429)
    # Signing in is a different count, and other accounts have their own.
    assert (await elsewhere.login(account.email)).status == 200
    other = await new_account()
    changed = await api.call("PATCH", "/v1/users/me", token=other.access_token, json=change(other.password))
    assert changed.status == 200


async def test_a_right_password_clears_the_count(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    for _ in range(PER_ACCOUNT - 1):
        wrong = change("Not-The-Password-1")
        (await api.call("PATCH", "/v1/users/me", token=account.access_token, json=wrong)).problem(400)
    changed = await api.call("PATCH", "/v1/users/me", token=account.access_token, json=change(account.password))
    assert changed.status == 200
    for _ in range(PER_ACCOUNT - 1):
        wrong = {"new_password": "Another-Secret-43", "current_password": "Not-The-Password-1"}
        (await api.call("PATCH", "/v1/users/me", token=account.access_token, json=wrong)).problem(400)
