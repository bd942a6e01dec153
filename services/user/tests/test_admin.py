"""Administrator routes and the bootstrap administrator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import NewAccount, UserApi

pytestmark = pytest.mark.stack


async def test_bootstrap_admin_exists_with_the_admin_role(api: UserApi, admin_token: str, stack: Any) -> None:
    me = await api.call("GET", "/v1/users/me", token=admin_token)
    assert me.status == 200
    assert me.body["role"] == "admin"
    assert me.body["email"] == stack.admin_email


async def test_customers_get_403_on_admin_routes(api: UserApi, new_account: NewAccount) -> None:
    customer = await new_account()
    problem = (await api.call("GET", "/v1/users", token=customer.access_token)).problem(403)
    assert "admin" in problem["detail"]


async def test_admin_routes_need_a_token(api: UserApi) -> None:
    (await api.call("GET", "/v1/users")).problem(401)


async def test_admin_lists_users_page_by_page(
    api: UserApi, admin_token: str, new_account: NewAccount, stack: Any
) -> None:
    first = await new_account("listed")
    second = await new_account("listed")
    page_one = await api.call("GET", "/v1/users?page=1&page_size=2", token=admin_token)
    assert page_one.status == 200, page_one.body
    body = page_one.body
    assert body["page"] == 1 and body["page_size"] == 2 and len(body["items"]) == 2
    assert body["total"] >= 3  # the admin and the two just made, at least
    assert {"id", "email", "full_name", "role", "created_at"} <= body["items"][0].keys()
    assert "password_hash" not in body["items"][0]

    # Sign-up order, oldest first; accounts made meanwhile by other tests only append to the end.
    seen: list[str] = []
    page = 1
    while items := (await api.call("GET", f"/v1/users?page={page}&page_size=100", token=admin_token)).body["items"]:
        seen += [u["email"] for u in items]
        page += 1
    assert seen[0] == stack.admin_email or stack.admin_email in seen
    assert seen.index(first.email) < seen.index(second.email)


@pytest.mark.parametrize(
    "query", ["page=0", "page_size=0", "page_size=101", "page=abc", "page=10001", f"page={10**19}"]
)
async def test_bad_paging_is_400(api: UserApi, admin_token: str, query: str) -> None:
    (await api.call("GET", f"/v1/users?{query}", token=admin_token)).problem(400)
