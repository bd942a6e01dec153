"""The delivery worker against the real schema, a real SMTP server, the running user service and moto:
outcomes survive a shutdown mid-batch, a batch ends by its deadline, a batch that outlived its claim
changes nothing, SES sends are not retried by botocore, and a text recorded without a recipient is
resolved (sent, dropped, or failed after retries) at delivery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from botocore.exceptions import ClientError

from commerce_platform.aws import AwsClients
from commerce_platform.devstack.aws_emulator import REGION
from commerce_platform.devstack.processes import free_port
from commerce_platform.http_client import ServiceClient
from commerce_platform.testing import new_shopper, until
from notification_service.channels.email import SesEmailSender, SmtpEmailSender
from notification_service.channels.sms import SnsSmsSender
from notification_service.contacts import ContactDirectory
from notification_service.delivery import Deliverer
from notification_service.settings import NotificationSettings


def _settings(stack: Any, *, max_attempts: int = 5) -> NotificationSettings:
    # A long backoff: a row that failed once is not due again while the test runs.
    return NotificationSettings(
        database_url=stack.admin_database_url, max_delivery_attempts=max_attempts, retry_base_seconds=3600.0
    )


@pytest.fixture
async def smtp(sink: tuple[Any, int]) -> AsyncIterator[SmtpEmailSender]:
    sender = SmtpEmailSender(host="127.0.0.1", port=sink[1], sender="shop@example.com")
    try:
        yield sender
    finally:
        sender._client.close()  # the server may be holding a message: no polite QUIT



async def test_emails_sent_before_a_shutdown_mid_batch_are_recorded(
    stack: Any, rows: Any, sink: tuple[Any, int], smtp: SmtpEmailSender, user_service: ServiceClient
) -> None:
    handler, _ = sink
    handler.held.add("c")
    ids = [await rows.insert(subject=subject) for subject in ("a", "b", "c")]
    token, claimed = await rows.claim(*ids)
    deliverer = Deliverer(rows.database, _settings(stack), smtp, None, ContactDirectory(user_service))  # type: ignore[arg-type]
    batch = asyncio.create_task(deliverer.deliver(token, claimed))
    # Sends take turns on one connection: once "c" hangs in DATA, "a" and "b" have their answers.
    assert await until(lambda: handler.holding == ["c"])
    batch.cancel()  # the worker is stopped (a deploy, a scale-in)
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert handler.subjects == ["a", "b"]
    states = [await rows.get(row_id) for row_id in ids]
    assert [(row["status"], row["attempts"]) for row in states] == [("sent", 1), ("sent", 1), ("pending", 0)]
    assert states[0]["provider_message_id"] and states[1]["provider_message_id"]


async def test_a_batch_ends_by_its_deadline_and_a_cut_off_send_counts_as_failed(
    stack: Any, rows: Any, sink: tuple[Any, int], smtp: SmtpEmailSender, user_service: ServiceClient
) -> None:
    handler, _ = sink
    handler.held.add("slow")
    fast, slow = await rows.insert(subject="fast"), await rows.insert(subject="slow")
    token, claimed = await rows.claim(fast, slow)
    deliverer = Deliverer(
        rows.database, _settings(stack), smtp, None, ContactDirectory(user_service), deadline_seconds=1.0  # type: ignore[arg-type]
    )
    started = time.monotonic()
    # Without a deadline the batch would last as long as the relay hangs (here: until the test ends).
    await asyncio.wait_for(deliverer.deliver(token, claimed), timeout=5.0)
    assert time.monotonic() - started < 3.0
    sent, cut_off = await rows.get(fast), await rows.get(slow)
    assert (sent["status"], sent["attempts"]) == ("sent", 1)
    assert (cut_off["status"], cut_off["attempts"]) == ("pending", 1)
    assert "cut off" in cut_off["last_error"]
    assert await rows.database.fetchrow(
        "SELECT 1 FROM notification WHERE id = $1 AND next_attempt_at > now() + interval '30 minutes'", slow
    )


async def test_a_batch_that_outlived_its_claim_records_nothing(
    stack: Any, rows: Any, sink: tuple[Any, int], smtp: SmtpEmailSender, user_service: ServiceClient
) -> None:
    """Replica A's lease ran out while it was still sending; replica B claimed the row again and sent
    it. A's late failure must not turn B's `sent` back into `pending` (to be sent a third time)."""
    row_id = await rows.insert(subject="once")
    contacts = ContactDirectory(user_service)
    token_a, claimed_by_a = await rows.claim(row_id)
    token_b, claimed_by_b = await rows.claim(row_id)
    await Deliverer(rows.database, _settings(stack), smtp, None, contacts).deliver(token_b, claimed_by_b)  # type: ignore[arg-type]
    unreachable = SmtpEmailSender(host="127.0.0.1", port=free_port(), sender="shop@example.com")
    await Deliverer(rows.database, _settings(stack), unreachable, None, contacts).deliver(token_a, claimed_by_a)  # type: ignore[arg-type]
    row = await rows.get(row_id)
    assert (row["status"], row["attempts"], row["last_error"], row["claim_token"]) == ("sent", 1, None, token_b)
    assert sink[0].subjects == ["once"]


_SES_INTERNAL_FAILURE = (
    '<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Receiver</Type>'
    "<Code>InternalFailure</Code><Message>internal failure</Message></Error><RequestId>r1</RequestId></ErrorResponse>"
)


async def test_ses_send_email_is_tried_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """SendEmail is not idempotent: botocore must not retry it (after a 5xx or a read timeout the
    email may have gone out); the worker's own backoff decides. A real HTTP endpoint answering 500
    stands in for SES (moto cannot be made to fail)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    requests: list[str] = []

    async def failing(request: web.Request) -> web.Response:
        requests.append(await request.text())
        return web.Response(status=500, content_type="text/xml", text=_SES_INTERNAL_FAILURE)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", failing)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        ses = SesEmailSender(AwsClients(region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}"),
                             sender="shop@example.com")
        with pytest.raises(ClientError):
            await ses.send(to="ada@example.com", subject="hi", text="hi", html=None)
    finally:
        await runner.cleanup()
    assert len(requests) == 1
    assert "SendEmail" in requests[0]


