"""What one delivery attempt came to, and how a batch's outcomes are written back, fenced by its claim.

Every statement matches only rows still `pending` and still holding the claim token of the batch
that attempted them. A batch that outlived its lease finds its rows claimed by someone else (or
already `sent`) and changes nothing: a late failure can no longer turn `sent` back into `pending`.
Each statement is atomic on its own, so none needs an explicit transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

# One statement per kind of outcome for the whole batch. `recipient` is only ever filled in: a text
# recorded without one (the user service was down) keeps what delivery resolved.
_SENT = """
UPDATE notification n SET status = 'sent', sent_at = now(), attempts = n.attempts + 1, last_error = NULL,
    provider_message_id = s.provider_id, recipient = coalesce(n.recipient, s.recipient), updated_at = now()
FROM unnest($1::uuid[], $2::text[], $3::text[]) AS s(id, provider_id, recipient)
WHERE n.id = s.id AND n.status = 'pending' AND n.claim_token = $4
RETURNING n.id
"""
_FAILED_ATTEMPT = """
UPDATE notification n SET attempts = n.attempts + 1, last_error = f.error, updated_at = now(),
    status = CASE WHEN n.attempts + 1 >= $5 THEN 'failed' ELSE 'pending' END,
    next_attempt_at = now() + make_interval(secs => f.delay), recipient = coalesce(n.recipient, f.recipient)
FROM unnest($1::uuid[], $2::text[], $3::float8[], $4::text[]) AS f(id, error, delay, recipient)
WHERE n.id = f.id AND n.status = 'pending' AND n.claim_token = $6
RETURNING n.id
"""
# A text the customer no longer wants (opted out, no phone, account closed or gone): nothing to keep.
_DROPPED = """
DELETE FROM notification WHERE id = ANY($1::uuid[]) AND status = 'pending' AND claim_token = $2
RETURNING id
"""


@dataclass(frozen=True, slots=True)
class Sent:
    id: UUID
    channel: str
    recipient: str | None
    provider_id: str


@dataclass(frozen=True, slots=True)
class Failed:
    id: UUID
    channel: str
    error: str
    retry_in_seconds: float
    recipient: str | None = None


@dataclass(frozen=True, slots=True)
class Dropped:
    id: UUID
    channel: str


Outcome = Sent | Failed | Dropped


async def record_outcomes(
    conn: asyncpg.Connection, claim: UUID, outcomes: Sequence[Outcome], *, max_attempts: int
) -> set[UUID]:
    """Write the outcomes of the batch claimed as `claim`; returns the ids that were written (the
    others were claimed again meanwhile, and their outcome is dropped)."""
    sent = [o for o in outcomes if isinstance(o, Sent)]
    failed = [o for o in outcomes if isinstance(o, Failed)]
    dropped = [o for o in outcomes if isinstance(o, Dropped)]
    written: list[asyncpg.Record] = []
    if sent:
        written += await conn.fetch(
            _SENT, [o.id for o in sent], [o.provider_id for o in sent], [o.recipient for o in sent], claim
        )
    if failed:
        written += await conn.fetch(
            _FAILED_ATTEMPT, [o.id for o in failed], [o.error for o in failed],
            [o.retry_in_seconds for o in failed], [o.recipient for o in failed], max_attempts, claim,
        )
    if dropped:
        written += await conn.fetch(_DROPPED, [o.id for o in dropped], claim)
    return {row["id"] for row in written}
