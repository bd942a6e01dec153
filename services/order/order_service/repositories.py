"""Orders in the database: each method is one short transaction, so no lock is held across a call to
another service."""

from __future__ import annotations

import asyncio
import datetime
import time
import uuid
from typing import Any
from uuid import UUID

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce_platform.errors import Conflict
from commerce_platform.events.catalog import EventData
from commerce_platform.events.outbox import record_event
from order_service.models import Order, OrderLine, OrderStatusChange
from order_service.status import OrderStatus, ensure_transition

SOURCE = "order-service"
PLACED = (OrderStatus.CONFIRMED, OrderStatus.CANCELLED)


class OrderBook:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def open(
        self, *, user_id: UUID, idempotency_key: str, request_hash: str, shipping_address: dict[str, Any],
        payment_method: str,
    ) -> tuple[Order, bool]:
        """The order for this key: a new `pending` one (True), or the one an earlier request made (False)."""
        order_id = uuid.uuid4()
        async with self.sessions.begin() as session:
            inserted = await session.scalar(
                insert(Order)
                .values(
                    id=order_id, user_id=user_id, status=OrderStatus.PENDING, idempotency_key=idempotency_key,
                    request_hash=request_hash, reservation_id=uuid.uuid4(), payment_method=payment_method,
                    shipping_address=shipping_address,
                )
                .on_conflict_do_nothing(constraint="uq_order_idempotency")
                .returning(Order.id)
            )
            if inserted is not None:
                session.add(OrderStatusChange(order_id=order_id, from_status=None, to_status=OrderStatus.PENDING))
        order = await self.by_key(user_id, idempotency_key)
        assert order is not None
        return order, inserted is not None

    async def by_key(self, user_id: UUID, idempotency_key: str) -> Order | None:
        async with self.sessions() as session:
            order: Order | None = await session.scalar(
                select(Order).where(Order.user_id == user_id, Order.idempotency_key == idempotency_key)
            )
            return order

    async def get(self, order_id: UUID) -> Order | None:
        async with self.sessions() as session:
            return await session.get(Order, order_id)

    async def wait_until_settled(self, order_id: UUID, *, timeout_seconds: float) -> Order:
        """A concurrent request with the same key is still checking out: wait for its outcome."""
        deadline = time.monotonic() + timeout_seconds
        delay = 0.05
        while True:
            order = await self.get(order_id)
            assert order is not None
            if order.status != OrderStatus.PENDING or time.monotonic() > deadline:
                return order
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def price(
        self, order_id: UUID, *, email: str, lines: list[dict[str, Any]], total_cents: int, currency: str
    ) -> None:
        """Record what is being bought before anything is reserved, so recovery knows what to undo."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(Order)
                .where(Order.id == order_id, Order.status == OrderStatus.PENDING)
                .values(email=email, total_cents=total_cents, currency=currency, updated_at=func.now())
            )
            for position, line in enumerate(lines):
                session.add(OrderLine(order_id=order_id, position=position, **line))

    async def confirm(self, order_id: UUID, *, payment_id: UUID, event: EventData, reason: str) -> Order:
        """pending -> confirmed, with the OrderCreated outbox row in the same transaction."""
        async with self.sessions.begin() as session:
            await self._transition(
                session, order_id, OrderStatus.CONFIRMED, reason,
                payment_id=payment_id, confirmed_at=func.now(), recovery_lease_until=None,
            )
            await record_event(session, event, source=SOURCE)
        order = await self.get(order_id)
        assert order is not None
        return order

    async def fail(
        self, order_id: UUID, *, status_code: int, failure: dict[str, Any], reason: str
    ) -> None:
        async with self.sessions.begin() as session:
            await self._transition(
                session, order_id, OrderStatus.FAILED, reason,
                failure_status=status_code, failure=failure, recovery_lease_until=None,
            )

    async def cancel(self, order_id: UUID, *, event: EventData, reason: str) -> Order:
        """confirmed -> cancelled, with the OrderCancelled outbox row in the same transaction."""
        async with self.sessions.begin() as session:
            await self._transition(session, order_id, OrderStatus.CANCELLED, reason, cancelled_at=func.now())
            await record_event(session, event, source=SOURCE)
        order = await self.get(order_id)
        assert order is not None
        return order

    async def clear_failure_flag(self, order_id: UUID, flag: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(Order).where(Order.id == order_id).values(failure=Order.failure.op("-")(flag))
            )

    async def list(self, *, user_id: UUID | None, page: int, page_size: int) -> tuple[list[Order], int]:
        async with self.sessions() as session:
            # Pending and failed checkouts are not orders a customer placed: they exist for
            # idempotency and recovery only.
            query = select(Order).where(Order.status.in_(PLACED))
            if user_id is not None:
                query = query.where(Order.user_id == user_id)
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(Order.created_at.desc(), Order.id.desc()).offset((page - 1) * page_size).limit(page_size)
            )
            return list(rows), int(total or 0)

    async def claim_for_recovery(self, *, stuck_after_seconds: int, lease_seconds: int) -> Order | None:
        """One order that needs recovery, leased to this replica: pending too long, or failed with a
        payment whose outcome was unknown."""
        now = datetime.datetime.now(datetime.UTC)
        async with self.sessions.begin() as session:
            candidate = (
                select(Order.id)
                .where(
                    or_(
                        Order.status == OrderStatus.PENDING,
                        Order.failure.has_key("payment_outcome_unknown"),
                    ),
                    Order.updated_at < now - datetime.timedelta(seconds=stuck_after_seconds),
                    or_(Order.recovery_lease_until.is_(None), Order.recovery_lease_until < now),
                )
                .order_by(Order.updated_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            order_id = await session.scalar(candidate)
            if order_id is None:
                return None
            await session.execute(
                update(Order)
                .where(Order.id == order_id)
                .values(recovery_lease_until=now + datetime.timedelta(seconds=lease_seconds))
            )
        return await self.get(order_id)

    async def _transition(
        self, session: AsyncSession, order_id: UUID, target: OrderStatus, reason: str, **values: Any
    ) -> None:
        current = await session.scalar(select(Order.status).where(Order.id == order_id).with_for_update())
        if current is None:
            raise Conflict("order vanished")
        ensure_transition(current, target)
        await session.execute(
            update(Order).where(Order.id == order_id).values(status=target, updated_at=func.now(), **values)
        )
        session.add(OrderStatusChange(order_id=order_id, from_status=current, to_status=target, reason=reason))
