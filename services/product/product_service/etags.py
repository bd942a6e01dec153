"""Entity tags of products: the revision is the version, so reads can answer 304 and writes can
refuse a client that edits a stale copy (412)."""

from __future__ import annotations

from commerce_platform.errors import ProblemError


class PreconditionFailed(ProblemError):
    status_code = 412
    problem_type = "precondition-failed"


def etag(revision: int) -> str:
    """The strong entity tag of a product representation: its revision changes with every write."""
    return f'"{revision}"'


def etag_matches(header: str, tag: str, *, weak: bool) -> bool:
    """Whether an If-Match (strong comparison) or If-None-Match (weak) header names `tag` (RFC 9110 13.1)."""
    if header.strip() == "*":
        return True
    for candidate in header.split(","):
        candidate = candidate.strip()
        if weak:
            candidate = candidate.removeprefix("W/")
        if candidate == tag:
            return True
    return False


def check_if_match(if_match: str | None, revision: int, *, what: str) -> None:
    """Honour `If-Match` (optimistic concurrency): the client's ETag must name the current revision."""
    if if_match is not None and not etag_matches(if_match, etag(revision), weak=False):
        raise PreconditionFailed(f"{what} changed since; its revision is now {revision}")
