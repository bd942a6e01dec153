"""HTTP routes of the cart service: the caller's cart (user or guest) and internal routes for checkout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK

from cart_service.merging import MergeReport, merge_guest_cart
from cart_service.pricing import live_currencies, price_cart
from cart_service.schemas import (
    AddItem,
    CartLines,
    CartView,
    ChangeQuantity,
    LineRef,
    MergeCart,
    NotMergedLine,
    RemoveOrdered,
)
from cart_service.services import NO_CART, Cart, CartStore, Line
from commerce_platform.auth import Principal
from commerce_platform.clients.product_catalog import ProductCatalog, ProductPrice
from commerce_platform.database import Database
from commerce_platform.errors import Conflict, NotFound, Unprocessable

CART_TOKEN_HEADER = "x-cart-token"


async def provide_store(database: Database) -> CartStore:
    return CartStore(database)


async def provide_catalog(request: Request[Any, Any, Any]) -> ProductCatalog:
    return ProductCatalog(request.app.state["service_clients"]["product"])


DEPENDENCIES = {"store": Provide(provide_store), "catalog": Provide(provide_catalog)}


@dataclass(frozen=True, slots=True)
class Current:
    """The cart a request acts on, as it is now, and what merging the caller's guest cart into it
    in this request left out (the response reports that once)."""

    cart: Cart
    merge: MergeReport | None = None

    @property
    def not_merged(self) -> list[NotMergedLine]:
        return self.merge.not_merged if self.merge else []

    @property
    def known_prices(self) -> dict[UUID, ProductPrice]:
        return self.merge.prices if self.merge else {}


async def _current(
    request: Request[Any, Any, Any], principal: Principal | None, store: CartStore, catalog: ProductCatalog
) -> Current:
    """The cart this request acts on (NO_CART when there is none yet). A signed-in caller who still
    holds a guest token gets the guest lines merged into their own cart first: that is what a
    shopper expects after logging in."""
    token = request.headers.get(CART_TOKEN_HEADER)
    if principal is not None:
        merge = await merge_guest_cart(store, catalog, principal.user_id, token) if token else None
        return Current(await store.of_user(principal.user_id), merge)
    if token:
        return Current(await store.of_guest(token))
    return Current(NO_CART)


async def _view(
    catalog: ProductCatalog,
    cart: Cart,
    known: dict[UUID, ProductPrice] | None = None,
    not_merged: Sequence[NotMergedLine] = (),
) -> CartView:
    """The cart priced now. Callers hold no database connection here: the price lookup is an HTTP call
    (a slow one must not hold the pool; at 20 checkouts/s it ran dry otherwise; bench.checkout).
    `known` are prices already looked up in this request, so add-to-cart asks the product service once."""
    prices = dict(known) if known else {}
    missing = [line.product_id for line in cart.lines if line.product_id not in prices]
    if missing:
        prices.update(await catalog.prices(missing))
    return price_cart(cart, prices, not_merged)


def _respond(view: CartView) -> Response[CartView]:
    headers = {CART_TOKEN_HEADER: view.cart_token} if view.cart_token else None
    return Response(view, status_code=HTTP_200_OK, headers=headers)


class CartController(Controller):
    """The caller's cart: a signed-in user's, or a guest's found by the X-Cart-Token header."""

    path = "/v1/cart"
    tags = ["cart"]
    dependencies = DEPENDENCIES

    @get("/", operation_id="getCart")
    async def get_cart(
        self, request: Request[Any, Any, Any], optional_principal: Principal | None, store: CartStore,
        catalog: ProductCatalog,
    ) -> Response[CartView]:
        """The cart with current prices and line totals (prices always come from the product service).
        No total when its lines mix currencies (see `mixed_currency`)."""
        current = await _current(request, optional_principal, store, catalog)
        return _respond(await _view(catalog, current.cart, current.known_prices, current.not_merged))

    @post("/items", operation_id="addCartItem", status_code=HTTP_200_OK)
    async def add_item(
        self, request: Request[Any, Any, Any], data: AddItem, optional_principal: Principal | None,
        store: CartStore, catalog: ProductCatalog,
    ) -> Response[CartView]:
        """Add a product (quantities add up). Guests without a token get a new cart and its token."""
        current = await _current(request, optional_principal, store, catalog)
        cart = current.cart
        # One price lookup serves the checks and the response: the new product and the cart's lines.
        wanted = [line.product_id for line in cart.lines if line.product_id != data.product_id]
        prices = await catalog.prices([data.product_id, *wanted])
        price = prices.get(data.product_id)
        if price is None:
            raise NotFound("no such product")
        if not price.active:
            raise Unprocessable("that product is no longer sold")
        _ensure_same_currency(cart.lines, prices, price.currency)
        if optional_principal is not None:
            updated = await store.add(data.product_id, data.quantity, user_id=optional_principal.user_id)
        else:
            updated = await store.add(data.product_id, data.quantity, guest_cart_id=cart.id)
        return _respond(await _view(catalog, updated, prices, current.not_merged))

    @patch("/items/{product_id:uuid}", operation_id="changeCartItem")
    async def change_item(
        self, request: Request[Any, Any, Any], product_id: UUID, data: ChangeQuantity,
        optional_principal: Principal | None, store: CartStore, catalog: ProductCatalog,
    ) -> Response[CartView]:
        """Set a line's quantity (1 to 99; remove the line to go to zero)."""
        cart_id, current = await _existing(request, optional_principal, store, catalog)
        await store.set_quantity(cart_id, product_id, data.quantity)
        cart = Cart(cart_id, await store.lines(cart_id))
        return _respond(await _view(catalog, cart, current.known_prices, current.not_merged))

    @delete("/items/{product_id:uuid}", operation_id="removeCartItem", status_code=HTTP_200_OK)
    async def remove_item(
        self, request: Request[Any, Any, Any], product_id: UUID, optional_principal: Principal | None,
        store: CartStore, catalog: ProductCatalog,
    ) -> Response[CartView]:
        """Remove one product's line."""
        cart_id, current = await _existing(request, optional_principal, store, catalog)
        await store.remove(cart_id, product_id)
        cart = Cart(cart_id, await store.lines(cart_id))
        return _respond(await _view(catalog, cart, current.known_prices, current.not_merged))

    @delete("/", operation_id="clearCart", status_code=HTTP_200_OK)
    async def clear_cart(
        self, request: Request[Any, Any, Any], optional_principal: Principal | None, store: CartStore,
        catalog: ProductCatalog,
    ) -> Response[CartView]:
        """Empty the cart."""
        cart_id, current = await _existing(request, optional_principal, store, catalog)
        await store.clear(cart_id)
        return _respond(await _view(catalog, Cart(cart_id, []), not_merged=current.not_merged))

    @post("/merge", operation_id="mergeGuestCart", status_code=HTTP_200_OK)
    async def merge(
        self, data: MergeCart, principal: Principal, store: CartStore, catalog: ProductCatalog
    ) -> Response[CartView]:
        """Merge a guest cart (by its token) into the signed-in user's cart; the guest cart is gone after.
        What fits moves; `not_merged` lists the lines left out (the cart was full, or another currency)."""
        merge = await merge_guest_cart(store, catalog, principal.user_id, data.cart_token)
        if merge is None:
            raise NotFound("no guest cart for that token (it may have expired or been merged)")
        cart = await store.of_user(principal.user_id)
        return _respond(await _view(catalog, cart, merge.prices, merge.not_merged))


