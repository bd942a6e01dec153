"""The password policy and Argon2 hashing, without a running stack."""

from __future__ import annotations

import pytest

from user_service.passwords import PasswordHashing, WeakPassword, check_password_policy

EMAIL = "ann.lee@example.com"


@pytest.mark.parametrize(
    "password",
    ["Correct-Horse-Battery-9", "correct horse battery", "ümlautsüß1234", "0123456789a", "x" * 9 + "Y" * 119],
)
def test_acceptable_passwords(password: str) -> None:
    check_password_policy(password, email=EMAIL)


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Aa1-short", "at least 10"),
        ("Aa1-" + "x" * 125, "at most 128"),
        ("abcdefghijkl", "mix"),
        ("ABCDEFGHIJKL", "mix"),
        ("123456789012", "mix"),
        ("!@#$%^&*()_+", "mix"),
        ("My-ANN.LEE-Password1", "email"),
    ],
)
def test_weak_passwords(password: str, rule: str) -> None:
    with pytest.raises(WeakPassword, match=rule):
        check_password_policy(password, email=EMAIL)


def test_a_very_short_local_part_is_not_held_against_the_password() -> None:
    check_password_policy("Banana-Split-42", email="an@example.com")


@pytest.fixture(scope="module")
def cheap_hashing() -> PasswordHashing:
    return PasswordHashing(time_cost=1, memory_kib=8192, parallelism=1, workers=1)


async def test_hash_and_verify(cheap_hashing: PasswordHashing) -> None:
    digest = await cheap_hashing.hash("Correct-Horse-Battery-9")
    assert digest.startswith("$argon2id$")
    assert await cheap_hashing.verify(digest, "Correct-Horse-Battery-9")
    assert not await cheap_hashing.verify(digest, "correct-horse-battery-9")
    assert not await cheap_hashing.verify("not a hash", "anything")
    await cheap_hashing.verify_against_dummy("anything")


async def test_changed_cost_parameters_ask_for_a_rehash(cheap_hashing: PasswordHashing) -> None:
    digest = await cheap_hashing.hash("Correct-Horse-Battery-9")
    assert not cheap_hashing.needs_rehash(digest)
    stronger = PasswordHashing(time_cost=2, memory_kib=8192, parallelism=1, workers=1)
    assert stronger.needs_rehash(digest)
    assert await stronger.verify(digest, "Correct-Horse-Battery-9")  # old hashes still verify
