"""`/v1/users/me/addresses`: the signed-in user's address book."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from commerce_platform.auth import Principal
from commerce_platform.errors import Conflict
from user_service.api.views import address_of
from user_service.models import Address
from user_service.schemas import AddressInput, AddressOut, AddressUpdate
from user_service.services import AddressService, UserService
from user_service.settings import UserSettings


class AddressController(Controller):
    path = "/v1/users/me/addresses"
    tags = ["addresses"]
    security = [{"BearerToken": []}]

    @get("", operation_id="listMyAddresses")
    async def list_addresses(self, principal: Principal, addresses: AddressService) -> list[AddressOut]:
        """The caller's addresses, oldest first."""
        return [address_of(a) for a in await addresses.for_owner(principal.user_id)]

    @post("", operation_id="createMyAddress", status_code=HTTP_201_CREATED)
    async def create_address(
        self,
        data: AddressInput,
        principal: Principal,
        addresses: AddressService,
        users: UserService,
        user_settings: UserSettings,
    ) -> AddressOut:
        """Add an address; 409 once the address book holds the maximum (20 by default)."""
        await users.lock(principal.user_id)  # two concurrent adds must not both squeeze under the cap
        if await addresses.count_for_owner(principal.user_id) >= user_settings.max_addresses_per_user:
            raise Conflict(f"an address book holds at most {user_settings.max_addresses_per_user} addresses")
        address = await addresses.create(
            Address(
                user_id=principal.user_id,
                full_name=data.full_name,
                line1=data.line1,
                line2=data.line2,
                city=data.city,
                region=data.region,
                postal_code=data.postal_code,
                country=data.country,
            )
        )
        return address_of(address)

    @get("/{address_id:uuid}", operation_id="getMyAddress")
    async def get_address(self, address_id: UUID, principal: Principal, addresses: AddressService) -> AddressOut:
        """One of the caller's addresses; 404 for anyone else's."""
        return address_of(await addresses.owned(principal.user_id, address_id))

    @patch("/{address_id:uuid}", operation_id="updateMyAddress")
    async def update_address(
        self, address_id: UUID, data: AddressUpdate, principal: Principal, addresses: AddressService
    ) -> AddressOut:
        """Change some fields of one of the caller's addresses."""
        address = await addresses.owned(principal.user_id, address_id)
        for name, value in data.changes().items():
            setattr(address, name, value)
        return address_of(await addresses.update(address))

    @delete("/{address_id:uuid}", operation_id="deleteMyAddress", status_code=HTTP_204_NO_CONTENT)
    async def delete_address(self, address_id: UUID, principal: Principal, addresses: AddressService) -> None:
        """Remove one of the caller's addresses."""
        address = await addresses.owned(principal.user_id, address_id)
        await addresses.delete(address.id)
