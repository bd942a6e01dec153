"""What the product service publishes: product-events, built from the row and written to the outbox
in the caller's transaction, so an event exists if and only if its change was committed."""

from __future__ import annotations

import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from commerce_platform.events.catalog import EventData, ProductCreated, ProductDeleted, ProductUpdated
from commerce_platform.events.outbox import record_event
from product_service.models import Product

SOURCE = "product-service"


def product_created(product: Product) -> ProductCreated:
    return ProductCreated(**_snapshot(product))


def product_updated(product: Product) -> ProductUpdated:
    return ProductUpdated(**_snapshot(product))


def product_deleted(product: Product, deleted_at: datetime.datetime) -> ProductDeleted:
    return ProductDeleted(product_id=product.id, sku=product.sku, revision=product.revision, deleted_at=deleted_at)


def _snapshot(product: Product) -> dict[str, object]:
    return {
        "product_id": product.id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "price_cents": product.price_cents,
        "currency": product.currency,
        "category_slug": product.category.slug,
        "category_path": list(product.category.path),
        "attributes": dict(product.attributes),
        "revision": product.revision,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
    }


async def publish(session: AsyncSession, event: EventData) -> None:
    """Add the event to the outbox; it commits or rolls back with the change that caused it."""
    await record_event(session, event, source=SOURCE)
