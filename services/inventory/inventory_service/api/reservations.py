"""`/internal/v1/reservations`: checkout holds for the order service (never routed publicly)."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_409_CONFLICT

from inventory_service.reservations import Reservations
from inventory_service.schemas import InsufficientStockProblem, ReservationOut, ReserveRequest
from inventory_service.views import reservation_of


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
                description="Some lines cannot be covered (nothing was reserved), or the id was used for other lines",
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

    @post("/{reservation_id:uuid}/release", operation_id="releaseReservation", status_code=HTTP_200_OK)
    async def release_reservation(self, reservation_id: UUID, reservations: Reservations) -> ReservationOut:
        """Give the held units back; idempotent; 409 if committed (cancelling the order restocks it)."""
        return reservation_of(await reservations.release(reservation_id))
