"""The shopper's whole journey through the user service, directly and through the gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import UserApi

pytestmark = pytest.mark.stack

ADDRESS = {
    "full_name": "Ann Lee",
    "line1": "Torstrasse 1",
    "city": "Berlin",
    "postal_code": "10119",
    "country": "DE",
}


@pytest.mark.parametrize("route", ["direct", "gateway"])
async def test_register_login_profile_addresses_refresh_logout(api: UserApi, stack: Any, route: str) -> None:
    health = await api.call("GET", "/health")  # liveness is per process: the gateway does not route it
    assert health.status == 200 and health.body == {"status": "ok"}
    if route == "gateway":
        api = api.via(stack.gateway_url)

    email = api.unique_email("flow")
    registered = await api.register(email.upper().replace("@EXAMPLE.COM", "@Example.COM"), full_name="  Ann Lee ")
    assert registered.status == 201, registered.body
    user = registered.body
    assert user["email"] == email.upper().replace("@EXAMPLE.COM", "@example.com")  # domain lower-cased only
    assert user["full_name"] == "Ann Lee"
    assert user["role"] == "customer"
    assert user["phone"] is None
    assert {"id", "created_at"} <= user.keys()
    assert "password_hash" not in user

    login = await api.login(email)  # any letter case signs in
    assert login.status == 200, login.body
    tokens = login.body
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    access = tokens["access_token"]

    me = await api.call("GET", "/v1/users/me", token=access)
    assert me.status == 200
    assert me.body == user

    profile_change = {"full_name": "Ann B. Lee", "phone": "+4930123456"}
    changed = await api.call("PATCH", "/v1/users/me", token=access, json=profile_change)
    assert changed.status == 200, changed.body
    assert changed.body["full_name"] == "Ann B. Lee" and changed.body["phone"] == "+4930123456"
    assert (await api.call("GET", "/v1/users/me", token=access)).body["phone"] == "+4930123456"

    created = await api.call("POST", "/v1/users/me/addresses", token=access, json=ADDRESS)
    assert created.status == 201, created.body
    address = created.body
    assert address["line2"] is None and address["region"] is None
    assert {k: address[k] for k in ADDRESS} == ADDRESS

    listed = await api.call("GET", "/v1/users/me/addresses", token=access)
    assert listed.status == 200 and [a["id"] for a in listed.body] == [address["id"]]

    path = f"/v1/users/me/addresses/{address['id']}"
    edited = await api.call("PATCH", path, token=access, json={"line2": "3rd floor", "city": "Potsdam"})
    assert edited.status == 200, edited.body
    assert edited.body["line2"] == "3rd floor" and edited.body["city"] == "Potsdam"
    assert edited.body["line1"] == ADDRESS["line1"]
    fetched = await api.call("GET", path, token=access)
    assert fetched.status == 200 and fetched.body["city"] == "Potsdam"

    deleted = await api.call("DELETE", path, token=access)
    assert deleted.status == 204
    (await api.call("GET", path, token=access)).problem(404)

    refreshed = await api.call("POST", "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status == 200, refreshed.body
    new_tokens = refreshed.body
    assert new_tokens["refresh_token"] != tokens["refresh_token"]
    assert (await api.call("GET", "/v1/users/me", token=new_tokens["access_token"])).status == 200

    logged_out = await api.call("POST", "/v1/auth/logout", json={"refresh_token": new_tokens["refresh_token"]})
    assert logged_out.status == 204
    after = await api.call("POST", "/v1/auth/refresh", json={"refresh_token": new_tokens["refresh_token"]})
    after.problem(401)


async def test_readiness_and_openapi(api: UserApi) -> None:
    ready = await api.call("GET", "/ready")
    assert ready.status == 200 and ready.body["checks"]["database"] == "ok"
    schema = await api.call("GET", "/schema/openapi.json")
    assert schema.status == 200
    operations = {
        op["operationId"]
        for item in schema.body["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert {
        "register", "login", "refresh", "logout", "getMyProfile", "updateMyProfile", "listMyAddresses",
        "createMyAddress", "getMyAddress", "updateMyAddress", "deleteMyAddress", "listUsers", "getJwks",
    } <= operations


async def test_jwks_publishes_the_signing_key_with_caching(api: UserApi) -> None:
    reply = await api.call("GET", "/.well-known/jwks.json")
    assert reply.status == 200
    assert "max-age=300" in reply.headers["cache-control"]
    [key] = reply.body["keys"]
    assert key["alg"] == "RS256" and key["use"] == "sig" and key["kty"] == "RSA"
    assert key["kid"] and key["n"] and key["e"]
    assert "d" not in key and "p" not in key  # never the private parts
