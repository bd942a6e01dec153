"""Topics, queues and subscriptions, declared once for the local stack and for Pulumi.

The local AWS endpoint is provisioned from this declaration at start; infra-pulumi creates the same
resources in AWS. Every queue gets a dead-letter queue and a redrive policy. Keep it import-light.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    event_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TopicFilter:
    """Only messages of `topic` whose attribute `attribute` is one of `values` reach the queue: an SNS
    subscription filter policy. The relay sends the attributes `events.catalog.MESSAGE_ATTRIBUTE_FIELDS`
    names, so a filter may only use those."""

    topic: str
    attribute: str
    values: tuple[str, ...]

    def policy(self) -> dict[str, list[str]]:
        return {self.attribute: list(self.values)}


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    # Topics whose messages fan out to this queue (raw message delivery).
    subscribes_to: tuple[str, ...]
    # After this many failed receives SQS moves a message to the dead-letter queue.
    max_receive_count: int = 5
    visibility_timeout_seconds: int = 30
    # At most one per topic; a topic without one delivers everything.
    filters: tuple[TopicFilter, ...] = ()

    @property
    def dead_letter_name(self) -> str:
        return f"{self.name}-dlq"

    def filter_policy(self, topic_name: str) -> Mapping[str, list[str]] | None:
        """The subscription filter policy of this queue on `topic_name`, or None for none."""
        for f in self.filters:
            if f.topic == topic_name:
                return f.policy()
        return None


TOPICS: tuple[Topic, ...] = (
    Topic("order-events", ("OrderCreated", "OrderCancelled")),
    Topic("product-events", ("ProductCreated", "ProductUpdated", "ProductDeleted")),
    Topic("inventory-events", ("StockChanged",)),
)

QUEUES: tuple[Queue, ...] = (
    Queue("inventory-orders", subscribes_to=("order-events", "product-events")),
    Queue("notification-orders", subscribes_to=("order-events",)),
    Queue(
        "search-products",
        subscribes_to=("product-events", "inventory-events"),
        # Search shows `available`; a sale moves on_hand and reserved together and changes nothing
        # it shows, so those StockChanged (one per order) never reach it.
        filters=(TopicFilter("inventory-events", "available_changed", ("true",)),),
    ),
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
