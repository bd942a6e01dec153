"""HTTP routes of the cart service: the caller's cart (user or guest) and internal routes for checkout."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK

from cart_service.schemas import (
    AddItem,
    CartLine,
    CartLines,
    CartView,
    ChangeQuantity,
    LineRef,
    MergeCart,
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


async def _current(request: Request[Any, Any, Any], principal: Principal | None, store: CartStore) -> Cart:
    """The cart this request acts on, as it is now (NO_CART when there is none yet). A signed-in caller
    who still holds a guest token gets the guest lines merged into their own cart first: that is what
    a shopper expects after logging in."""
    token = request.headers.get(CART_TOKEN_HEADER)
    if principal is not None:
        if token:
            await store.merge_guest(principal.user_id, token)
        return await store.of_user(principal.user_id)
    if token:
        return await store.of_guest(token)
    return NO_CART


async def _view(
    catalog: ProductCatalog, cart: Cart, known: dict[UUID, ProductPrice] | None = None
) -> CartView:
    """The cart priced now. Callers hold no database connection here: the price lookup is an HTTP call
    (a slow one must not hold the pool; at 20 checkouts/s it ran dry otherwise; bench.checkout).
    `known` are prices already looked up in this request, so add-to-cart asks the product service once."""
    if cart.id is None:
        return CartView(id=None, items=[], item_count=0, total_cents=0, currency=None)
    prices = dict(known) if known else {}
    missing = [line.product_id for line in cart.lines if line.product_id not in prices]
    if missing:
        prices.update(await catalog.prices(missing))
    items: list[CartLine] = []
    for line in cart.lines:
        price = prices.get(line.product_id)
        available = price is not None and price.active
        items.append(
            CartLine(
                product_id=line.product_id,
                sku=price.sku if price else "",
                name=price.name if price else "(no longer sold)",
                quantity=line.quantity,
                unit_price_cents=price.price_cents if price else 0,
                currency=price.currency if price else "",
                line_total_cents=(price.price_cents * line.quantity) if price and available else 0,
                available=available,
            )
        )
    live = [item for item in items if item.available]
    return CartView(
        id=cart.id,
        items=items,
        item_count=sum(item.quantity for item in live),
        total_cents=sum(item.line_total_cents for item in live),
        currency=live[0].currency if live else None,
        cart_token=cart.token,
    )


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
        """The cart with current prices and line totals (prices always come from the product service)."""
        return _respond(await _view(catalog, await _current(request, optional_principal, store)))

    @post("/items", operation_id="addCartItem", status_code=HTTP_200_OK)
    async def add_item(
        self, request: Request[Any, Any, Any], data: AddItem, optional_principal: Principal | None,
        store: CartStore, catalog: ProductCatalog,
    ) -> Response[CartView]:
        """Add a product (quantities add up). Guests without a token get a new cart and its token."""
        cart = await _current(request, optional_principal, store)
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
        return _respond(await _view(catalog, updated, prices))

    @patch("/items/{product_id:uuid}", operation_id="changeCartItem")
    async def change_item(
        self, request: Request[Any, Any, Any], product_id: UUID, data: ChangeQuantity,
        optional_principal: Principal | None, store: CartStore, catalog: ProductCatalog,
    ) -> Response[CartView]:
        """Set a line's quantity (1 to 99; remove the line to go to zero)."""
        cart_id = await _existing(request, optional_principal, store)
        await store.set_quantity(cart_id, product_id, data.quantity)
        return _respond(await _view(catalog, Cart(cart_id, await store.lines(cart_id))))

    @delete("/items/{product_id:uuid}", operation_id="removeCartItem", status_code=HTTP_200_OK)
    async def remove_item(
        self, request: Request[Any, Any, Any], product_id: UUID, optional_principal: Principal | None,
        store: CartStore, catalog: ProductCatalog,
    ) -> Response[CartView]:
        """Remove one product's line."""
        cart_id = await _existing(request, optional_principal, store)
        await store.remove(cart_id, product_id)
        return _respond(await _view(catalog, Cart(cart_id, await store.lines(cart_id))))

    @delete("/", operation_id="clearCart", status_code=HTTP_200_OK)
    async def clear_cart(
        self, request: Request[Any, Any, Any], optional_principal: Principal | None, store: CartStore,
        catalog: ProductCatalog,
    ) -> Response[CartView]:
        """Empty the cart."""
        cart_id = await _existing(request, optional_principal, store)
        await store.clear(cart_id)
        return _respond(await _view(catalog, Cart(cart_id, [])))

    @post("/merge", operation_id="mergeGuestCart", status_code=HTTP_200_OK)
    async def merge(
        self, data: MergeCart, principal: Principal, store: CartStore, catalog: ProductCatalog
    ) -> Response[CartView]:
        """Merge a guest cart (by its token) into the signed-in user's cart; the guest cart is gone after."""
        if await store.merge_guest(principal.user_id, data.cart_token) is None:
            raise NotFound("no guest cart for that token (it may have expired or been merged)")
        return _respond(await _view(catalog, await store.of_user(principal.user_id)))


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


async def _existing(request: Request[Any, Any, Any], principal: Principal | None, store: CartStore) -> UUID:
    cart = await _current(request, principal, store)
    if cart.id is None:
        raise NotFound("there is no cart yet")
    return cart.id


def _ensure_same_currency(lines: list[Line], prices: dict[UUID, ProductPrice], currency: str) -> None:
    currencies = {
        price.currency for line in lines if (price := prices.get(line.product_id)) is not None and price.active
    }
    if currencies and currency not in currencies:
        raise Conflict(f"this cart is priced in {currencies.pop()}; one order has one currency")
