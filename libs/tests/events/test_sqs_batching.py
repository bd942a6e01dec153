"""The consumer's SQS batching helpers against a fake client: when batches go out, what is retried."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from commerce_platform.events.consumer import BatchDeleter, LeaseKeeper

log = structlog.get_logger("tests")


class FakeSqs:
    """Records batch calls; `failures` maps a receipt to the `Failed` entry SQS would report for it
    (once), and `broken` makes every call raise."""

    def __init__(self) -> None:
        self.deletes: list[list[str]] = []
        self.extensions: list[list[tuple[str, int]]] = []
        self.failures: dict[str, dict[str, Any]] = {}
        self.broken = False
        self.deleted = asyncio.Event()

    async def delete_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        assert QueueUrl == "http://sqs/123/q"
        assert 1 <= len(Entries) <= 10
        assert len({entry["Id"] for entry in Entries}) == len(Entries)
        self.deletes.append([entry["ReceiptHandle"] for entry in Entries])
        self.deleted.set()
        if self.broken:
            raise ConnectionError("endpoint unreachable")
        failed = [
            {"Id": entry["Id"], **self.failures.pop(entry["ReceiptHandle"])}
            for entry in Entries
            if entry["ReceiptHandle"] in self.failures
        ]
        return {"Successful": [], "Failed": failed}

    async def change_message_visibility_batch(
        self,
        *,
        QueueUrl: str,
        Entries: list[dict[str, Any]],
    ) -> dict[str, Any]:
        assert 1 <= len(Entries) <= 10
        self.extensions.append([(entry["ReceiptHandle"], entry["VisibilityTimeout"]) for entry in Entries])
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


def deleter(sqs: FakeSqs, max_delay: float) -> BatchDeleter:
    deletes = BatchDeleter(sqs, "http://sqs/123/q", max_delay=max_delay, log=log)
    deletes.start()
    return deletes


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_ten_pending_deletes_go_out_at_once() -> None:
    sqs = FakeSqs()
    deletes = deleter(sqs, max_delay=60)
    for n in range(23):
        deletes.add(f"r{n}")
    await settle()
    # Two full batches without waiting for the delay; the last three wait for it.
    assert sqs.deletes == [[f"r{n}" for n in range(10)], [f"r{n}" for n in range(10, 20)]]
    assert deletes.pending == 3
    await deletes.close(1.0)
    assert sqs.deletes[2:] == [["r20", "r21", "r22"]]


async def test_a_few_pending_deletes_go_out_after_the_delay() -> None:
    sqs = FakeSqs()
    deletes = deleter(sqs, max_delay=0.1)
    started = time.monotonic()
    deletes.add("a")
    await asyncio.sleep(0.02)
    deletes.add("b")
    assert sqs.deletes == []
    await asyncio.wait_for(sqs.deleted.wait(), 1.0)
    assert 0.08 <= time.monotonic() - started < 0.5
    assert sqs.deletes == [["a", "b"]]
    await deletes.close(1.0)
    assert sqs.deletes == [["a", "b"]]


async def test_shutdown_sends_what_is_pending_without_waiting_for_the_delay() -> None:
    sqs = FakeSqs()
    deletes = deleter(sqs, max_delay=60)
    for receipt in ("a", "b", "c"):
        deletes.add(receipt)
    started = time.monotonic()
    await deletes.close(1.0)
    assert time.monotonic() - started < 0.5
    assert sqs.deletes == [["a", "b", "c"]]


async def test_refused_entries_are_left_to_redelivery_other_failures_retried() -> None:
    sqs = FakeSqs()
    sqs.failures = {
        "expired": {"SenderFault": True, "Code": "ReceiptHandleIsInvalid", "Message": "gone"},
        "unlucky": {"SenderFault": False, "Code": "InternalError", "Message": "try again"},
    }
    deletes = deleter(sqs, max_delay=0.01)
    for receipt in ("ok", "expired", "unlucky"):
        deletes.add(receipt)
    await deletes.close(1.0)
    assert sqs.deletes == [["ok", "expired", "unlucky"], ["unlucky"]]


async def test_a_failing_endpoint_is_tried_three_times_then_given_up() -> None:
    sqs = FakeSqs()
    sqs.broken = True
    deletes = deleter(sqs, max_delay=0.01)
    deletes.add("a")
    deletes.add("a")  # one receipt is one entry: SQS refuses a batch naming it twice
    await asyncio.sleep(0.2)
    assert sqs.deletes == [["a"], ["a"], ["a"]]
    assert deletes.pending == 0
    await deletes.close(1.0)


async def test_lease_keeper_extends_only_due_messages_in_batches() -> None:
    sqs = FakeSqs()
    leases = LeaseKeeper(sqs, "http://sqs/123/q", visibility_timeout=30, log=log)
    now = time.monotonic()
    long_ago = now - leases.interval - 1
    for n in range(12):
        leases.hold(f"slow{n}", long_ago)
    leases.hold("fresh", now)
    leases.hold("done", long_ago)
    leases.release("done")
    await leases.extend_due()
    assert [len(batch) for batch in sqs.extensions] == [10, 2]
    extended = [entry for batch in sqs.extensions for entry in batch]
    assert sorted(extended) == sorted((f"slow{n}", 30) for n in range(12))
    # Extended leases are due again only after another interval.
    await leases.extend_due()
    assert len(sqs.extensions) == 2
