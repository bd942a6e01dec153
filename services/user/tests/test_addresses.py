"""The address book: validation, ownership and its size limit."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import NewAccount, UserApi

pytestmark = pytest.mark.stack

ADDRESSES = "/v1/users/me/addresses"


def address(**overrides: Any) -> dict[str, Any]:
    body = {
        "full_name": "Ann Lee",
        "line1": "1 Main Street",
        "line2": "Apt 4",
        "city": "Springfield",
        "region": "IL",
        "postal_code": "62701",
        "country": "US",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


async def test_another_users_address_is_404(api: UserApi, new_account: NewAccount) -> None:
    owner, intruder = await new_account("owner"), await new_account("intruder")
    created = await api.call("POST", ADDRESSES, token=owner.access_token, json=address())
    assert created.status == 201
    path = f"{ADDRESSES}/{created.body['id']}"

    (await api.call("GET", path, token=intruder.access_token)).problem(404)
    (await api.call("PATCH", path, token=intruder.access_token, json={"city": "Elsewhere"})).problem(404)
    (await api.call("DELETE", path, token=intruder.access_token)).problem(404)
    listed = await api.call("GET", ADDRESSES, token=intruder.access_token)
    assert listed.status == 200 and listed.body == []

    unchanged = await api.call("GET", path, token=owner.access_token)
    assert unchanged.status == 200 and unchanged.body["city"] == "Springfield"


async def test_addresses_need_a_signed_in_user(api: UserApi) -> None:
    (await api.call("GET", ADDRESSES)).problem(401)
    (await api.call("POST", ADDRESSES, json=address())).problem(401)


async def test_unknown_address_and_malformed_id(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    (await api.call("GET", f"{ADDRESSES}/{uuid.uuid4()}", token=account.access_token)).problem(404)
    reply = await api.call("GET", f"{ADDRESSES}/not-a-uuid", token=account.access_token)
    assert reply.status in (400, 404)
    reply.problem(reply.status)


@pytest.mark.parametrize(
    "overrides",
    [
        {"country": "de"},
        {"country": "XX"},
        {"country": "DEU"},
        {"country": "UK"},
        {"city": ...},
        {"line1": "   "},
        {"postal_code": ""},
        {"line2": "x" * 201},
        {"country": 49},
        {"is_default": True},
    ],
    ids=["lower-case", "unassigned", "alpha-3", "uk-not-iso", "no-city", "blank-line1", "empty-postcode",
         "long-line2", "country-int", "unknown-field"],
)
async def test_invalid_address_is_400(api: UserApi, new_account: NewAccount, overrides: dict[str, Any]) -> None:
    account = await new_account()
    (await api.call("POST", ADDRESSES, token=account.access_token, json=address(**overrides))).problem(400)


async def test_optional_fields_may_be_left_out_or_cleared(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    created = await api.call("POST", ADDRESSES, token=account.access_token, json=address(line2=..., region=...))
    assert created.status == 201 and created.body["line2"] is None and created.body["region"] is None
    path = f"{ADDRESSES}/{created.body['id']}"
    set_region = await api.call("PATCH", path, token=account.access_token, json={"region": "IL"})
    assert set_region.body["region"] == "IL"
    cleared = await api.call("PATCH", path, token=account.access_token, json={"region": None})
    assert cleared.status == 200 and cleared.body["region"] is None
    (await api.call("PATCH", path, token=account.access_token, json={"country": "XX"})).problem(400)
    (await api.call("PATCH", path, token=account.access_token, json={"city": None})).problem(400)


async def test_lines_are_trimmed_and_blank_optional_lines_dropped(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    created = await api.call(
        "POST", ADDRESSES, token=account.access_token, json=address(line1="  1 Main Street ", line2="   ")
    )
    assert created.status == 201, created.body
    assert created.body["line1"] == "1 Main Street" and created.body["line2"] is None


async def test_address_book_is_capped(api: UserApi, new_account: NewAccount) -> None:
    account = await new_account()
    for n in range(20):
        reply = await api.call("POST", ADDRESSES, token=account.access_token, json=address(line1=f"{n} Main St"))
        assert reply.status == 201, reply.body
    (await api.call("POST", ADDRESSES, token=account.access_token, json=address())).problem(409)
    listed = await api.call("GET", ADDRESSES, token=account.access_token)
    assert [a["line1"] for a in listed.body] == [f"{n} Main St" for n in range(20)]
