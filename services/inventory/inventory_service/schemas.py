"""Request and response bodies of the inventory API, validated at the edge by msgspec.

Request bodies forbid unknown fields, so a misspelt field is a 400 rather than silently ignored.
"""

from __future__ import annotations

import datetime
import enum
from typing import Annotated
from uuid import UUID

from msgspec import Meta, Struct

# Bounds keep every figure far inside Postgres `integer`, whatever a client sends.
MAX_UNITS = 1_000_000_000
OnHand = Annotated[int, Meta(ge=0, le=MAX_UNITS, description="units physically in stock")]
Delta = Annotated[int, Meta(ge=-MAX_UNITS, le=MAX_UNITS, description="non-zero change of on_hand")]
Quantity = Annotated[int, Meta(gt=0, le=1_000_000)]
Note = Annotated[str, Meta(max_length=500)]
DEFAULT_TTL_SECONDS = 900
# A checkout holds stock for minutes; an hour bounds what a stuck caller can lock away.
TtlSeconds = Annotated[int, Meta(ge=1, le=3600, description="seconds until the hold expires")]
MAX_LINES = 100


class AdjustmentReason(enum.StrEnum):
    """Why an admin changes stock by hand; the reason fixes the direction of the change."""

    RESTOCK = "restock"
    CUSTOMER_RETURN = "customer_return"
    DAMAGE = "damage"
    SHRINKAGE = "shrinkage"
    CORRECTION = "correction"


_INCREASES = {AdjustmentReason.RESTOCK, AdjustmentReason.CUSTOMER_RETURN}
_DECREASES = {AdjustmentReason.DAMAGE, AdjustmentReason.SHRINKAGE}


class SetStockRequest(Struct, forbid_unknown_fields=True):
    on_hand: OnHand


class AdjustmentRequest(Struct, forbid_unknown_fields=True):
    delta: Delta
    reason: AdjustmentReason
    note: Note | None = None

    def __post_init__(self) -> None:
        if self.delta == 0:
            raise ValueError("delta: must not be zero")
        if self.reason in _INCREASES and self.delta < 0:
            raise ValueError(f"delta: a {self.reason.value} adds stock, so delta must be positive")
        if self.reason in _DECREASES and self.delta > 0:
            raise ValueError(f"delta: {self.reason.value} removes stock, so delta must be negative")


class StockLevel(Struct):
    product_id: UUID
    on_hand: int
    reserved: int
    available: int


class Movement(Struct):
    id: UUID
    product_id: UUID
    delta: int
    on_hand_after: int
    reason: str
    note: str | None
    reservation_id: UUID | None
    actor_id: UUID | None
    created_at: datetime.datetime


class MovementPage(Struct):
    items: list[Movement]
    total: int
    page: int
    page_size: int


class ReservationLineIn(Struct, forbid_unknown_fields=True):
    product_id: UUID
    quantity: Quantity


class ReserveRequest(Struct, forbid_unknown_fields=True):
    # Chosen by the caller: repeating a request with the same id returns the same reservation.
    reservation_id: UUID
    lines: Annotated[list[ReservationLineIn], Meta(min_length=1, max_length=MAX_LINES)]
    ttl_seconds: TtlSeconds = DEFAULT_TTL_SECONDS

    def __post_init__(self) -> None:
        if len({line.product_id for line in self.lines}) != len(self.lines):
            raise ValueError("lines: each product may appear only once")

    def quantities(self) -> dict[UUID, int]:
        return {line.product_id: line.quantity for line in self.lines}


class ReservationLineOut(Struct):
    product_id: UUID
    quantity: int


class ReservationOut(Struct):
    reservation_id: UUID
    status: str
    # Null once pinned: the order was paid for, so the hold waits for its order to settle instead.
    expires_at: datetime.datetime | None
    pinned: bool
    lines: list[ReservationLineOut]
    created_at: datetime.datetime
    committed_at: datetime.datetime | None
    closed_at: datetime.datetime | None


class ShortLine(Struct):
    """A reservation line the stock cannot cover, as listed in the 409 problem's `short_lines`."""

    product_id: UUID
    requested: int
    available: int


class InsufficientStockProblem(Struct):
    """The 409 body of a reservation the stock cannot cover (RFC 9457 plus `short_lines`)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    short_lines: list[ShortLine]
