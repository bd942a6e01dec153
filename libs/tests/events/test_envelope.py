"""The envelope round-trips every catalog event and rejects anything a consumer could not trust."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import msgspec
import pytest

from commerce_platform.events.catalog import (
    EVENT_TYPES,
    EventData,
    OrderCreated,
    OrderLine,
    ProductCreated,
    ProductDeleted,
    ShippingAddress,
    StockChanged,
)
from commerce_platform.events.envelope import (
    MalformedEvent,
    UnknownEventType,
    decode_event,
    encode_envelope,
    new_envelope,
    topic_of,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def samples() -> list[EventData]:
    product_id = uuid4()
    return [
        ProductCreated(
            product_id=product_id,
            sku="SKU-1",
            name="Trail shoe",
            description="Grippy",
            price_cents=12_999,
            currency="EUR",
            category_slug="shoes",
            category_path=["clothing", "shoes"],
            attributes={"size": [42, 43], "colour": "red", "waterproof": True},
            revision=1,
            created_at=NOW,
            updated_at=NOW,
        ),
        ProductDeleted(product_id=product_id, sku="SKU-1", revision=3, deleted_at=NOW),
        StockChanged(
            product_id=product_id, on_hand=10, reserved=2, available=8, revision=7, reason="reserve", occurred_at=NOW
        ),
        OrderCreated(
            order_id=uuid4(),
            user_id=uuid4(),
            email="ann@example.com",
            reservation_id=uuid4(),
            items=[
                OrderLine(product_id=product_id, sku="SKU-1", name="Trail shoe", quantity=2, unit_price_cents=12_999)
            ],
            total_cents=25_998,
            currency="EUR",
            shipping_address=ShippingAddress(
                full_name="Ann", line1="1 Main St", city="Lyon", postal_code="69001", country="FR"
            ),
            created_at=NOW,
        ),
    ]


@pytest.mark.parametrize("data", samples(), ids=lambda d: type(d).__name__)
def test_round_trip(data: EventData) -> None:
    envelope = new_envelope(data, source="tests")
    decoded_envelope, decoded = decode_event(encode_envelope(envelope))
    assert decoded == data
    assert decoded_envelope == envelope
    assert envelope.type == type(data).__name__
    assert envelope.version == EVENT_TYPES[envelope.type][2]
    assert envelope.occurred_at.tzinfo is not None


def test_topic_comes_from_the_catalog() -> None:
    assert topic_of("StockChanged") == "inventory-events"
    assert topic_of("OrderCancelled") == "order-events"
    with pytest.raises(UnknownEventType):
        topic_of("Nope")


def test_unregistered_struct_cannot_be_published() -> None:
    class NotInCatalog(EventData, kw_only=True, frozen=True):
        x: int

    with pytest.raises(UnknownEventType):
        new_envelope(NotInCatalog(x=1), source="tests")


def _valid_wire() -> dict[str, Any]:
    data = samples()[1]
    wire: dict[str, Any] = msgspec.to_builtins(new_envelope(data, source="tests"))
    return wire


def _with(**changes: Any) -> bytes:
    wire = _valid_wire()
    for key, value in changes.items():
        if value is None:
            wire.pop(key)
        else:
            wire[key] = value
    return json.dumps(wire).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not an event envelope"),
        (b"", "not an event envelope"),
        (b"[1, 2]", "not an event envelope"),
        (_with(id="not-a-uuid"), "not an event envelope"),
        (_with(type=None), "not an event envelope"),
        (_with(version="1"), "not an event envelope"),
        (_with(occurred_at="2026-11-25T12:00:00"), "not an event envelope"),  # no time zone
        (_with(data=[1]), "not an event envelope"),
        (_with(type="ProductExploded"), "unknown event type"),
        (_with(version=99), "version 99 is not supported"),
        (_with(data={"product_id": str(uuid4()), "sku": "x", "revision": 1}), "payload does not match"),
        (
            _with(data={"product_id": str(uuid4()), "sku": "x", "revision": "1", "deleted_at": NOW.isoformat()}),
            "payload does not match",
        ),
        (
            _with(data={"product_id": "nope", "sku": "x", "revision": 1, "deleted_at": NOW.isoformat()}),
            "payload does not match",
        ),
    ],
    ids=[
        "garbage",
        "empty",
        "not-an-object",
        "bad-id",
        "missing-type",
        "version-as-string",
        "naive-timestamp",
        "data-not-an-object",
        "unknown-type",
        "unknown-version",
        "missing-payload-field",
        "mistyped-payload-field",
        "bad-payload-uuid",
    ],
)
def test_strict_rejection(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        decode_event(body)


def test_unknown_fields_are_tolerated_for_forward_compatibility() -> None:
    wire = _valid_wire()
    wire["producer_build"] = "abc"
    wire["data"]["new_field"] = 1
    _envelope, data = decode_event(json.dumps(wire))
    assert isinstance(data, ProductDeleted)
