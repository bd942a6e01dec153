"""Third-party images and emulator packages the local stack runs, pinned in one place."""

from __future__ import annotations

import tomllib
from pathlib import Path

from commerce_infra.local_stack.constants import REPO_ROOT

POSTGRES = "postgres:17-bookworm"
NGINX = "nginx:1.27-alpine"  # 1.27.3+ for `resolve` in upstream blocks
MAILPIT = "axllent/mailpit:v1.22.3"
OTEL_COLLECTOR = "otel/opentelemetry-collector-contrib:0.116.0"
JAEGER = "jaegertracing/all-in-one:1.64.0"

# LocalStack's fork declines pm_card_chargeCustomerFail the way Stripe test mode does.
LOCALSTRIPE_PACKAGE = "localstack-localstripe==1.15.6.post1"


def locked_version(package: str, lock_file: Path = REPO_ROOT / "uv.lock") -> str:
    """The version uv.lock pins, so the compose emulator is the moto the tests run against."""
    lock = tomllib.loads(lock_file.read_text())
    for entry in lock.get("package", []):
        if entry.get("name") == package:
            return str(entry["version"])
    raise LookupError(f"{package} is not in {lock_file}")


def moto_package() -> str:
    return f"moto[server]=={locked_version('moto')}"