async def _opted_in_shopper(stack: Any, http: aiohttp.ClientSession, *, opt_in: bool) -> str:
    shopper = await new_shopper(http, stack.service_url("user"))
    async with http.patch(f"{stack.gateway_url}/v1/users/me", headers=shopper.headers,
                          json={"phone": "+4930765432", "sms_opt_in": opt_in}) as resp:
        assert resp.status == 200, await resp.text()
    return shopper.user_id


async def test_a_text_without_recipient_is_resolved_and_sent(
    stack: Any, http: aiohttp.ClientSession, rows: Any, user_service: ServiceClient
) -> None:
    user_id = await _opted_in_shopper(stack, http, opt_in=True)
    row_id = await rows.insert(channel="sms", recipient=None, user_id=user_id)
    token, claimed = await rows.claim(row_id)
    sms = SnsSmsSender(AwsClients(region=REGION, endpoint_url=stack.aws_endpoint_url))
    await Deliverer(rows.database, _settings(stack), None, sms, ContactDirectory(user_service)).deliver(token, claimed)  # type: ignore[arg-type]
    row = await rows.get(row_id)
    assert (row["status"], row["recipient"], row["attempts"]) == ("sent", "+4930765432", 1)
    assert row["provider_message_id"]


async def test_a_text_without_recipient_nobody_wants_is_dropped(
    stack: Any, http: aiohttp.ClientSession, rows: Any, user_service: ServiceClient
) -> None:
    user_id = await _opted_in_shopper(stack, http, opt_in=False)
    row_id = await rows.insert(channel="sms", recipient=None, user_id=user_id)
    token, claimed = await rows.claim(row_id)
    sms = SnsSmsSender(AwsClients(region=REGION, endpoint_url=stack.aws_endpoint_url))
    await Deliverer(rows.database, _settings(stack), None, sms, ContactDirectory(user_service)).deliver(token, claimed)  # type: ignore[arg-type]
    assert await rows.get(row_id) is None


async def test_a_text_without_recipient_fails_after_retries_while_the_user_service_is_down(
    stack: Any, http: aiohttp.ClientSession, rows: Any
) -> None:
    user_id = await _opted_in_shopper(stack, http, opt_in=True)
    row_id = await rows.insert(channel="sms", recipient=None, user_id=user_id)
    down = ContactDirectory(ServiceClient(http, service="user", base_url=f"http://127.0.0.1:{free_port()}"))
    sms = SnsSmsSender(AwsClients(region=REGION, endpoint_url=stack.aws_endpoint_url))
    deliverer = Deliverer(rows.database, _settings(stack, max_attempts=2), None, sms, down)  # type: ignore[arg-type]
    states = []
    for _ in range(2):
        token, claimed = await rows.claim(row_id)
        await deliverer.deliver(token, claimed)
        row = await rows.get(row_id)
        states.append((row["status"], row["attempts"], row["recipient"]))
    assert states == [("pending", 1, None), ("failed", 2, None)]
    assert "user service is unavailable" in row["last_error"]