class InternalCartController(Controller):
    """Service-to-service routes for checkout: outside the public prefixes, never exposed by the ALB."""

    path = "/internal/v1/carts"
    tags = ["internal"]
    dependencies = DEPENDENCIES

    @get("/{user_id:uuid}", operation_id="getUserCart")
    async def user_cart(self, user_id: UUID, store: CartStore) -> CartLines:
        """A user's cart lines, for the order service to check out. Unpriced: checkout prices them
        itself with the product service, so pricing them here too would cost a lookup per order."""
        cart = await store.of_user(user_id)
        return CartLines(id=cart.id, items=[LineRef(line.product_id, line.quantity) for line in cart.lines])

    @post("/{user_id:uuid}/remove-ordered", operation_id="removeOrderedLines", status_code=HTTP_200_OK)
    async def remove_ordered(self, user_id: UUID, data: RemoveOrdered, store: CartStore) -> dict[str, bool]:
        """Take an order's lines out of the cart, once per order id (retries change nothing)."""
        return {"removed": await store.remove_ordered(user_id, data.order_id, data.lines)}


async def _existing(
    request: Request[Any, Any, Any], principal: Principal | None, store: CartStore, catalog: ProductCatalog
) -> tuple[UUID, Current]:
    current = await _current(request, principal, store, catalog)
    if current.cart.id is None:
        raise NotFound("there is no cart yet")
    return current.cart.id, current


def _ensure_same_currency(lines: list[Line], prices: dict[UUID, ProductPrice], currency: str) -> None:
    currencies = live_currencies(lines, prices)
    if currencies and currency not in currencies:
        raise Conflict(f"this cart is priced in {currencies.pop()}; one order has one currency")
