"""A guest cart merged into the user's cart at login: what moves, and what stays out and why.

A shopper who logs in expects the cart they filled as a guest to be there, so the merge never fails
as a whole (it also runs implicitly on any request that carries both a login and a guest token):
what fits moves, and the response lists the rest under `not_merged`. Two things stay out:
- new products once the cart holds MAX_LINES different ones (products already in it only add up);
- products priced in another currency than the user's cart (one cart is one order in one currency).
The guest cart is gone afterwards either way, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from cart_service.pricing import live_currencies
from cart_service.schemas import NotMergedLine
from cart_service.services import CartStore
from commerce_platform.clients.product_catalog import ProductCatalog, ProductPrice


@dataclass(frozen=True, slots=True)
class MergeReport:
    """What a merge left out, and the prices it looked up (the response reuses them)."""

    not_merged: list[NotMergedLine] = field(default_factory=list)
    prices: dict[UUID, ProductPrice] = field(default_factory=dict)


async def merge_guest_cart(
    store: CartStore, catalog: ProductCatalog, user_id: UUID, token: str
) -> MergeReport | None:
    """Merge the token's guest cart into the user's; None when there is no live guest cart for it."""
    # A client may keep sending a token merged long ago: one plain read answers that.
    guest = await store.of_guest(token)
    if guest.id is None:
        return None
    mine = await store.of_user(user_id)
    wanted = list(dict.fromkeys(line.product_id for line in (*mine.lines, *guest.lines)))
    prices = await catalog.prices(wanted)  # no connection is held during this call
    currencies = live_currencies(mine.lines, prices)
    # Check-then-act, like the add's currency check: a line whose currency changes in between still
    # moves, and the cart then shows `mixed_currency` (checkout refuses such a cart).
    foreign = {
        line.product_id
        for line in guest.lines
        if currencies and (price := prices.get(line.product_id)) is not None and price.active
        and price.currency not in currencies
    }
    merged = await store.merge_guest(user_id, token, leave_out=foreign)
    if merged is None:
        return None
    not_merged = [
        NotMergedLine(line.product_id, line.quantity, "other-currency" if line.product_id in foreign else "cart-full")
        for line in merged.left_out
    ]
    return MergeReport(not_merged, prices)
