"""The product service's batch price lookup: carts and orders price lines with it, never with client input."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import msgspec

from commerce_platform.errors import DependencyUnavailable
from commerce_platform.http_client import ServiceClient


class ProductPrice(msgspec.Struct):
    """A product as a line needs it now; `active` is false once the product was deleted."""

    id: UUID
    sku: str
    name: str
    price_cents: int
    currency: str
    active: bool


class _LookupResult(msgspec.Struct):
    items: list[ProductPrice]
    missing: list[UUID]


class ProductCatalog:
    """`POST /internal/v1/products/lookup` on the product service."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def prices(self, product_ids: Sequence[UUID]) -> dict[UUID, ProductPrice]:
        """Current price of each known product (deleted ones come back with active=False)."""
        if not product_ids:
            return {}
        # A POST that only reads: safe to retry.
        response = await self.client.post(
            "/internal/v1/products/lookup", json={"ids": [str(p) for p in product_ids]}, retry=True
        )
        if not response.ok:
            raise DependencyUnavailable(f"product lookup failed with HTTP {response.status}")
        result = msgspec.json.decode(response.body, type=_LookupResult)
        return {item.id: item for item in result.items}
