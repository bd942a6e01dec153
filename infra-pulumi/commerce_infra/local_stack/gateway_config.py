"""nginx config for the local gateway on 8080: the ALB's path rules, rendered from the routing table."""

from __future__ import annotations

from collections.abc import Iterable

from commerce_infra.local_stack.constants import GENERATED_HEADER
from commerce_platform.routing import GATEWAY_PORT, SERVICES, ServiceRoute

# The same problem+json bodies the platform's Python gateway answers with.
_NOT_FOUND = '{"type":"about:blank","title":"Not Found","status":404,"detail":"no service serves this path"}'
_UNAVAILABLE = (
    '{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the service is not answering"}'
)

_HEAD = """\
# {header}
worker_processes auto;
pid /tmp/nginx.pid;
error_log /dev/stderr warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log /dev/stdout;
    server_tokens off;
    # Temp files under /tmp so the container can run with a read-only root filesystem.
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    client_max_body_size 1m;

    # Keep upstream connections open like the ALB does; requires HTTP/1.1 and an empty Connection.
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_set_header X-Forwarded-Port $server_port;
    proxy_connect_timeout 2s;
    proxy_read_timeout 60s;

    # Docker's DNS, re-asked every 10 s: a service container that restarts gets a new address.
    resolver 127.0.0.11 valid=10s ipv6=off;
"""

_SERVER_HEAD = """
    server {{
        listen {port};

        # The gateway's own liveness, under a path no service can claim.
        location = /_gateway/health {{
            default_type application/json;
            return 200 '{{"status":"ok"}}';
        }}

        error_page 502 503 504 = @unavailable;
        location @unavailable {{
            default_type application/problem+json;
            return 503 '{unavailable}';
        }}
"""

_SERVER_TAIL = """
        location / {{
            default_type application/problem+json;
            return 404 '{not_found}';
        }}
    }}
}}
"""


def upstream_name(route: ServiceRoute) -> str:
    return f"{route.name}_service"


def _upstream(route: ServiceRoute) -> str:
    return (
        f"\n    upstream {upstream_name(route)} {{\n"
        # A shared zone plus `resolve` (nginx >= 1.27.3) follows the container's current address.
        f"        zone {upstream_name(route)} 64k;\n"
        f"        server {route.name}:{route.port} resolve;\n"
        "        keepalive 32;\n"
        "    }\n"
    )


def _locations(route: ServiceRoute) -> str:
    """Exact prefix and prefix + "/": whole path segments, like routing.route_for_path and the ALB rules.

    A bare `location /v1/auth` would also match /v1/authors, which the routing table does not.
    """
    out = [f"\n        # {route.name} service (port {route.port})"]
    for prefix in route.path_prefixes:
        bare = prefix.rstrip("/")
        target = f"http://{upstream_name(route)}"
        out.append(f"        location = {bare} {{ proxy_pass {target}; }}")
        out.append(f"        location {bare}/ {{ proxy_pass {target}; }}")
    return "\n".join(out) + "\n"


def render_nginx_conf(routes: Iterable[ServiceRoute] = SERVICES, port: int = GATEWAY_PORT) -> str:
    routes = tuple(routes)
    parts = [_HEAD.format(header=GENERATED_HEADER)]
    parts += [_upstream(r) for r in routes]
    parts.append(_SERVER_HEAD.format(port=port, unavailable=_UNAVAILABLE))
    parts += [_locations(r) for r in routes]
    parts.append(_SERVER_TAIL.format(not_found=_NOT_FOUND))
    return "".join(parts)
