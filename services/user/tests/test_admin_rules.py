"""Who may take an administrator out of office, without a running stack."""

from __future__ import annotations

import uuid

import pytest
from msgspec import UNSET

from commerce_platform.errors import Conflict
from user_service.administration import check_admin_removal, removes_admin
from user_service.models import User
from user_service.schemas import AccountAdminUpdate

CALLER, OTHER, CUSTOMER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def test_nobody_removes_themselves() -> None:
    with pytest.raises(Conflict, match="themselves"):
        check_admin_removal(caller_id=CALLER, target_id=CALLER, active_admins={CALLER, OTHER})


def test_the_last_active_admin_stays() -> None:
    with pytest.raises(Conflict, match="last active administrator"):
        check_admin_removal(caller_id=CALLER, target_id=OTHER, active_admins={OTHER})


def test_one_admin_may_remove_another() -> None:
    check_admin_removal(caller_id=CALLER, target_id=OTHER, active_admins={CALLER, OTHER})


@pytest.mark.parametrize(
    ("target", "change", "removes"),
    [
        (OTHER, AccountAdminUpdate(is_active=False), True),
        (OTHER, AccountAdminUpdate(role="customer"), True),
        (OTHER, AccountAdminUpdate(is_active=True, role="admin"), False),
        (OTHER, AccountAdminUpdate(is_active=UNSET), False),
        (CUSTOMER, AccountAdminUpdate(is_active=False), False),  # not an active admin to begin with
    ],
)
def test_what_counts_as_removing_an_admin(target: uuid.UUID, change: AccountAdminUpdate, removes: bool) -> None:
    assert removes_admin(User(id=target), change, {CALLER, OTHER}) is removes
