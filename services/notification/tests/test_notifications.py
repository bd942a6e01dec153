"""Order events become emails: consumed from the real queue, sent to the stack's SMTP sink, listed by
the API; a redelivered event sends nothing twice; an unreachable mail server ends as `failed`."""

import asyncio
import datetime
import email
import time
import uuid
from pathlib import Path

import aiohttp

from commerce_platform.database import Database
from commerce_platform.devstack.launcher import Stack
from commerce_platform.devstack.processes import free_port
from commerce_platform.events.catalog import OrderCancelled, OrderCreated, OrderLine, ShippingAddress
from commerce_platform.testing import new_shopper, problem, publish_event
from notification_service.channels.email import SmtpEmailSender
from notification_service.delivery import Deliverer
from notification_service.settings import NotificationSettings


def _order_created(user_id: str, email_address: str) -> OrderCreated:
    return OrderCreated(
        order_id=uuid.uuid4(),
        user_id=uuid.UUID(user_id),
        email=email_address,
        reservation_id=uuid.uuid4(),
        items=[OrderLine(product_id=uuid.uuid4(), sku="SKU-1", name="Trail <Runner>", quantity=2,
                         unit_price_cents=4999)],
        total_cents=9998,
        currency="EUR",
        shipping_address=ShippingAddress(full_name="Ada", line1="1 Road", city="London", postal_code="N1",
                                         country="GB"),
        created_at=datetime.datetime.now(datetime.UTC),
    )


def _mails_to(maildir: Path, recipient: str) -> list[email.message.Message]:
    found = []
    for path in sorted(maildir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == recipient:
            found.append(message)
    return found


async def _wait_for(predicate, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


async def test_order_created_sends_one_email_even_when_redelivered(stack: Stack, http: aiohttp.ClientSession) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    event = _order_created(shopper.user_id, shopper.email)
    envelope = await publish_event(stack.aws_endpoint_url, event)
    # The same event again, as SNS/SQS may deliver it: same envelope id.
    await publish_event(stack.aws_endpoint_url, event, event_id=envelope.id)

    async def sent() -> list[dict]:  # type: ignore[type-arg]
        async with http.get(f"{stack.gateway_url}/v1/notifications", headers=shopper.headers) as resp:
            items = (await resp.json())["items"]
        return [n for n in items if n["status"] == "sent"]

    notifications = await _wait_for(sent)
    assert len(notifications) == 1
    assert notifications[0]["type"] == "order_confirmation"
    assert notifications[0]["channel"] == "email"
    assert notifications[0]["order_id"] == str(event.order_id)
    await asyncio.sleep(1.0)  # give a duplicate every chance to show up
    mails = _mails_to(stack.maildir, shopper.email)
    assert len(mails) == 1
    assert "confirmed" in mails[0]["Subject"]
    parts = {part.get_content_type(): part.get_payload(decode=True).decode() for part in mails[0].walk()
             if not part.is_multipart()}
    assert "Total: 99.98 EUR" in parts["text/plain"]
    assert "Trail &lt;Runner&gt;" in parts["text/html"]


async def test_order_cancelled_sends_a_cancellation(stack: Stack, http: aiohttp.ClientSession) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    created = _order_created(shopper.user_id, shopper.email)
    await publish_event(
        stack.aws_endpoint_url,
        OrderCancelled(
            order_id=created.order_id, user_id=created.user_id, email=created.email,
            reservation_id=created.reservation_id, items=created.items, total_cents=created.total_cents,
            currency=created.currency, reason="customer asked", cancelled_at=datetime.datetime.now(datetime.UTC),
        ),
    )

    async def cancellation() -> list[dict]:  # type: ignore[type-arg]
        async with http.get(f"{stack.gateway_url}/v1/notifications", headers=shopper.headers,
                            params={"order_id": str(created.order_id)}) as resp:
            return [n for n in (await resp.json())["items"] if n["status"] == "sent"]

    assert [n["type"] for n in await _wait_for(cancellation)] == ["order_cancellation"]


async def test_notifications_are_private(stack: Stack, http: aiohttp.ClientSession) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    other = await new_shopper(http, stack.service_url("user"))
    async with http.get(f"{stack.gateway_url}/v1/notifications",
                        headers=shopper.headers, params={"user_id": other.user_id}) as resp:
        await problem(resp, 403)
    async with http.get(f"{stack.gateway_url}/v1/notifications") as resp:
        await problem(resp, 401)


async def test_unreachable_mail_server_retries_then_fails(stack: Stack) -> None:
    database = Database(stack.admin_database_url, schema="notifications", application_name="notification-tests")
    # A long backoff keeps the running service's own worker away from our row between attempts.
    settings = NotificationSettings(
        database_url=stack.admin_database_url, max_delivery_attempts=2, retry_base_seconds=3600.0
    )
    closed = SmtpEmailSender(host="127.0.0.1", port=free_port(), sender="shop@example.com")
    notification_id = uuid.uuid4()
    try:
        # Not due for a day, so only this test attempts it.
        await database.fetch(
            "INSERT INTO notification (id, event_id, user_id, type, channel, recipient, subject, body_text, "
            "status, attempts, next_attempt_at) VALUES ($1, $2, $3, 'order_confirmation', 'email', "
            "'nobody@example.com', 'hi', 'hi', 'pending', 0, now() + interval '1 day')",
            notification_id, uuid.uuid4(), uuid.uuid4(),
        )
        deliverer = Deliverer(database, settings, closed, sms=None)  # type: ignore[arg-type]
        statuses = []
        for _ in range(2):
            await _deliver_only(deliverer, database, notification_id)
            row = await database.fetchrow(
                "SELECT status, attempts, last_error, next_attempt_at > now() + interval '30 minutes' AS backed_off"
                " FROM notification WHERE id = $1",
                notification_id,
            )
            assert row is not None
            statuses.append((row["status"], row["attempts"]))
        assert statuses == [("pending", 1), ("failed", 2)]
        assert row["last_error"] and row["backed_off"]
    finally:
        await database.fetch("DELETE FROM notification WHERE id = $1", notification_id)
        await database.close()


async def _deliver_only(deliverer: Deliverer, database: Database, notification_id: uuid.UUID) -> None:
    """Attempt exactly our row, as the worker would once it is due."""
    row = await database.fetchrow(
        "SELECT id, channel, recipient, subject, body_text, body_html, attempts FROM notification WHERE id = $1",
        notification_id,
    )
    assert row is not None
    await deliverer.deliver([dict(row)])


async def test_opted_in_customers_also_get_a_text(stack: Stack, http: aiohttp.ClientSession) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    async with http.patch(
        f"{stack.gateway_url}/v1/users/me", json={"phone": "+4930123456", "sms_opt_in": True}, headers=shopper.headers
    ) as resp:
        assert resp.status == 200, await resp.text()
    event = _order_created(shopper.user_id, shopper.email)
    await publish_event(stack.aws_endpoint_url, event)

    async def sent() -> list[dict]:  # type: ignore[type-arg]
        async with http.get(f"{stack.gateway_url}/v1/notifications", headers=shopper.headers) as resp:
            return [n for n in (await resp.json())["items"] if n["status"] == "sent"]

    notifications = await _wait_for(lambda: _both_channels(sent))
    assert sorted((n["channel"], n["recipient"]) for n in notifications) == [
        ("email", shopper.email), ("sms", "+4930123456"),
    ]


async def _both_channels(sent):  # type: ignore[no-untyped-def]
    found = await sent()
    return found if len(found) == 2 else []
