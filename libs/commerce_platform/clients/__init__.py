"""Typed clients for other services' internal APIs, shared by every service that calls them."""
