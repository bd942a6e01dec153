"""The bootstrap administrator: created when missing, and an existing account promoted only with its password."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

from commerce_platform.database import Database
from user_service.bootstrap import BootstrapOutcome, ensure_admin
from user_service.passwords import PasswordHashing

if TYPE_CHECKING:
    from conftest import UserApi

pytestmark = pytest.mark.stack

OPERATOR_PASSWORD = "Operator-Chosen-Secret-7"
SQUATTER_PASSWORD = "Squatter-Chosen-Secret-8"


@pytest.fixture
async def users_schema(stack: Any) -> AsyncIterator[Database]:
    """The `users` schema through the administrator's connection (tests only: services never do this)."""
    database = Database(stack.admin_database_url, schema="users", application_name="user-service-tests")
    yield database
    await database.close()


@pytest.fixture(scope="module")
def hashing() -> PasswordHashing:
    return PasswordHashing(time_cost=1, memory_kib=8192, parallelism=1, workers=1)


async def role_of(database: Database, email: str) -> str | None:
    row = await database.fetchrow("SELECT role FROM user_account WHERE lower(email) = lower($1)", email)
    return None if row is None else str(row["role"])


async def test_an_account_registered_first_by_someone_else_is_not_promoted(
    api: UserApi, users_schema: Database, hashing: PasswordHashing
) -> None:
    # Somebody signed up with the address (in another letter case) before the operator set it.
    email = api.unique_email("ops")
    squatted = email[0].upper() + email[1:]
    assert (await api.register(squatted, SQUATTER_PASSWORD)).status == 201

    outcome = await ensure_admin(users_schema, hashing, email=email, password=OPERATOR_PASSWORD)

    assert outcome is BootstrapOutcome.REFUSED
    assert await role_of(users_schema, email) == "customer"
    assert (await api.login(squatted, SQUATTER_PASSWORD)).status == 200  # left alone, password and all


async def test_an_existing_account_is_promoted_when_the_bootstrap_password_opens_it(
    api: UserApi, users_schema: Database, hashing: PasswordHashing
) -> None:
    email = api.unique_email("ops")
    assert (await api.register(email, OPERATOR_PASSWORD)).status == 201

    promoted = await ensure_admin(users_schema, hashing, email=email, password=OPERATOR_PASSWORD)
    assert promoted is BootstrapOutcome.PROMOTED
    assert await role_of(users_schema, email) == "admin"
    again = await ensure_admin(users_schema, hashing, email=email, password="Changed-Since-Then-9")
    assert again is BootstrapOutcome.ALREADY_ADMIN  # an admin that changed its password stays one


async def test_a_missing_admin_is_created(api: UserApi, users_schema: Database, hashing: PasswordHashing) -> None:
    email = api.unique_email("ops")
    created = await ensure_admin(users_schema, hashing, email=email, password=OPERATOR_PASSWORD)
    assert created is BootstrapOutcome.CREATED
    signed_in = await api.login(email, OPERATOR_PASSWORD)
    assert signed_in.status == 200, signed_in.body
    assert (await api.call("GET", "/v1/users", token=signed_in.body["access_token"])).status == 200
