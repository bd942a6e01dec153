"""Environment every service container gets from the routing table, shared by compose and Pulumi."""

from __future__ import annotations

from collections.abc import Iterable

from commerce_platform.routing import SERVICES, ServiceRoute


def service_connect_url(route: ServiceRoute) -> str:
    """`http://<name>:<port>`: a compose DNS name locally, an ECS Service Connect alias in AWS."""
    return f"http://{route.name}:{route.port}"


def peer_service_urls(route: ServiceRoute, routes: Iterable[ServiceRoute] = SERVICES) -> dict[str, str]:
    """`<NAME>_SERVICE_URL` for every other service.

    All peers, not only `calls`: the JWKS URL defaults to USER_SERVICE_URL, and a service that
    starts calling a peer should not need an infrastructure change to find it.
    """
    return {peer.url_env_var: service_connect_url(peer) for peer in routes if peer.name != route.name}


def otel_service_name(route: ServiceRoute) -> str:
    return route.package
