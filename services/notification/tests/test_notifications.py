"""Order events become emails: consumed from the real queue, sent to the stack's SMTP sink, listed by
the API; a redelivered event sends nothing twice; an unreachable mail server ends as `failed`; the
email goes out while the user service is down (the text follows once it is back); deactivated
accounts get no texts; customers see their own rows with a short error, admins everyone's in full."""

import asyncio
import datetime
import email
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from commerce_platform.database import Database
from commerce_platform.devstack.launcher import Stack
from commerce_platform.devstack.processes import free_port
from commerce_platform.events.catalog import OrderCancelled, OrderCreated, OrderLine, ShippingAddress
from commerce_platform.testing import Shopper, bearer, new_shopper, problem, publish_event
from notification_service.channels.email import SmtpEmailSender
from notification_service.contacts import ContactDirectory
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


async def test_unreachable_mail_server_retries_then_fails(stack: Stack, rows: Any, user_service: Any) -> None:
    # A long backoff keeps the running service's own worker away from our row between attempts.
    settings = NotificationSettings(
        database_url=stack.admin_database_url, max_delivery_attempts=2, retry_base_seconds=3600.0
    )
    closed = SmtpEmailSender(host="127.0.0.1", port=free_port(), sender="shop@example.com")
    notification_id = await rows.insert(recipient="nobody@example.com")  # not due for a day: only we attempt it
    deliverer = Deliverer(rows.database, settings, closed, None, ContactDirectory(user_service))  # type: ignore[arg-type]
    statuses = []
    for _ in range(2):
        token, claimed = await rows.claim(notification_id)  # as the worker would once it is due
        await deliverer.deliver(token, claimed)
        row = await rows.database.fetchrow(
            "SELECT status, attempts, last_error, next_attempt_at > now() + interval '30 minutes' AS backed_off"
            " FROM notification WHERE id = $1",
            notification_id,
        )
        assert row is not None
        statuses.append((row["status"], row["attempts"]))
    assert statuses == [("pending", 1), ("failed", 2)]
    assert row["last_error"] and row["backed_off"]


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


async def _texts_allowed(http: aiohttp.ClientSession, stack: Stack, shopper: Shopper, phone: str) -> None:
    async with http.patch(f"{stack.gateway_url}/v1/users/me", json={"phone": phone, "sms_opt_in": True},
                          headers=shopper.headers) as resp:
        assert resp.status == 200, await resp.text()


async def _order_row(database: Database, order_id: uuid.UUID, channel: str) -> Any:
    return await database.fetchrow(
        "SELECT status, recipient, attempts FROM notification WHERE order_id = $1 AND channel = $2", order_id, channel
    )


async def test_the_email_goes_out_while_the_user_service_is_down_and_the_text_follows(
    stack: Stack, http: aiohttp.ClientSession, notifications_database: Database
) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    await _texts_allowed(http, stack, shopper, "+4930111222")
    event = _order_created(shopper.user_id, shopper.email)
    stack.stop_service("user")
    try:
        await publish_event(stack.aws_endpoint_url, event)

        async def email_sent() -> bool:
            row = await _order_row(notifications_database, event.order_id, "email")
            return row is not None and row["status"] == "sent"

        assert await _wait_for(email_sent), "no email while the user service was down"
        text = await _order_row(notifications_database, event.order_id, "sms")
        assert text is not None and text["recipient"] is None and text["status"] == "pending"
    finally:
        await stack.start_service("user")

    async def text_sent() -> Any:
        row = await _order_row(notifications_database, event.order_id, "sms")
        return row if row is not None and row["status"] != "pending" else None

    # The worker asks again with its backoff (2, 4, 8, 16 s) until the user service answers.
    text = await _wait_for(text_sent, timeout=45.0)
    assert text is not None and (text["status"], text["recipient"]) == ("sent", "+4930111222")
    assert len(_mails_to(stack.maildir, shopper.email)) == 1


async def test_a_deactivated_account_gets_no_text(
    stack: Stack, http: aiohttp.ClientSession, admin_token: str, notifications_database: Database
) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    await _texts_allowed(http, stack, shopper, "+4930333444")
    async with http.patch(f"{stack.gateway_url}/v1/users/{shopper.user_id}", json={"is_active": False},
                          headers=bearer(admin_token)) as resp:
        assert resp.status == 200, await resp.text()
    event = _order_created(shopper.user_id, shopper.email)
    await publish_event(stack.aws_endpoint_url, event)

    async def email_recorded() -> Any:
        return await _order_row(notifications_database, event.order_id, "email")

    # The text would have been recorded in the same transaction as the email.
    assert await _wait_for(email_recorded)
    assert await _order_row(notifications_database, event.order_id, "sms") is None


async def _list(http: aiohttp.ClientSession, stack: Stack, headers: dict[str, str], **params: Any) -> Any:
    async with http.get(f"{stack.gateway_url}/v1/notifications", headers=headers,
                        params={k: str(v) for k, v in params.items()}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_paging_past_the_end_counts_everything_and_a_huge_page_is_a_400(
    stack: Stack, http: aiohttp.ClientSession, rows: Any
) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    await rows.insert(user_id=shopper.user_id, status="sent")
    past_the_end = await _list(http, stack, shopper.headers, page=2, page_size=1)
    assert (past_the_end["items"], past_the_end["total"]) == ([], 1)
    async with http.get(f"{stack.gateway_url}/v1/notifications", headers=shopper.headers,
                        params={"page": str(10**17), "page_size": "100"}) as resp:
        await problem(resp, 400)


async def test_admins_see_every_users_notifications_customers_only_their_own(
    stack: Stack, http: aiohttp.ClientSession, rows: Any, admin_token: str
) -> None:
    owner = await new_shopper(http, stack.service_url("user"))
    other = await new_shopper(http, stack.service_url("user"))
    order_id = uuid.uuid4()
    row_id = await rows.insert(user_id=owner.user_id, order_id=order_id, status="sent")
    admin = bearer(admin_token)
    assert [n["id"] for n in (await _list(http, stack, admin, order_id=order_id))["items"]] == [str(row_id)]
    assert [n["id"] for n in (await _list(http, stack, admin, user_id=owner.user_id))["items"]] == [str(row_id)]
    assert (await _list(http, stack, other.headers, order_id=order_id))["items"] == []
    assert [n["id"] for n in (await _list(http, stack, owner.headers))["items"]] == [str(row_id)]


async def test_customers_see_a_short_error_admins_the_providers_own(
    stack: Stack, http: aiohttp.ClientSession, rows: Any, admin_token: str
) -> None:
    shopper = await new_shopper(http, stack.service_url("user"))
    raw = ("ClientError('An error occurred (AccessDenied) when calling the SendEmail operation: User: "
           "arn:aws:sts::123456789012:assumed-role/notification-task is not authorized to perform ses:SendEmail')")
    await rows.insert(user_id=shopper.user_id, status="failed", attempts=5, last_error=raw, subject="gave up")
    await rows.insert(user_id=shopper.user_id, status="pending", attempts=1, last_error=raw, subject="retrying")
    await rows.insert(user_id=shopper.user_id, status="sent", attempts=1, subject="fine")
    mine = await _list(http, stack, shopper.headers)
    assert {n["subject"]: n["last_error"] for n in mine["items"]} == {
        "gave up": "delivery failed", "retrying": "delivery failed, will retry", "fine": None,
    }
    full = await _list(http, stack, bearer(admin_token), user_id=shopper.user_id)
    assert {n["subject"]: n["last_error"] for n in full["items"]} == {"gave up": raw, "retrying": raw, "fine": None}
