"""Charge requests the service refuses before touching the provider: 400 problems naming the field."""

from __future__ import annotations

from typing import Any

import pytest

BAD_FIELDS = [
    ("amount_cents", 0),
    ("amount_cents", -100),
    ("amount_cents", 100_000_000),
    ("amount_cents", 12.5),
    ("currency", "eur"),
    ("currency", "EURO"),
    ("currency", "E1R"),
    ("currency", "XXX"),
    ("currency", ""),
    ("order_id", "order-1"),
    ("user_id", 42),
    ("payment_method", "visa"),
    ("payment_method", ""),
    ("payment_method", "pm_card visa"),
    ("idempotency_key", ""),
    ("idempotency_key", "k" * 201),
    ("idempotency_key", "has space"),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
async def test_a_bad_field_is_400(internal: Any, charge_body: Any, payments_db: Any, field: str, value: Any) -> None:
    body = charge_body(**{field: value})

    problem = (await internal.call("POST", "/internal/v1/payments", json=body)).problem(400)

    assert field in problem["detail"] or field in str(problem.get("errors")), problem
    stored = await payments_db.fetchval(
        "SELECT count(*) FROM payments.payment WHERE order_id::text = $1", str(body["order_id"])
    )
    assert stored == 0


@pytest.mark.parametrize(
    "missing", ["order_id", "user_id", "amount_cents", "currency", "payment_method", "idempotency_key"]
)
async def test_a_missing_field_is_400(internal: Any, charge_body: Any, missing: str) -> None:
    body = charge_body()
    del body[missing]

    problem = (await internal.call("POST", "/internal/v1/payments", json=body)).problem(400)

    assert missing in problem["detail"], problem


async def test_an_unknown_field_or_a_body_that_is_not_json_is_400(internal: Any, charge_body: Any) -> None:
    (await internal.call("POST", "/internal/v1/payments", json={**charge_body(), "tip_cents": 5})).problem(400)
    (await internal.call("POST", "/internal/v1/payments", data=b"{not json")).problem(400)
    (await internal.call("POST", "/internal/v1/payments", json=[charge_body()])).problem(400)


async def test_a_malformed_payment_id_is_not_a_route(internal: Any, public: Any) -> None:
    assert (await internal.call("GET", "/internal/v1/payments/not-a-uuid")).status == 404
    assert (await internal.call("POST", "/internal/v1/payments/not-a-uuid/refund", json={})).status == 404
