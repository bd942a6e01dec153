"""Refresh-token rotation, reuse detection and sign-out, as a client sees them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import NewAccount, Reply, UserApi

pytestmark = pytest.mark.stack


async def refresh(api: UserApi, token: str) -> Reply:
    return await api.call("POST", "/v1/auth/refresh", json={"refresh_token": token})


async def test_each_refresh_rotates_the_token(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    first = await refresh(api, account.refresh_token)
    assert first.status == 200, first.body
    second = await refresh(api, first.body["refresh_token"])
    assert second.status == 200, second.body
    assert len({account.refresh_token, first.body["refresh_token"], second.body["refresh_token"]}) == 3
    me = await api.call("GET", "/v1/users/me", token=second.body["access_token"])
    assert me.status == 200 and me.body["id"] == account.id


async def test_reusing_a_rotated_token_revokes_the_whole_family(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    rotated = await refresh(api, account.refresh_token)
    assert rotated.status == 200
    newest = rotated.body["refresh_token"]

    # The old token shows up again: a thief and the owner now both hold one of the family.
    (await refresh(api, account.refresh_token)).problem(401)
    # So the newest token dies too, and whoever holds it must sign in again.
    (await refresh(api, newest)).problem(401)
    # Signing in again starts a new, healthy family.
    again = await api.login(account.email)
    assert again.status == 200
    assert (await refresh(api, again.body["refresh_token"])).status == 200


async def test_reuse_in_one_family_leaves_other_sign_ins_alone(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    laptop = account.refresh_token
    phone = (await api.login(account.email)).body["refresh_token"]
    assert (await refresh(api, laptop)).status == 200
    (await refresh(api, laptop)).problem(401)  # reuse: the laptop's family is revoked
    assert (await refresh(api, phone)).status == 200


async def test_concurrent_refreshes_with_one_token_let_at_most_one_through(
    api: UserApi, new_account: NewAccount
) -> None:
    account = await new_account()
    replies = await asyncio.gather(*(refresh(api, account.refresh_token) for _ in range(5)))
    assert sorted(r.status for r in replies).count(200) <= 1
    for reply in replies:
        if reply.status != 200:
            reply.problem(401)


async def test_unknown_refresh_token_is_401(api: UserApi) -> None:
    (await refresh(api, "definitely-not-a-token")).problem(401)
    (await refresh(api, "")).problem(400)


async def test_logout_revokes_the_family_and_is_idempotent(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    rotated = (await refresh(api, account.refresh_token)).body["refresh_token"]
    # Signing out with the older token of the family ends the newer one too.
    assert (await api.call("POST", "/v1/auth/logout", json={"refresh_token": account.refresh_token})).status == 204
    (await refresh(api, rotated)).problem(401)
    assert (await api.call("POST", "/v1/auth/logout", json={"refresh_token": rotated})).status == 204
    assert (await api.call("POST", "/v1/auth/logout", json={"refresh_token": "never-issued"})).status == 204


async def test_password_change_signs_out_every_session(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    other_device = (await api.login(account.email)).body["refresh_token"]
    change = {"new_password": "Another-Strong-Secret-7", "current_password": account.password}
    assert (await api.call("PATCH", "/v1/users/me", token=account.access_token, json=change)).status == 200
    (await refresh(api, other_device)).problem(401)
    (await refresh(api, account.refresh_token)).problem(401)
