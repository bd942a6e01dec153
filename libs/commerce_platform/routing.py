"""The routing table: every service's port, schema, path prefixes and messaging, declared once.

The local gateway, the dev launcher, compose.yaml and the Pulumi ALB rules all read this table, so
adding a service here is the only step needed to route, launch and deploy it. Keep this module free
of heavy imports: infrastructure code imports it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GATEWAY_PORT = 8080
# Every service verifies bearer tokens against this service's JWKS (settings.resolved_jwks_url), so
# every other one reaches it over HTTP whether or not its `calls` name it.
TOKEN_ISSUER = "user"


@dataclass(frozen=True, slots=True)
class ServiceRoute:
    """One deployable service and everything the platform needs to know to run and route it."""

    name: str
    port: int
    schema: str
    path_prefixes: tuple[str, ...]
    # "module:factory" that uvicorn imports with --factory.
    app_factory: str
    # SNS topics this service publishes to (through its outbox relay).
    publishes: tuple[str, ...] = ()
    # SQS queues this service consumes from.
    consumes: tuple[str, ...] = ()
    # Only services that send mail get SES permissions.
    sends_email: bool = False
    # Only services that text customers get sns:Publish to phone numbers.
    sends_sms: bool = False
    # Other services this one calls over HTTP for its own work; see `http_peers` for the full set.
    calls: tuple[str, ...] = field(default=())

    @property
    def http_peers(self) -> tuple[str, ...]:
        """Every service this one reaches over HTTP (security groups): its `calls`, plus the token
        issuer for signing keys, which the issuer itself does not fetch over HTTP."""
        if self.name == TOKEN_ISSUER or TOKEN_ISSUER in self.calls:
            return self.calls
        return (*self.calls, TOKEN_ISSUER)

    @property
    def package(self) -> str:
        """The Python distribution that holds this service (one workspace member each)."""
        return f"{self.name}-service"

    @property
    def module(self) -> str:
        return f"{self.name}_service"

    @property
    def db_role(self) -> str:
        """The database role that owns this service's schema and nothing else."""
        return f"{self.name}_svc"

    @property
    def url_env_var(self) -> str:
        """Environment variable other services read to find this one, e.g. USER_SERVICE_URL."""
        return f"{self.name.upper()}_SERVICE_URL"


SERVICES: tuple[ServiceRoute, ...] = (
    ServiceRoute(
        name="user",
        port=8081,
        schema="users",
        path_prefixes=("/v1/auth", "/v1/users", "/.well-known/jwks.json"),
        app_factory="user_service.app:create_app",
    ),
    ServiceRoute(
        name="product",
        port=8082,
        schema="products",
        path_prefixes=("/v1/products", "/v1/categories"),
        app_factory="product_service.app:create_app",
        publishes=("product-events",),
    ),
    ServiceRoute(
        name="order",
        port=8083,
        schema="orders",
        path_prefixes=("/v1/orders",),
        app_factory="order_service.app:create_app",
        publishes=("order-events",),
        calls=("user", "cart", "product", "inventory", "payment"),
    ),
    ServiceRoute(
        name="cart",
        port=8084,
        schema="carts",
        path_prefixes=("/v1/cart",),
        app_factory="cart_service.app:create_app",
        calls=("product",),
    ),
    ServiceRoute(
        name="payment",
        port=8085,
        schema="payments",
        path_prefixes=("/v1/payments",),
        app_factory="payment_service.app:create_app",
    ),
    ServiceRoute(
        name="notification",
        port=8086,
        schema="notifications",
        path_prefixes=("/v1/notifications",),
        app_factory="notification_service.app:create_app",
        consumes=("notification-orders",),
        sends_email=True,
        sends_sms=True,
        calls=("user",),
    ),
    ServiceRoute(
        name="search",
        port=8087,
        schema="search",
        path_prefixes=("/v1/search",),
        app_factory="search_service.app:create_app",
        consumes=("search-products",),
    ),
    ServiceRoute(
        name="inventory",
        port=8088,
        schema="inventory",
        path_prefixes=("/v1/inventory",),
        app_factory="inventory_service.app:create_app",
        publishes=("inventory-events",),
        consumes=("inventory-orders",),
    ),
)


def service(name: str) -> ServiceRoute:
    """Look a service up by name; a typo fails loudly rather than routing nowhere."""
    for route in SERVICES:
        if route.name == name:
            return route
    known = ", ".join(r.name for r in SERVICES)
    raise KeyError(f"unknown service {name!r}; the routing table has: {known}")


def route_for_path(path: str) -> ServiceRoute | None:
    """The service whose longest prefix matches `path` (prefix match on whole path segments)."""
    best: tuple[int, ServiceRoute] | None = None
    for route in SERVICES:
        for prefix in route.path_prefixes:
            matches = path == prefix or path.startswith(prefix.rstrip("/") + "/")
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), route)
    return best[1] if best else None
