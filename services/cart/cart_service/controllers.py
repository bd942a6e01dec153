"""HTTP routes of the cart service: the caller's cart (user or guest) and internal routes for checkout."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from cart_service.schemas import AddItem, CartLine, CartView, ChangeQuantity, MergeCart, RemoveOrdered
from cart_service.services import CartRef, CartStore
from commerce_platform.auth import Principal
from commerce_platform.clients.product_catalog import ProductCatalog
from commerce_platform.errors import Conflict, NotFound, Unprocessable

CART_TOKEN_HEADER = "x-cart-token"


async def provide_store(db_session: AsyncSession) -> CartStore:
    return CartStore(db_session)


async def provide_catalog(request: Request[Any, Any, Any]) -> ProductCatalog:
    return ProductCatalog(request.app.state["service_clients"]["product"])


DEPENDENCIES = {"store": Provide(provide_store), "catalog": Provide(provide_catalog)}


async def _resolve(
    request: Request[Any, Any, Any], principal: Principal | None, store: CartStore, *, create: bool
) -> CartRef | None:
    """The cart this request acts on. A signed-in caller who still holds a guest token gets the guest
    lines merged into their own cart: that is what a shopper expects after logging in."""
    token = request.headers.get(CART_TOKEN_HEADER)
    if principal is not None:
        guest_id = await store.guest_cart(token) if token else None
        if guest_id is None and not create:
            found = await store.find_user_cart(principal.user_id)
            return CartRef(found) if found else None
        ref = await store.user_cart(principal.user_id)
        if guest_id is not None:
            await store.merge_guest_into(guest_id, ref.id)
        return ref
    if token:
        guest_id = await store.guest_cart(token)
        if guest_id is not None:
            return CartRef(guest_id)
    return await store.new_guest_cart() if create else None


async def _view(store: CartStore, catalog: ProductCatalog, ref: CartRef | None) -> CartView:
    if ref is None:
        return CartView(id=None, items=[], item_count=0, total_cents=0, currency=None)
    lines = await store.lines(ref.id)
    # Hand the connection back before calling the product service: a slow price lookup must not
    # hold the pool (at 20 checkouts/s it ran dry otherwise; bench.checkout).
    await store.session.commit()
    prices = await catalog.prices([line.product_id for line in lines])
    items: list[CartLine] = []
    for line in lines:
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
        id=ref.id,
        items=items,
        item_count=sum(item.quantity for item in live),
        total_cents=sum(item.line_total_cents for item in live),
        currency=live[0].currency if live else None,
        cart_token=ref.token,
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
        ref = await _resolve(request, optional_principal, store, create=False)
        await store.session.commit()
        return _respond(await _view(store, catalog, ref))

    @post("/items", operation_id="addCartItem", status_code=HTTP_200_OK)
    async def add_item(
        self, request: Request[Any, Any, Any], data: AddItem, optional_principal: Principal | None,
        store: CartStore, catalog: ProductCatalog,
    ) -> Response[CartView]:
        """Add a product (quantities add up). Guests without a token get a new cart and its token."""
        price = (await catalog.prices([data.product_id])).get(data.product_id)
        if price is None:
            raise NotFound("no such product")
        if not price.active:
            raise Unprocessable("that product is no longer sold")
        ref = await _resolve(request, optional_principal, store, create=True)
        assert ref is not None
        await store.session.commit()  # the cart exists from here on; nothing is held during lookups
        await _ensure_same_currency(store, catalog, ref, price.currency)
        await store.add(ref.id, data.product_id, data.quantity)
        await store.session.commit()
        return _respond(await _view(store, catalog, ref))

    @patch("/items/{product_id:uuid}", operation_id="changeCartItem")
    async def change_item(
        self, request: Request[Any, Any, Any], product_id: UUID, data: ChangeQuantity,
        optional_principal: Principal | None, store: CartStore, catalog: ProductCatalog,
    ) -> Response[CartView]:
        """Set a line's quantity (1 to 99; remove the line to go to zero)."""
        ref = await _existing(request, optional_principal, store)
        await store.set_quantity(ref.id, product_id, data.quantity)
        await store.session.commit()
        return _respond(await _view(store, catalog, ref))

    @delete("/items/{product_id:uuid}", operation_id="removeCartItem", status_code=HTTP_200_OK)
    async def remove_item(
        self, request: Request[Any, Any, Any], product_id: UUID, optional_principal: Principal | None,
        store: CartStore, catalog: ProductCatalog,
    ) -> Response[CartView]:
        """Remove one product's line."""
        ref = await _existing(request, optional_principal, store)
        await store.remove(ref.id, product_id)
        await store.session.commit()
        return _respond(await _view(store, catalog, ref))

    @delete("/", operation_id="clearCart", status_code=HTTP_200_OK)
    async def clear_cart(
        self, request: Request[Any, Any, Any], optional_principal: Principal | None, store: CartStore,
        catalog: ProductCatalog,
    ) -> Response[CartView]:
        """Empty the cart."""
        ref = await _existing(request, optional_principal, store)
        await store.clear(ref.id)
        await store.session.commit()
        return _respond(await _view(store, catalog, ref))

    @post("/merge", operation_id="mergeGuestCart", status_code=HTTP_200_OK)
    async def merge(
        self, data: MergeCart, principal: Principal, store: CartStore, catalog: ProductCatalog
    ) -> Response[CartView]:
        """Merge a guest cart (by its token) into the signed-in user's cart; the guest cart is gone after."""
        guest_id = await store.guest_cart(data.cart_token)
        if guest_id is None:
            raise NotFound("no guest cart for that token (it may have expired or been merged)")
        ref = await store.user_cart(principal.user_id)
        await store.merge_guest_into(guest_id, ref.id)
        await store.session.commit()
        return _respond(await _view(store, catalog, ref))


class InternalCartController(Controller):
    """Service-to-service routes for checkout: outside the public prefixes, never exposed by the ALB."""

    path = "/internal/v1/carts"
    tags = ["internal"]
    dependencies = DEPENDENCIES

    @get("/{user_id:uuid}", operation_id="getUserCart")
    async def user_cart(self, user_id: UUID, store: CartStore, catalog: ProductCatalog) -> CartView:
        """A user's cart, priced now, for the order service to check out."""
        found = await store.find_user_cart(user_id)
        return await _view(store, catalog, CartRef(found) if found else None)

    @post("/{user_id:uuid}/remove-ordered", operation_id="removeOrderedLines", status_code=HTTP_200_OK)
    async def remove_ordered(self, user_id: UUID, data: RemoveOrdered, store: CartStore) -> dict[str, bool]:
        """Take an order's lines out of the cart, once per order id (retries change nothing)."""
        found = await store.find_user_cart(user_id)
        if found is None:
            return {"removed": False}
        return {"removed": await store.remove_ordered(found, data.order_id, data.lines)}


async def _existing(request: Request[Any, Any, Any], principal: Principal | None, store: CartStore) -> CartRef:
    ref = await _resolve(request, principal, store, create=False)
    if ref is None:
        raise NotFound("there is no cart yet")
    return ref


async def _ensure_same_currency(store: CartStore, catalog: ProductCatalog, ref: CartRef, currency: str) -> None:
    lines = await store.lines(ref.id)
    await store.session.commit()
    prices = await catalog.prices([line.product_id for line in lines])
    currencies = {p.currency for p in prices.values() if p.active}
    if currencies and currency not in currencies:
        raise Conflict(f"this cart is priced in {currencies.pop()}; one order has one currency")
