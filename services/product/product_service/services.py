"""Catalog writes: categories and products through advanced-alchemy services, each change of a
product recorded as an event in the same transaction."""

from __future__ import annotations

import datetime
from uuid import UUID

from advanced_alchemy.exceptions import DuplicateKeyError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from commerce_platform.errors import BadRequest, Conflict, NotFound, Unprocessable
from product_service import events
from product_service.etags import check_if_match
from product_service.models import Category, Product
from product_service.schemas import CategoryCreate, ProductCreate, ProductPatch

# Deep enough for any shop's navigation, shallow enough that paths stay short in every event.
MAX_CATEGORY_DEPTH = 8
UNIQUE_VIOLATION = "23505"


class CategoryService(SQLAlchemyAsyncRepositoryService[Category]):
    """The category tree. Categories are only ever added, so a node's path never changes."""

    class Repo(SQLAlchemyAsyncRepository[Category]):
        model_type = Category

    repository_type = Repo

    async def create_category(self, data: CategoryCreate) -> Category:
        path = [data.slug]
        parent_id: UUID | None = None
        if data.parent_slug is not None:
            parent = await self.by_slug(data.parent_slug)
            if len(parent.path) >= MAX_CATEGORY_DEPTH:
                raise Unprocessable(f"categories nest at most {MAX_CATEGORY_DEPTH} levels deep")
            path = [*parent.path, data.slug]
            parent_id = parent.id
        if await self.exists(Category.slug == data.slug):
            raise Conflict(f"category {data.slug!r} already exists")
        try:
            return await self.repository.add(Category(slug=data.slug, name=data.name, parent_id=parent_id, path=path))
        except DuplicateKeyError as exc:  # created concurrently between the check and the insert
            raise Conflict(f"category {data.slug!r} already exists") from exc

    async def by_slug(self, slug: str) -> Category:
        """The category a request names; a slug that names none is the client's mistake (422)."""
        category = await self.get_one_or_none(Category.slug == slug)
        if category is None:
            raise Unprocessable(f"category {slug!r} does not exist")
        return category


class ProductService(SQLAlchemyAsyncRepositoryService[Product]):
    """Product lifecycle: create, change, soft-delete; every step bumps the revision and emits an event."""

    class Repo(SQLAlchemyAsyncRepository[Product]):
        model_type = Product

    repository_type = Repo

    @property
    def categories(self) -> CategoryService:
        return CategoryService(session=self.repository.session)

    async def create_product(self, data: ProductCreate) -> Product:
        category = await self.categories.by_slug(data.category)
        await self._ensure_sku_free(data.sku)
        now = _now()
        product = Product(
            sku=data.sku,
            name=data.name,
            description=data.description,
            price_cents=data.price_cents,
            currency=data.currency,
            category_id=category.id,
            category=category,
            attributes=data.attributes,
            revision=1,
            created_at=now,
            updated_at=now,
        )
        try:
            product = await self.repository.add(product, auto_refresh=False)
        except DuplicateKeyError as exc:  # a concurrent writer took the SKU after our check
            raise Conflict(f"a product with SKU {data.sku!r} already exists") from exc
        await events.publish(self.repository.session, events.product_created(product))
        return product

    async def update_product(self, product_id: UUID, patch: ProductPatch, *, if_match: str | None) -> Product:
        changes = patch.changes()
        if not changes:
            raise BadRequest("the patch names no field to change")
        product = await self._live_for_update(product_id)
        check_if_match(if_match, product.revision, what=f"product {product.id}")
        changed = False
        if "category" in changes:
            category = await self.categories.by_slug(changes.pop("category"))
            if category.id != product.category_id:
                product.category_id = category.id
                product.category = category
                changed = True
        if "sku" in changes and changes["sku"].lower() != product.sku.lower():
            await self._ensure_sku_free(changes["sku"])
        for name, value in changes.items():
            if getattr(product, name) != value:
                setattr(product, name, value)
                changed = True
        if not changed:
            return product  # the patch restates the current values: no new revision, no event
        product.revision += 1
        product.updated_at = _now()
        await self._flush(product)
        await events.publish(self.repository.session, events.product_updated(product))
        return product

    async def delete_product(self, product_id: UUID, *, if_match: str | None) -> None:
        product = await self._live_for_update(product_id)
        check_if_match(if_match, product.revision, what=f"product {product.id}")
        deleted_at = _now()
        product.deleted_at = deleted_at
        product.revision += 1
        product.updated_at = deleted_at
        await self._flush(product)
        await events.publish(self.repository.session, events.product_deleted(product, deleted_at))

    async def _live_for_update(self, product_id: UUID) -> Product:
        # The row lock serialises concurrent writers, so each change gets its own revision.
        product = await self.repository.get_one_or_none(
            Product.id == product_id, Product.deleted_at.is_(None), with_for_update=True
        )
        if product is None:
            raise NotFound(f"product {product_id} not found")
        return product

    async def _ensure_sku_free(self, sku: str) -> None:
        if await self.exists(func.lower(Product.sku) == sku.lower(), Product.deleted_at.is_(None)):
            raise Conflict(f"a product with SKU {sku!r} already exists")

    async def _flush(self, product: Product) -> None:
        try:
            await self.repository.session.flush()
        except IntegrityError as exc:
            if getattr(exc.orig, "sqlstate", None) == UNIQUE_VIOLATION:  # the only unique key is the SKU
                raise Conflict(f"a product with SKU {product.sku!r} already exists") from exc
            raise


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
