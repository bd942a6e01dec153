"""Print one service's routing-table facts as shell assignments; the image build saves them in
/app/service.env, which start.sh and healthcheck.py read. Usage: service_env.py <service>"""

from __future__ import annotations

import shlex
import sys

from commerce_platform.routing import service


def render(name: str) -> str:
    route = service(name)  # KeyError names the known services, failing the build loudly
    facts = {
        "SERVICE_NAME": route.name,
        "DEFAULT_PORT": str(route.port),
        "APP_FACTORY": route.app_factory,
    }
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in facts.items())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.stdout.write(render(sys.argv[1]))
