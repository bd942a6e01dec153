"""A flood of sign-ups meets a bounded hashing queue: some get 503 with Retry-After, logins still work."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import NewAccount, UserApi

pytestmark = pytest.mark.stack

FLOOD = 80  # well over the 16 places new-password hashing may take


async def test_a_signup_flood_is_refused_quickly_and_does_not_starve_logins(
    api: UserApi, new_account: NewAccount
) -> None:
    account = await new_account()
    flood = [asyncio.ensure_future(api.register(api.unique_email("flood"))) for _ in range(FLOOD)]
    await asyncio.sleep(0.05)  # the flood is queued by now
    login = await api.another_client().login(account.email)
    replies = await asyncio.gather(*flood)

    assert login.status == 200, login.body
    statuses = {r.status for r in replies}
    assert statuses <= {201, 503}, statuses
    refused = [r for r in replies if r.status == 503]
    assert refused, "the flood should overflow the queue"
    problem = refused[0].problem(503)
    assert problem["type"].endswith("/overloaded")
    assert int(refused[0].headers["retry-after"]) >= 1
