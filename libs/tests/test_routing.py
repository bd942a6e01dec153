"""The routing table is consistent: unique ports, schemas and prefixes; longest-prefix routing."""

from commerce_platform.event_topology import QUEUES, TOPICS
from commerce_platform.events.catalog import EVENT_TYPES
from commerce_platform.routing import GATEWAY_PORT, SERVICES, TOKEN_ISSUER, route_for_path, service


def test_ports_schemas_and_prefixes_are_unique() -> None:
    ports = [r.port for r in SERVICES] + [GATEWAY_PORT]
    assert len(set(ports)) == len(ports)
    assert len({r.schema for r in SERVICES}) == len(SERVICES)
    prefixes = [p for r in SERVICES for p in r.path_prefixes]
    assert len(set(prefixes)) == len(prefixes)
    assert all(p.startswith("/") for p in prefixes)


def test_every_prefix_routes_to_its_service() -> None:
    for route in SERVICES:
        for prefix in route.path_prefixes:
            assert route_for_path(prefix) is route
            assert route_for_path(prefix + "/some/child") is route


def test_prefix_match_respects_segment_boundaries() -> None:
    assert route_for_path("/v1/usersabc") is None
    assert route_for_path("/health") is None
    assert route_for_path("/") is None


def test_brief_contract_for_user_service() -> None:
    user = service("user")
    assert user.port == 8081
    assert user.schema == "users"
    assert {"/v1/auth", "/v1/users", "/.well-known/jwks.json"} <= set(user.path_prefixes)


def test_messaging_names_exist() -> None:
    topics = {t.name for t in TOPICS}
    queues = {q.name for q in QUEUES}
    for route in SERVICES:
        assert set(route.publishes) <= topics, route.name
        assert set(route.consumes) <= queues, route.name
    for queue in QUEUES:
        assert set(queue.subscribes_to) <= topics


def test_event_catalog_matches_topics() -> None:
    for type_name, (topic_name, _struct, _version) in EVENT_TYPES.items():
        topic = next(t for t in TOPICS if t.name == topic_name)
        assert type_name in topic.event_types
    declared = {e for t in TOPICS for e in t.event_types}
    assert declared == set(EVENT_TYPES)


def test_every_service_but_the_issuer_reaches_it_for_signing_keys() -> None:
    # The security groups follow `http_peers`: without the issuer there, JWKS fetches time out in AWS.
    assert service(TOKEN_ISSUER).http_peers == service(TOKEN_ISSUER).calls
    for route in SERVICES:
        if route.name != TOKEN_ISSUER:
            assert route.http_peers.count(TOKEN_ISSUER) == 1, route.name
            assert set(route.calls) <= set(route.http_peers)
