"""Database URLs as services receive them, including RDS Proxy's `sslmode=require`."""

from commerce_platform.database import asyncpg_dsn, sqlalchemy_url, ssl_mode


def test_sslmode_moves_from_the_url_to_asyncpgs_ssl_argument() -> None:
    url = "postgresql://cart_svc:pw@proxy.example:5432/commerce?sslmode=require"
    assert sqlalchemy_url(url) == "postgresql+asyncpg://cart_svc:pw@proxy.example:5432/commerce"
    assert ssl_mode(url) == "require"
    assert ssl_mode("postgresql://u:p@h/db") is None


def test_driver_names_are_normalised_both_ways() -> None:
    assert sqlalchemy_url("postgresql://u:p@h:1/db").startswith("postgresql+asyncpg://")
    assert asyncpg_dsn("postgresql+asyncpg://u:p@h:1/db") == "postgresql://u:p@h:1/db"
