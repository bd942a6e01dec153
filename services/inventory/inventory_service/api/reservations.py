"""`/internal/v1/reservations`: checkout holds for the order service (never routed publicly)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_404_NOT_FOUND, HTTP_409_CONFLICT

from commerce_platform.errors import PROBLEM_MEDIA_TYPE
from inventory_service.reservations import Reservations
from inventory_service.schemas import InsufficientStockProblem, ReservationOut, ReserveRequest
from inventory_service.views import reservation_of


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=dict[str, Any], description=description, media_type=PROBLEM_MEDIA_TYPE, generate_examples=False
    )


class ReservationController(Controller):
    path = "/internal/v1/reservations"
    tags = ["internal"]

    @post(
        "",
        operation_id="createReservation",
        responses={
            HTTP_200_OK: ResponseSpec(ReservationOut, description="The same id was already used for these lines"),
            HTTP_409_CONFLICT: ResponseSpec(
                InsufficientStockProblem,
                description="Some lines cannot be covered (nothing was reserved), the id was used for other lines,"
                " or it was released or expired (reservation-closed)",
                media_type="application/problem+json",
            ),
        },
    )
    async def create_reservation(self, data: ReserveRequest, reservations: Reservations) -> Response[ReservationOut]:
        """Hold every line or none (409 lists the short lines); 201 when created, 200 when the same
        reservation id was already used for the same lines."""
        reservation, created = await reservations.reserve(data.reservation_id, data.quantities(), data.ttl_seconds)
        return Response(reservation_of(reservation), status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/{reservation_id:uuid}", operation_id="getReservation", cache=False)
    async def get_reservation(self, reservation_id: UUID, reservations: Reservations) -> ReservationOut:
        """A reservation with its lines and status (held, committed, released, expired, restocked)."""
        return reservation_of(await reservations.get(reservation_id))

    @post("/{reservation_id:uuid}/commit", operation_id="commitReservation", status_code=HTTP_200_OK)
    async def commit_reservation(self, reservation_id: UUID, reservations: Reservations) -> ReservationOut:
        """The held units are sold and leave on_hand; idempotent; 409 if the hold expired or was released."""
        return reservation_of(await reservations.commit(reservation_id))

    @post(
        "/{reservation_id:uuid}/pin",
        operation_id="pinReservation",
        status_code=HTTP_200_OK,
        responses={
            HTTP_404_NOT_FOUND: _problem("No reservation with this id"),
            HTTP_409_CONFLICT: _problem(
                "reservation-not-held: the hold expired, was released, or is past its expiry; it was not pinned"
            ),
        },
    )
    async def pin_reservation(self, reservation_id: UUID, reservations: Reservations) -> ReservationOut:
        """Keep a live hold until its order settles (the order was paid for): it no longer expires,
        and commit, release and cancel still apply. Idempotent, also once committed."""
        return reservation_of(await reservations.pin(reservation_id))

    @post("/{reservation_id:uuid}/release", operation_id="releaseReservation", status_code=HTTP_200_OK)
    async def release_reservation(self, reservation_id: UUID, reservations: Reservations) -> ReservationOut:
        """Give the held units back; idempotent; 409 if committed (cancelling the order restocks it).
        An unknown id is recorded as released, so a reserve with it arriving later is refused."""
        return reservation_of(await reservations.release(reservation_id))
