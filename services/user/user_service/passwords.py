"""Password policy and Argon2id hashing, run off the event loop on a bounded pool of threads."""

from __future__ import annotations

import asyncio
import string
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from commerce_platform.errors import ProblemError

MIN_LENGTH = 10
MAX_LENGTH = 128
# A local part this short ("a@…") would forbid half the alphabet, so it is not checked.
MIN_CHECKED_LOCAL_PART = 3

T = TypeVar("T")

_CHARACTER_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits)


class WeakPassword(ValueError):
    """The password breaks the policy; the message tells the user which rule."""


def check_password_policy(password: str, *, email: str) -> None:
    """Raise WeakPassword unless `password` is 10 to 128 characters, mixes at least two kinds of
    character (lower case, upper case, digits, anything else) and does not contain the email's
    local part. Length beats composition rules (NIST SP 800-63B), so the mix rule only stops the
    likes of `aaaaaaaaaa` and `1234567890`."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password must be at most {MAX_LENGTH} characters long")
    if _character_kinds(password) < 2:
        raise WeakPassword("password must mix at least two kinds of character (letters, digits, symbols)")
    local = email.rpartition("@")[0].lower()
    if len(local) >= MIN_CHECKED_LOCAL_PART and local in password.lower():
        raise WeakPassword("password must not contain the email address")


def _character_kinds(password: str) -> int:
    kinds = sum(1 for chars in _CHARACTER_CLASSES if any(c in chars for c in password))
    if any(not any(c in chars for chars in _CHARACTER_CLASSES) for c in password):
        kinds += 1  # symbols, spaces, non-ASCII letters
    return kinds


class HashingBusy(ProblemError):
    """The hashing queue is full: answer at once, and let the client come back in a moment."""

    status_code = 503
    problem_type = "overloaded"

    def __init__(self) -> None:
        super().__init__("too many password checks in progress; retry shortly", headers={"Retry-After": "1"})


class PasswordHashing:
    """Argon2id hashes; every call runs on a small dedicated pool so a burst of logins queues up
    instead of blocking the event loop or allocating 64 MiB per concurrent request.

    The queue is bounded too: past `max_pending` calls in flight (running or waiting) the next one
    is refused with HashingBusy (503). Hashing a new password (sign-up, password change) may use
    only `max_pending_new` of those places, so a flood of unauthenticated sign-ups cannot fill the
    queue that logins wait in.
    """

    def __init__(
        self,
        *,
        time_cost: int,
        memory_kib: int,
        parallelism: int,
        workers: int,
        max_pending: int = 64,
        max_pending_new: int = 16,
    ) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._dummy_hash: str | None = None
        self._max_pending = max_pending
        self._max_pending_new = min(max_pending_new, max_pending)
        self._pending = 0
        self._pending_new = 0

    async def hash_new(self, password: str) -> str:
        """Hash a password being set (sign-up, password change): the bounded share of the queue."""
        if self._pending_new >= self._max_pending_new:
            raise HashingBusy
        self._pending_new += 1
        try:
            return await self.hash(password)
        finally:
            self._pending_new -= 1

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(self._verify, password_hash, password)

    async def verify_against_dummy(self, password: str) -> None:
        """Spend the time a real check costs, so an unknown email answers as slowly as a wrong
        password and response times do not reveal which accounts exist."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("not a real password: timing equaliser")
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        # One event loop owns the counters, so checking and counting need no lock. A caller that is
        # cancelled gives its place back at once, although its hash still runs to the end.
        if self._pending >= self._max_pending:
            raise HashingBusy
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._pending -= 1
