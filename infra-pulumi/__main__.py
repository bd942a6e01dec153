"""Pulumi entry point: `pulumi up` in infra-pulumi/ deploys every service in the routing table."""

from commerce_infra.stack import build

build()
