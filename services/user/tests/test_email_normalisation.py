"""Email normalisation, without a running stack."""

from __future__ import annotations

import pytest

from user_service.emails import InvalidEmail, email_key, normalize_email


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  ann@example.com \n", "ann@example.com"),
        ("Ann.Lee@EXAMPLE.COM", "Ann.Lee@example.com"),  # the local part keeps its case
        ("ann+shop@Example.Org", "ann+shop@example.org"),
        ("ann@bücher.example", "ann@bücher.example"),
    ],
)
def test_normalize(raw: str, normalized: str) -> None:
    assert normalize_email(raw) == normalized


@pytest.mark.parametrize("raw", ["", "ann", "ann@", "@example.com", "ann@@example.com", "ann@localhost", "a b@c.com"])
def test_invalid(raw: str) -> None:
    with pytest.raises(InvalidEmail):
        normalize_email(raw)


def test_identity_ignores_case() -> None:
    assert email_key("Ann.Lee@Example.com") == email_key(" ann.lee@example.COM ")
