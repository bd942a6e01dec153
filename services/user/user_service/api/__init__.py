"""The user service's HTTP API, one controller per resource."""

from __future__ import annotations

from user_service.api.addresses import AddressController
from user_service.api.admin import UserAdminController
from user_service.api.auth import AuthController
from user_service.api.internal import InternalUserController
from user_service.api.jwks import JwksController
from user_service.api.profile import ProfileController

CONTROLLERS = [
    AuthController,
    ProfileController,
    AddressController,
    UserAdminController,
    JwksController,
    InternalUserController,
]

__all__ = ["CONTROLLERS"]
