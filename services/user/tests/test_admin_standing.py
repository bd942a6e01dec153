"""Admin routes go by the caller's account as it is now, and admin changes sign the account out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

from commerce_platform.database import Database

if TYPE_CHECKING:
    from conftest import Account, NewAccount, Reply, UserApi

pytestmark = pytest.mark.stack


async def patch_account(api: UserApi, token: str, user_id: str, **change: Any) -> Reply:
    return await api.call("PATCH", f"/v1/users/{user_id}", token=token, json=change)


async def refresh(api: UserApi, token: str) -> Reply:
    return await api.call("POST", "/v1/auth/refresh", json={"refresh_token": token})


@pytest.fixture
def new_admin(api: UserApi, admin_token: str, new_account: NewAccount) -> Any:
    """A fresh account promoted by the bootstrap admin, signed in again so its token says admin."""

    async def create() -> Account:
        account = await new_account("admin")
        assert (await patch_account(api, admin_token, account.id, role="admin")).status == 200
        signed_in = await api.login(account.email)
        assert signed_in.status == 200, signed_in.body
        account.access_token = signed_in.body["access_token"]
        account.refresh_token = signed_in.body["refresh_token"]
        return account

    return create


async def test_a_deactivated_admin_cannot_use_its_still_valid_token(
    api: UserApi, admin_token: str, new_admin: Any, new_account: NewAccount
) -> None:
    rogue = await new_admin()
    bystander = await new_account()
    assert (await patch_account(api, admin_token, rogue.id, is_active=False)).status == 200
    # The access token still says role=admin for up to 15 minutes; the account says otherwise.
    (await api.call("GET", "/v1/users", token=rogue.access_token)).problem(403)
    (await patch_account(api, rogue.access_token, rogue.id, is_active=True, role="admin")).problem(403)
    (await patch_account(api, rogue.access_token, bystander.id, is_active=False)).problem(403)
    (await refresh(api, rogue.refresh_token)).problem(401)


async def test_a_demoted_admin_cannot_use_its_still_valid_token(
    api: UserApi, admin_token: str, new_admin: Any, new_account: NewAccount
) -> None:
    demoted = await new_admin()
    bystander = await new_account()
    assert (await patch_account(api, admin_token, demoted.id, role="customer")).body["role"] == "customer"
    (await api.call("GET", "/v1/users", token=demoted.access_token)).problem(403)
    (await patch_account(api, demoted.access_token, demoted.id, role="admin")).problem(403)
    (await patch_account(api, demoted.access_token, bystander.id, is_active=False)).problem(403)
    # Signing in again gives a token with the role the account has now.
    again = await api.login(demoted.email)
    (await api.call("GET", "/v1/users", token=again.body["access_token"])).problem(403)


async def test_deactivation_revokes_refresh_tokens_even_after_reactivation(
    api: UserApi, admin_token: str, new_account: NewAccount
) -> None:
    customer = await new_account()
    assert (await patch_account(api, admin_token, customer.id, is_active=False)).status == 200
    assert (await patch_account(api, admin_token, customer.id, is_active=True)).status == 200
    (await refresh(api, customer.refresh_token)).problem(401)
    assert (await api.login(customer.email)).status == 200  # reactivated: signing in works again


async def test_a_role_change_revokes_refresh_tokens(api: UserApi, admin_token: str, new_account: NewAccount) -> None:
    customer = await new_account()
    assert (await patch_account(api, admin_token, customer.id, role="admin")).status == 200
    (await refresh(api, customer.refresh_token)).problem(401)


async def test_an_admin_cannot_deactivate_or_demote_themselves(api: UserApi, new_admin: Any) -> None:
    admin = await new_admin()
    problem = (await patch_account(api, admin.access_token, admin.id, is_active=False)).problem(409)
    assert "themselves" in problem["detail"]
    (await patch_account(api, admin.access_token, admin.id, role="customer")).problem(409)
    assert (await api.call("GET", "/v1/users", token=admin.access_token)).status == 200  # still in charge
    assert (await refresh(api, admin.refresh_token)).status == 200  # and still signed in


@pytest.fixture
async def users_schema(stack: Any) -> AsyncIterator[Database]:
    """The `users` schema through the administrator's connection (tests only: services never do this)."""
    database = Database(stack.admin_database_url, schema="users", application_name="user-service-tests")
    yield database
    await database.close()


async def test_two_admins_removing_each_other_at_once_leave_one_in_charge(
    api: UserApi, new_admin: Any, users_schema: Database
) -> None:
    first, second = await new_admin(), await new_admin()
    ours = [uuid.UUID(first.id), uuid.UUID(second.id)]
    # For the length of this test the two are the only active admins (the bootstrap admin included
    # is set aside and restored): each is the other's "last other admin".
    set_aside = await users_schema.fetch(
        "UPDATE user_account SET is_active = false WHERE role = 'admin' AND is_active AND id <> ALL($1) RETURNING id",
        ours,
    )
    try:
        # Hold both rows, so both requests get past their guard and then wait on the rows together:
        # a real race, not whichever request happens to be faster.
        async with users_schema.transaction() as conn:
            await conn.execute("SELECT 1 FROM user_account WHERE id = ANY($1) FOR UPDATE", ours)
            racing = asyncio.gather(
                patch_account(api, first.access_token, second.id, role="customer"),
                patch_account(api, second.access_token, first.id, is_active=False),
            )
            await until_waiting_on_locks(users_schema, count=2)
        replies = await racing
        admins = await users_schema.fetch(
            "SELECT id FROM user_account WHERE role = 'admin' AND is_active AND id = ANY($1)", ours
        )
    finally:
        await users_schema.fetch(
            "UPDATE user_account SET is_active = true WHERE id = ANY($1) RETURNING id", [r["id"] for r in set_aside]
        )
    assert len(admins) == 1, [(r.status, r.body) for r in replies]
    statuses = sorted(r.status for r in replies)
    assert statuses[0] == 200 and statuses[1] in (403, 409), [(r.status, r.body) for r in replies]


async def until_waiting_on_locks(database: Database, *, count: int) -> None:
    """Wait until `count` of the user service's connections wait for a row lock."""
    async with asyncio.timeout(10):
        while True:
            row = await database.fetchrow(
                "SELECT count(*) AS waiting FROM pg_stat_activity "
                "WHERE application_name = 'user-service' AND wait_event_type = 'Lock'"
            )
            if row is not None and row["waiting"] >= count:
                return
            await asyncio.sleep(0.02)
