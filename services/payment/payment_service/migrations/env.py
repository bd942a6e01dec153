"""Alembic environment: the platform runs it inside the service schema."""

from commerce_platform.migrations import run_env

run_env()
