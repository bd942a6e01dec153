"""ALB listener rules planned from the routing table: path patterns and stable priorities.

Priority = (position in the table + 1) * BLOCK + position of the prefix. Appending a service or a
prefix never renumbers an existing rule, and the same table always gives the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from commerce_platform.routing import SERVICES, ServiceRoute

BLOCK = 10
# An ALB condition takes at most 5 path values; each prefix needs 2 ("/p" and "/p/*").
PATTERNS_PER_PREFIX = 2


@dataclass(frozen=True, slots=True)
class RulePlan:
    service: str
    prefix: str
    priority: int
    path_patterns: tuple[str, ...]


def path_patterns(prefix: str) -> tuple[str, ...]:
    """Whole path segments, as routing.route_for_path matches: `/v1/auth` and `/v1/auth/...`,
    but not `/v1/authors`."""
    bare = prefix.rstrip("/")
    return (bare, f"{bare}/*")


def _segment_prefix(a: str, b: str) -> bool:
    a, b = a.rstrip("/"), b.rstrip("/")
    return a == b or b.startswith(a + "/")


def check_no_overlap(routes: Iterable[ServiceRoute]) -> None:
    """The ALB takes the first matching rule, the routing table the longest prefix. They agree
    only if no service's prefix contains another service's, so refuse such a table."""
    owned = [(p, r.name) for r in routes for p in r.path_prefixes]
    for p1, s1 in owned:
        for p2, s2 in owned:
            if s1 != s2 and _segment_prefix(p1, p2):
                raise ValueError(f"prefix {p1} ({s1}) overlaps {p2} ({s2}); ALB order would decide")


def plan_rules(routes: Iterable[ServiceRoute] = SERVICES) -> list[RulePlan]:
    routes = tuple(routes)
    check_no_overlap(routes)
    plans = []
    for index, route in enumerate(routes):
        if len(route.path_prefixes) >= BLOCK:
            raise ValueError(f"{route.name} has {len(route.path_prefixes)} prefixes; at most {BLOCK - 1} fit")
        for offset, prefix in enumerate(route.path_prefixes):
            plans.append(
                RulePlan(
                    service=route.name,
                    prefix=prefix,
                    priority=(index + 1) * BLOCK + offset,
                    path_patterns=path_patterns(prefix),
                )
            )
    return plans
