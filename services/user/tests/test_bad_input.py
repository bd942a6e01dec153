"""Requests the user service must refuse, each with an RFC 9457 problem body and the right status."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import NewAccount, UserApi

pytestmark = pytest.mark.stack


async def test_malformed_json_is_400(api: UserApi) -> None:
    reply = await api.call("POST", "/v1/auth/register", data=b'{"email": "a@example.com", "password": ')
    reply.problem(400)


@pytest.mark.parametrize(
    "body",
    [
        {"password": "Correct-Horse-Battery-9", "full_name": "Ann"},
        {"email": "x@example.com", "full_name": "Ann"},
        {"email": "x@example.com", "password": "Correct-Horse-Battery-9"},
        {},
    ],
    ids=["no-email", "no-password", "no-name", "empty"],
)
async def test_missing_fields_are_400(api: UserApi, body: dict[str, str]) -> None:
    problem = (await api.call("POST", "/v1/auth/register", json=body)).problem(400)
    assert problem["errors"]


@pytest.mark.parametrize(
    "body",
    [
        {"email": 42, "password": "Correct-Horse-Battery-9", "full_name": "Ann"},
        {"email": "x@example.com", "password": ["Correct-Horse-Battery-9"], "full_name": "Ann"},
        {"email": "x@example.com", "password": "Correct-Horse-Battery-9", "full_name": None},
    ],
    ids=["email-int", "password-list", "name-null"],
)
async def test_wrong_types_are_400(api: UserApi, body: dict[str, object]) -> None:
    (await api.call("POST", "/v1/auth/register", json=body)).problem(400)


async def test_json_that_is_not_an_object_is_400(api: UserApi) -> None:
    (await api.call("POST", "/v1/auth/login", json=["a@example.com", "pw"])).problem(400)


async def test_unknown_fields_are_refused_so_nobody_signs_up_as_admin(api: UserApi) -> None:
    body = {"email": api.unique_email(), "password": "Correct-Horse-Battery-9", "full_name": "Eve", "role": "admin"}
    problem = (await api.call("POST", "/v1/auth/register", json=body)).problem(400)
    assert "role" in problem["detail"]


async def test_oversize_body_is_413(api: UserApi) -> None:
    padding = "x" * (1024 * 1024 + 1)
    reply = await api.call(
        "POST", "/v1/auth/register", json={"email": "big@example.com", "password": padding, "full_name": "Big"}
    )
    reply.problem(413)


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "ann@", "@example.com", "ann@@example.com", "ann@exa mple.com", "ann@localhost"],
)
async def test_invalid_email_is_400(api: UserApi, email: str) -> None:
    problem = (await api.register(email)).problem(400)
    assert "email" in problem["detail"]


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Short-1", "at least 10"),
        ("alllowercaseletters", "mix"),
        ("12345678901234", "mix"),
        ("Aa1-" + "x" * 125, "128"),
        ("{local}-Strong-99", "email"),
    ],
    ids=["too-short", "one-class-letters", "one-class-digits", "too-long", "contains-email"],
)
async def test_weak_password_is_400(api: UserApi, password: str, reason: str) -> None:
    email = api.unique_email("weak")
    problem = (await api.register(email, password.format(local=email.split("@")[0]))).problem(400)
    assert reason in problem["detail"]


async def test_whitespace_only_name_is_400(api: UserApi) -> None:
    (await api.register(api.unique_email(), full_name="   ")).problem(400)


async def test_duplicate_email_is_409_in_any_letter_case(api: UserApi) -> None:
    email = api.unique_email("dup")
    assert (await api.register(email)).status == 201
    (await api.register(email)).problem(409)
    local, domain = email.split("@")
    (await api.register(f"{local.upper()}@{domain.upper()}")).problem(409)
    (await api.register(f"  {email}  ")).problem(409)


async def test_wrong_password_and_unknown_email_are_the_same_401(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    wrong = (await api.login(account.email, "Not-The-Password-1")).problem(401)
    unknown = (await api.login(api.unique_email("nobody"), "Not-The-Password-1")).problem(401)
    malformed = (await api.login("not an email", "Not-The-Password-1")).problem(401)
    assert wrong["detail"] == unknown["detail"] == malformed["detail"]


async def test_profile_update_validates_its_fields(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    token = account.access_token
    (await api.call("PATCH", "/v1/users/me", token=token, json={"phone": "0301234"})).problem(400)
    (await api.call("PATCH", "/v1/users/me", token=token, json={"full_name": ""})).problem(400)
    (await api.call("PATCH", "/v1/users/me", token=token, json={"email": "new@example.com"})).problem(400)
    # Setting the phone and then clearing it with null.
    assert (await api.call("PATCH", "/v1/users/me", token=token, json={"phone": "+14155550100"})).status == 200
    cleared = await api.call("PATCH", "/v1/users/me", token=token, json={"phone": None})
    assert cleared.status == 200 and cleared.body["phone"] is None


async def test_password_change_needs_the_current_password(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    token = account.access_token
    new = "Brand-New-Secret-42"
    (await api.call("PATCH", "/v1/users/me", token=token, json={"new_password": new})).problem(400)
    wrong = {"new_password": new, "current_password": "Not-The-Password-1"}
    (await api.call("PATCH", "/v1/users/me", token=token, json=wrong)).problem(400)
    weak = {"new_password": "weak", "current_password": account.password}
    (await api.call("PATCH", "/v1/users/me", token=token, json=weak)).problem(400)
    assert (await api.login(account.email)).status == 200  # nothing changed so far

    good = {"new_password": new, "current_password": account.password}
    assert (await api.call("PATCH", "/v1/users/me", token=token, json=good)).status == 200
    (await api.login(account.email)).problem(401)
    assert (await api.login(account.email, new)).status == 200
