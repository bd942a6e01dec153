"""Who may read a payment: its owner and admins; anyone else gets 404, nobody gets in without a token."""

from __future__ import annotations

from typing import Any


async def test_owner_and_admin_read_a_payment_and_other_shoppers_get_404(
    internal: Any, public: Any, charge_body: Any, new_shopper: Any, admin_token: str
) -> None:
    owner, stranger = await new_shopper(), await new_shopper()
    body = charge_body(user_id=owner.user_id)
    payment = (await internal.call("POST", "/internal/v1/payments", json=body)).ok(201)
    path = f"/v1/payments/{payment['id']}"

    assert (await public.as_(owner.token).call("GET", path)).ok(200) == payment
    assert (await public.as_(admin_token).call("GET", path)).ok(200) == payment
    (await public.as_(stranger.token).call("GET", path)).problem(404)
    (await public.call("GET", path)).problem(401)
    (await public.as_("not-a-token").call("GET", path)).problem(401)
    (await public.as_(owner.token).call("GET", "/v1/payments/0190a0a0-0000-7000-8000-000000000000")).problem(404)


async def test_listing_shows_a_shopper_their_own_payments_and_an_admin_everyones(
    internal: Any, public: Any, charge_body: Any, new_shopper: Any, admin_token: str
) -> None:
    owner, stranger = await new_shopper(), await new_shopper()
    first = (await internal.call("POST", "/internal/v1/payments", json=charge_body(user_id=owner.user_id))).ok(201)
    second = (await internal.call("POST", "/internal/v1/payments", json=charge_body(user_id=owner.user_id))).ok(201)

    mine = (await public.as_(owner.token).call("GET", "/v1/payments")).ok(200)
    assert [p["id"] for p in mine["items"]] == [second["id"], first["id"]]  # newest first
    assert mine["total"] == 2

    for_order = {"order_id": first["order_id"]}
    assert (await public.as_(owner.token).call("GET", "/v1/payments", params=for_order)).ok(200)["items"] == [first]
    assert (await public.as_(stranger.token).call("GET", "/v1/payments", params=for_order)).ok(200)["items"] == []
    assert (await public.as_(admin_token).call("GET", "/v1/payments", params=for_order)).ok(200)["items"] == [first]
    assert (await public.as_(stranger.token).call("GET", "/v1/payments")).ok(200)["total"] == 0

    paged = (await public.as_(owner.token).call("GET", "/v1/payments", params={"page": 2, "page_size": 1})).ok(200)
    assert ([p["id"] for p in paged["items"]], paged["total"]) == ([first["id"]], 2)
    (await public.call("GET", "/v1/payments")).problem(401)
    (await public.as_(owner.token).call("GET", "/v1/payments", params={"page_size": 1000})).problem(400)


async def test_the_gateway_routes_public_reads_but_never_the_internal_routes(
    gateway: Any, internal: Any, charge_body: Any, new_shopper: Any
) -> None:
    owner = await new_shopper()
    payment = (await internal.call("POST", "/internal/v1/payments", json=charge_body(user_id=owner.user_id))).ok(201)

    assert (await gateway.as_(owner.token).call("GET", f"/v1/payments/{payment['id']}")).ok(200) == payment
    hidden = await gateway.call("POST", "/internal/v1/payments", json=charge_body())
    assert hidden.status == 404, hidden.body
    assert (await gateway.call("GET", f"/internal/v1/payments/{payment['id']}")).status == 404
