"""Cart operations in SQL: find-or-create, add, change, remove, merge, and taking ordered lines out.

Writes use single upserts so two tabs adding the same product at once add both quantities, and the
CHECK/unique constraints stay the last word on bounds.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cart_service.models import Cart, CartItem, CheckoutRecord
from cart_service.schemas import MAX_LINES, MAX_QUANTITY, OrderedLine
from commerce_platform.errors import NotFound, Unprocessable

GUEST_CART_DAYS = 30


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class CartRef:
    """The cart a request acts on; `token` is set only when a guest cart was just created."""

    id: UUID
    token: str | None = None


@dataclass(frozen=True)
class Line:
    product_id: UUID
    quantity: int


class CartStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- finding carts ---------------------------------------------------------------------------
    async def user_cart(self, user_id: UUID) -> CartRef:
        await self.session.execute(
            insert(Cart).values(id=uuid.uuid4(), user_id=user_id).on_conflict_do_nothing(index_elements=["user_id"])
        )
        cart_id = await self.session.scalar(select(Cart.id).where(Cart.user_id == user_id))
        assert cart_id is not None
        return CartRef(cart_id)

    async def find_user_cart(self, user_id: UUID) -> UUID | None:
        cart_id: UUID | None = await self.session.scalar(select(Cart.id).where(Cart.user_id == user_id))
        return cart_id

    async def guest_cart(self, token: str) -> UUID | None:
        cart_id: UUID | None = await self.session.scalar(
            select(Cart.id).where(Cart.guest_token_hash == hash_token(token), Cart.expires_at > func.now())
        )
        return cart_id

    async def new_guest_cart(self) -> CartRef:
        token = secrets.token_urlsafe(32)
        cart_id = uuid.uuid4()
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=GUEST_CART_DAYS)
        await self.session.execute(
            insert(Cart).values(id=cart_id, guest_token_hash=hash_token(token), expires_at=expires)
        )
        return CartRef(cart_id, token)

    # -- lines -----------------------------------------------------------------------------------
    async def lines(self, cart_id: UUID) -> list[Line]:
        rows = await self.session.execute(
            select(CartItem.product_id, CartItem.quantity)
            .where(CartItem.cart_id == cart_id)
            .order_by(CartItem.created_at, CartItem.id)
        )
        return [Line(product_id, quantity) for product_id, quantity in rows]

    async def add(self, cart_id: UUID, product_id: UUID, quantity: int) -> int:
        """Add to a line (creating it); 422 if the line would exceed the bound or the cart is full."""
        existing = await self.session.scalar(
            select(CartItem.quantity).where(CartItem.cart_id == cart_id, CartItem.product_id == product_id)
        )
        if existing is None:
            count = await self.session.scalar(select(func.count()).where(CartItem.cart_id == cart_id))
            if (count or 0) >= MAX_LINES:
                raise Unprocessable(f"a cart holds at most {MAX_LINES} different products")
        statement = insert(CartItem).values(id=uuid.uuid4(), cart_id=cart_id, product_id=product_id, quantity=quantity)
        statement = statement.on_conflict_do_update(
            constraint="uq_cart_item_product",
            set_={"quantity": CartItem.quantity + statement.excluded.quantity, "updated_at": func.now()},
            where=(CartItem.quantity + statement.excluded.quantity) <= MAX_QUANTITY,
        ).returning(CartItem.quantity)
        new_quantity = await self.session.scalar(statement)
        if new_quantity is None:
            raise Unprocessable(f"at most {MAX_QUANTITY} of one product per cart")
        await self._touch(cart_id)
        return int(new_quantity)

    async def set_quantity(self, cart_id: UUID, product_id: UUID, quantity: int) -> None:
        result = await self.session.execute(
            update(CartItem)
            .where(CartItem.cart_id == cart_id, CartItem.product_id == product_id)
            .values(quantity=quantity, updated_at=func.now())
            .returning(CartItem.id)
        )
        if result.first() is None:
            raise NotFound("that product is not in the cart")
        await self._touch(cart_id)

    async def remove(self, cart_id: UUID, product_id: UUID) -> None:
        result = await self.session.execute(
            delete(CartItem)
            .where(CartItem.cart_id == cart_id, CartItem.product_id == product_id)
            .returning(CartItem.id)
        )
        if result.first() is None:
            raise NotFound("that product is not in the cart")
        await self._touch(cart_id)

    async def clear(self, cart_id: UUID) -> None:
        await self.session.execute(delete(CartItem).where(CartItem.cart_id == cart_id))
        await self._touch(cart_id)

    async def merge_guest_into(self, guest_cart_id: UUID, user_cart_id: UUID) -> None:
        """Move a guest cart's lines into the user's cart (quantities add up, capped), then drop it."""
        if guest_cart_id == user_cart_id:
            return
        for line in await self.lines(guest_cart_id):
            statement = insert(CartItem).values(
                id=uuid.uuid4(), cart_id=user_cart_id, product_id=line.product_id, quantity=line.quantity
            )
            statement = statement.on_conflict_do_update(
                constraint="uq_cart_item_product",
                set_={
                    "quantity": func.least(CartItem.quantity + statement.excluded.quantity, MAX_QUANTITY),
                    "updated_at": func.now(),
                },
            )
            await self.session.execute(statement)
        await self.session.execute(delete(Cart).where(Cart.id == guest_cart_id))

    async def remove_ordered(self, cart_id: UUID, order_id: UUID, ordered: list[OrderedLine]) -> bool:
        """Take an order's lines out of the cart once; False if this order was already applied.

        Only the ordered quantities leave: a product added while checkout ran stays in the cart.
        """
        recorded = await self.session.execute(
            insert(CheckoutRecord)
            .values(id=uuid.uuid4(), order_id=order_id, cart_id=cart_id)
            .on_conflict_do_nothing(index_elements=["order_id"])
            .returning(CheckoutRecord.id)
        )
        if recorded.first() is None:
            return False
        for line in ordered:
            here = (CartItem.cart_id == cart_id, CartItem.product_id == line.product_id)
            # Delete what the order used up first, so the decrement never crosses the CHECK (>= 1).
            await self.session.execute(delete(CartItem).where(*here, CartItem.quantity <= line.quantity))
            await self.session.execute(
                update(CartItem).where(*here).values(quantity=CartItem.quantity - line.quantity, updated_at=func.now())
            )
        await self._touch(cart_id)
        return True

    async def _touch(self, cart_id: UUID) -> None:
        await self.session.execute(update(Cart).where(Cart.id == cart_id).values(updated_at=func.now()))
