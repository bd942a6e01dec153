"""Alembic environment: the platform runs it inside the `users` schema."""

from commerce_platform.migrations import run_env

run_env()
