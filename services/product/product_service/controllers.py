"""HTTP routes of the product service: the category tree, products, and the internal price lookup."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_304_NOT_MODIFIED
from sqlalchemy.ext.asyncio import AsyncSession

from commerce_platform.auth import admin_guard
from commerce_platform.database import Database
from commerce_platform.errors import BadRequest, NotFound
from product_service import queries
from product_service.etags import etag, etag_matches
from product_service.models import Category, Product
from product_service.queries import ProductFilter, SortField, SortOrder
from product_service.schemas import (
    MAX_PRICE_CENTS,
    CategoryCreate,
    CategoryNode,
    ProductCreate,
    ProductLookupRequest,
    ProductLookupResult,
    ProductPage,
    ProductPatch,
    ProductView,
)
from product_service.services import CategoryService, ProductService

MAX_PAGE_SIZE = 100
# Shoppers may see a price up to this many seconds old; carts and orders price through the lookup.
PRODUCT_MAX_AGE_SECONDS = 10
BEARER = [{"BearerToken": []}]


async def provide_category_service(db_session: AsyncSession) -> CategoryService:
    return CategoryService(session=db_session)


async def provide_product_service(db_session: AsyncSession) -> ProductService:
    return ProductService(session=db_session)


class CategoryController(Controller):
    path = "/v1/categories"
    tags = ["categories"]
    dependencies = {"categories": Provide(provide_category_service)}

    @post("/", operation_id="createCategory", guards=[admin_guard], security=BEARER, status_code=HTTP_201_CREATED)
    async def create_category(self, data: CategoryCreate, categories: CategoryService) -> CategoryNode:
        """Add a category, at the top or under `parent_slug` (admin)."""
        category = await categories.create_category(data)
        return _category_node(category)

    @get("/", operation_id="listCategories")
    async def list_categories(self, database: Database) -> list[CategoryNode]:
        """The whole category tree: top-level categories, each with its children nested."""
        return await queries.category_tree(database)

    @get("/{slug:str}", operation_id="getCategory")
    async def get_category(self, slug: str, database: Database) -> CategoryNode:
        """One category with its subtree."""
        node = await queries.category_subtree(database, slug)
        if node is None:
            raise NotFound(f"category {slug!r} not found")
        return node


class ProductController(Controller):
    path = "/v1/products"
    tags = ["products"]
    dependencies = {"products": Provide(provide_product_service)}

    @post("/", operation_id="createProduct", guards=[admin_guard], security=BEARER, status_code=HTTP_201_CREATED)
    async def create_product(self, data: ProductCreate, products: ProductService) -> Response[ProductView]:
        """Create a product in an existing category (admin); emits ProductCreated."""
        product = await products.create_product(data)
        return _product_response(product, status_code=HTTP_201_CREATED)

    @get("/{product_id:uuid}", operation_id="getProduct")
    async def get_product(
        self, product_id: UUID, request: Request[Any, Any, Any], database: Database
    ) -> Response[ProductView | None]:
        """A live product. The hot read path: one asyncpg query, no ORM; answers 304 to a matching ETag."""
        product = await queries.product_by_id(database, product_id)
        if product is None:
            raise NotFound(f"product {product_id} not found")
        tag = etag(product.revision)
        headers = {"ETag": tag, "Cache-Control": f"public, max-age={PRODUCT_MAX_AGE_SECONDS}"}
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and etag_matches(if_none_match, tag, weak=True):
            return Response(content=None, status_code=HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(content=product, headers=headers)

    @get("/", operation_id="listProducts")
    async def list_products(
        self,
        database: Database,
        page: Annotated[int, Parameter(ge=1, le=10_000, description="1-based page number")] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE)] = 20,
        sort: SortField = "created_at",
        order: SortOrder = "desc",
        category: Annotated[str | None, Parameter(description="a category slug; includes its subcategories")] = None,
        min_price: Annotated[int | None, Parameter(ge=0, le=MAX_PRICE_CENTS)] = None,
        max_price: Annotated[int | None, Parameter(ge=0, le=MAX_PRICE_CENTS)] = None,
        q: Annotated[str | None, Parameter(min_length=1, max_length=200, description="name contains")] = None,
        sku: Annotated[str | None, Parameter(min_length=1, max_length=64)] = None,
    ) -> ProductPage:
        """Live products, paged, sorted and filtered (category includes its subcategories)."""
        if min_price is not None and max_price is not None and min_price > max_price:
            raise BadRequest("min_price is greater than max_price")
        filters = ProductFilter(category=category, min_price=min_price, max_price=max_price, name_contains=q, sku=sku)
        return await queries.product_page(
            database, filters, sort=sort, order=order, page=page, page_size=page_size
        )

    @patch("/{product_id:uuid}", operation_id="updateProduct", guards=[admin_guard], security=BEARER)
    async def update_product(
        self,
        product_id: UUID,
        data: ProductPatch,
        products: ProductService,
        if_match: Annotated[str | None, Parameter(header="If-Match")] = None,
    ) -> Response[ProductView]:
        """Change some fields of a product (admin); bumps its revision and emits ProductUpdated."""
        product = await products.update_product(product_id, data, if_match=if_match)
        return _product_response(product, status_code=HTTP_200_OK)

    @delete("/{product_id:uuid}", operation_id="deleteProduct", guards=[admin_guard], security=BEARER)
    async def delete_product(
        self,
        product_id: UUID,
        products: ProductService,
        if_match: Annotated[str | None, Parameter(header="If-Match")] = None,
    ) -> None:
        """Soft-delete a product (admin): it disappears from reads and lists; emits ProductDeleted."""
        await products.delete_product(product_id, if_match=if_match)


class InternalProductController(Controller):
    """Service-to-service routes: outside the public prefixes, so the gateway and ALB never expose them."""

    path = "/internal/v1/products"
    tags = ["internal"]

    @post("/lookup", operation_id="lookupProducts", status_code=HTTP_200_OK)
    async def lookup_products(self, data: ProductLookupRequest, database: Database) -> ProductLookupResult:
        """Current price, name, SKU, currency and liveness of each id, for carts and orders to price lines."""
        wanted = list(dict.fromkeys(data.ids))
        items = await queries.prices_by_ids(database, wanted)
        found = {item.id for item in items}
        return ProductLookupResult(items=items, missing=[pid for pid in wanted if pid not in found])


def _category_node(category: Category) -> CategoryNode:
    path = list(category.path)
    parent = path[-2] if len(path) > 1 else None
    return CategoryNode(slug=category.slug, name=category.name, path=path, parent_slug=parent)


def _product_view(product: Product) -> ProductView:
    return ProductView(
        id=product.id,
        sku=product.sku,
        name=product.name,
        description=product.description,
        price_cents=product.price_cents,
        currency=product.currency,
        category=product.category.slug,
        category_path=list(product.category.path),
        attributes=dict(product.attributes),
        revision=product.revision,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def _product_response(product: Product, *, status_code: int) -> Response[ProductView]:
    headers = {"ETag": etag(product.revision)}
    if status_code == HTTP_201_CREATED:
        headers["Location"] = f"/v1/products/{product.id}"
    return Response(content=_product_view(product), status_code=status_code, headers=headers)
