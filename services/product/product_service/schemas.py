"""Request and response bodies of the product service's API, validated at the edge by msgspec.

Request bodies forbid unknown fields, so a misspelt field is a 400 rather than silently ignored.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from product_service.currencies import is_currency_code

# At least one visible character: "   " is not a name.
_VISIBLE = r"\S"
Slug = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$",
        description="lower-case letters, digits and single hyphens",
        examples=["running-shoes"],
    ),
]
CategoryName = Annotated[str, Meta(min_length=1, max_length=100, pattern=_VISIBLE, examples=["Running shoes"])]
Sku = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="unique among live products, compared case-insensitively",
        examples=["SHOE-RUN-42"],
    ),
]
ProductName = Annotated[str, Meta(min_length=1, max_length=200, pattern=_VISIBLE, examples=["Trail runner"])]
Description = Annotated[str, Meta(max_length=5000)]
# A bigint column would hold more, but no price in minor units reaches a trillion.
MAX_PRICE_CENTS = 999_999_999_999
PriceCents = Annotated[int, Meta(ge=0, le=MAX_PRICE_CENTS, description="price in minor units", examples=[4999])]
Currency = Annotated[str, Meta(pattern="^[A-Z]{3}$", description="ISO 4217 code, upper case", examples=["EUR"])]
AttributeName = Annotated[str, Meta(min_length=1, max_length=64)]
AttributeValue = Annotated[str, Meta(max_length=500)] | bool | int | float
# Flat on purpose: search facets and filters only understand scalar values.
Attributes = Annotated[
    dict[AttributeName, AttributeValue],
    Meta(max_length=50, description="flat object of string, number or boolean values", examples=[{"color": "red"}]),
]


def _check_currency(currency: str) -> None:
    if not is_currency_code(currency):
        raise ValueError(f"currency: {currency!r} is not an ISO 4217 currency code")


# -- categories ---------------------------------------------------------------------------------
class CategoryCreate(Struct, forbid_unknown_fields=True):
    slug: Slug
    name: CategoryName
    parent_slug: Slug | None = None

    def __post_init__(self) -> None:
        self.name = self.name.strip()


class CategoryNode(Struct):
    """A category with its subtree; `path` is the ancestors' slugs then its own."""

    slug: str
    name: str
    path: list[str]
    parent_slug: str | None
    children: list[CategoryNode] = msgspec.field(default_factory=list)


# -- products -----------------------------------------------------------------------------------
class ProductCreate(Struct, forbid_unknown_fields=True):
    sku: Sku
    name: ProductName
    price_cents: PriceCents
    currency: Currency
    category: Annotated[Slug, Meta(description="slug of an existing category")]
    description: Description = ""
    attributes: Attributes = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_currency(self.currency)
        self.name = self.name.strip()


class ProductPatch(Struct, forbid_unknown_fields=True):
    """Only the fields present change; `attributes`, when given, replaces the whole object."""

    sku: Sku | UnsetType = UNSET
    name: ProductName | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    price_cents: PriceCents | UnsetType = UNSET
    currency: Currency | UnsetType = UNSET
    category: Slug | UnsetType = UNSET
    attributes: Attributes | UnsetType = UNSET

    def __post_init__(self) -> None:
        if isinstance(self.currency, str):
            _check_currency(self.currency)
        if isinstance(self.name, str):
            self.name = self.name.strip()

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, by name."""
        return {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not UNSET
        }


class ProductView(Struct):
    id: UUID
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    category: str
    category_path: list[str]
    attributes: dict[str, Any]
    revision: int
    created_at: datetime.datetime
    updated_at: datetime.datetime


class ProductPage(Struct):
    items: list[ProductView]
    total: int
    page: int
    page_size: int


# -- internal: batch lookup for cart and order ---------------------------------------------------
class ProductLookupRequest(Struct, forbid_unknown_fields=True):
    ids: Annotated[list[UUID], Meta(min_length=1, max_length=200)]


class ProductPrice(Struct):
    """What a cart or order line needs to price itself; `active` is false for a deleted product."""

    id: UUID
    sku: str
    name: str
    price_cents: int
    currency: str
    active: bool
    revision: int


class ProductLookupResult(Struct):
    items: list[ProductPrice]
    # Ids that never named a product.
    missing: list[UUID]
