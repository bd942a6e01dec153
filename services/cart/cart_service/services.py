"""Cart operations on the platform's asyncpg pool: read, add, change, remove, merge, and taking ordered
lines out. The SQL and why it is safe under concurrency are in `queries`.

Connections come from the platform's asyncpg pool (`Database`), as in the payment service: single
statements run in autocommit, multi-statement changes in a short explicit transaction, and no
connection is held while the product service is asked for prices (the controllers call it between
statements).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from cart_service import queries
from cart_service.schemas import MAX_LINES, MAX_QUANTITY, OrderedLine
from commerce_platform.database import Database
from commerce_platform.errors import NotFound, Unprocessable


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Line:
    product_id: UUID
    quantity: int


@dataclass(frozen=True, slots=True)
class Cart:
    """A cart as read: `id` is None when there is none yet; `token` is set only on a guest cart that
    was just created (the one moment its owner learns it)."""

    id: UUID | None
    lines: list[Line]
    token: str | None = None


NO_CART = Cart(None, [])


@dataclass(frozen=True, slots=True)
class Merged:
    """A merged guest cart: the user's cart it went into, and its lines that stayed out (the guest
    cart is deleted either way)."""

    cart_id: UUID
    left_out: list[Line]


def _cart(rows: Sequence[asyncpg.Record]) -> Cart:
    """Rows of (cart id, product id, quantity), a NULL product for an empty cart, into a Cart."""
    if not rows:
        return NO_CART
    return Cart(rows[0][0], [Line(row[1], row[2]) for row in rows if row[1] is not None])


class CartStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- reads -----------------------------------------------------------------------------------
    async def of_user(self, user_id: UUID) -> Cart:
        return _cart(await self.database.fetch(queries.USER_CART_LINES, user_id))

    async def of_guest(self, token: str) -> Cart:
        """The live guest cart of this token (NO_CART for an unknown or lapsed one)."""
        return _cart(await self.database.fetch(queries.GUEST_CART_LINES, hash_token(token)))

    async def lines(self, cart_id: UUID) -> list[Line]:
        return [Line(row[0], row[1]) for row in await self.database.fetch(queries.CART_LINES, cart_id)]

    # -- adding ----------------------------------------------------------------------------------
    async def add(
        self, product_id: UUID, quantity: int, *, user_id: UUID | None = None, guest_cart_id: UUID | None = None
    ) -> Cart:
        """Add to a line (creating it, and the cart if need be) and return the cart with it.

        The cart is the user's if `user_id` is given, else the guest cart `guest_cart_id`, else a new
        guest cart (whose token the result carries). 422 when the line would exceed the bound or the
        cart is full; 404 when the guest cart lapsed or was merged since it was read.
        """
        token: str | None = None
        if user_id is not None:
            rows = await self.database.fetch(queries.ADD_FOR_USER, user_id, product_id, quantity)
        elif guest_cart_id is not None:
            rows = await self.database.fetch(queries.ADD_FOR_GUEST, guest_cart_id, product_id, quantity)
        else:
            token = secrets.token_urlsafe(32)
            rows = await self.database.fetch(queries.ADD_TO_NEW_GUEST, hash_token(token), product_id, quantity)
        if not rows:
            raise NotFound("that cart is gone (it may have expired or been merged)")
        added: int | None = rows[0][1]
        # The lines as the statement found them, with the line it changed put right.
        lines = [Line(row[2], row[3]) for row in rows if row[2] is not None]
        if added is None:
            if len(lines) >= MAX_LINES and all(line.product_id != product_id for line in lines):
                raise Unprocessable(f"a cart holds at most {MAX_LINES} different products")
            raise Unprocessable(f"at most {MAX_QUANTITY} of one product per cart")
        for index, line in enumerate(lines):
            if line.product_id == product_id:
                lines[index] = Line(product_id, added)
                break
        else:
            lines.append(Line(product_id, added))  # a new line is the newest
        return Cart(rows[0][0], lines, token)

    # -- changing --------------------------------------------------------------------------------
    async def set_quantity(self, cart_id: UUID, product_id: UUID, quantity: int) -> None:
        if await self.database.fetchrow(queries.SET_QUANTITY, cart_id, product_id, quantity) is None:
            raise NotFound("that product is not in the cart")

    async def remove(self, cart_id: UUID, product_id: UUID) -> None:
        if await self.database.fetchrow(queries.REMOVE_LINE, cart_id, product_id) is None:
            raise NotFound("that product is not in the cart")

    async def clear(self, cart_id: UUID) -> None:
        await self.database.fetch(queries.CLEAR, cart_id)

    async def merge_guest(self, user_id: UUID, token: str, *, leave_out: Collection[UUID] = ()) -> Merged | None:
        """Move the token's guest cart into the user's cart and delete it, atomically; None when there
        is no such live guest cart (merged by a concurrent request a moment ago, or lapsed).

        Quantities of a product in both add up (capped); new products move while the cart has room
        for them (MAX_LINES), oldest first. Products in `leave_out` do not move. The callers read the
        guest cart first (`of_guest`): a token merged already costs no transaction.
        """
        async with self.database.transaction() as conn:
            guest_id = await conn.fetchval(queries.LOCK_GUEST_CART, hash_token(token))
            if guest_id is None:
                return None
            cart_id: UUID = await conn.fetchval(queries.OWNER_USER, user_id)
            rows = await conn.fetch(queries.MERGE_INTO_USER, cart_id, guest_id, list(leave_out))
        return Merged(cart_id, [Line(row[0], row[1]) for row in rows])

    async def remove_ordered(self, user_id: UUID, order_id: UUID, ordered: Sequence[OrderedLine]) -> bool:
        """Take an order's lines out of the user's cart once; False if this order was already applied
        (or the user has no cart).

        Only the ordered quantities leave: a product added while checkout ran stays in the cart.
        """
        totals: dict[UUID, int] = {}
        for line in ordered:  # one entry per product, so each line changes once
            totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
        products, quantities = list(totals), list(totals.values())
        async with self.database.transaction() as conn:
            # Locks the cart row before the two statements below touch its lines (see queries).
            cart_id = await conn.fetchval(queries.RECORD_CHECKOUT, user_id, order_id)
            if cart_id is None:
                return False
            await conn.execute(queries.DELETE_USED_UP, cart_id, products, quantities)
            await conn.execute(queries.DECREMENT_REST, cart_id, products, quantities)
        return True
