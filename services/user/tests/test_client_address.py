"""Which address a login is throttled under, without a running stack."""

from __future__ import annotations

import pytest
from litestar import Request

from user_service.rate_limit import LoginAttempt, client_address


def request(forwarded_for: str | None, peer: str = "10.0.0.5") -> Request:  # type: ignore[type-arg]
    headers = [(b"x-forwarded-for", forwarded_for.encode())] if forwarded_for is not None else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "client": (peer, 4321)})  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    ("forwarded_for", "hops", "expected"),
    [
        (None, 1, "10.0.0.5"),  # no proxy header: the TCP peer
        ("203.0.113.7", 1, "203.0.113.7"),  # one proxy (the ALB) appended the client
        ("198.51.100.1, 203.0.113.7", 1, "203.0.113.7"),  # the left entry is the client's own claim
        ("198.51.100.1, 203.0.113.7, 10.1.1.1", 2, "203.0.113.7"),  # two proxies
        ("203.0.113.7", 2, "203.0.113.7"),  # fewer entries than proxies: the outermost there is
        ("203.0.113.7", 0, "10.0.0.5"),  # no trusted proxies: the header is ignored
        ("not-an-ip", 1, "10.0.0.5"),  # junk never becomes a throttle key
        ("2001:DB8::1", 1, "2001:db8::1"),  # canonical form, so one address is one key
        ("", 1, "10.0.0.5"),
    ],
)
def test_client_address(forwarded_for: str | None, hops: int, expected: str) -> None:
    assert client_address(request(forwarded_for), trusted_hops=hops) == expected


def test_throttle_keys_ignore_email_case() -> None:
    assert LoginAttempt("Ann@Example.com", "::1").account_key == LoginAttempt(" ann@example.com", "::1").account_key


def test_each_address_has_its_own_count_for_an_account() -> None:
    assert LoginAttempt("ann@example.com", "::1").account_key != LoginAttempt("ann@example.com", "::2").account_key
