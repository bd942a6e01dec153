"""Email addresses as the user service stores and compares them."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class InvalidEmail(ValueError):
    """The text is not a usable email address; the message says why, for the client."""


def normalize_email(raw: str) -> str:
    """Syntax-check `raw` (no DNS lookups: registration must not depend on the network) and return
    it normalized: trimmed, domain lower-cased and IDNA-normalized, local part kept as typed.

    The local part keeps its case because RFC 5321 lets a mail server treat it case-sensitively;
    uniqueness is case-insensitive all the same (a unique index on `lower(email)`).
    """
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from exc
    return result.normalized


def email_key(email: str) -> str:
    """The case-insensitive identity of an address: what the unique index and lookups compare."""
    return email.strip().lower()


def local_part(email: str) -> str:
    return email.rpartition("@")[0]
