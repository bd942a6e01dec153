"""Topics, queues and subscriptions, declared once for the local stack and for Pulumi.

The local AWS endpoint is provisioned from this declaration at start; infra-pulumi creates the same
resources in AWS. Every queue gets a dead-letter queue and a redrive policy. Keep it import-light.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    event_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    # Topics whose messages fan out to this queue (raw message delivery).
    subscribes_to: tuple[str, ...]
    # After this many failed receives SQS moves a message to the dead-letter queue.
    max_receive_count: int = 5
    visibility_timeout_seconds: int = 30

    @property
    def dead_letter_name(self) -> str:
        return f"{self.name}-dlq"


TOPICS: tuple[Topic, ...] = (
    Topic("order-events", ("OrderCreated", "OrderCancelled")),
    Topic("product-events", ("ProductCreated", "ProductUpdated", "ProductDeleted")),
    Topic("inventory-events", ("StockChanged",)),
)

QUEUES: tuple[Queue, ...] = (
    Queue("inventory-orders", subscribes_to=("order-events", "product-events")),
    Queue("notification-orders", subscribes_to=("order-events",)),
    Queue("search-products", subscribes_to=("product-events", "inventory-events")),
)


def topic(name: str) -> Topic:
    for t in TOPICS:
        if t.name == name:
            return t
    raise KeyError(f"unknown topic {name!r}")


def queue(name: str) -> Queue:
    for q in QUEUES:
        if q.name == name:
            return q
    raise KeyError(f"unknown queue {name!r}")
