"""SmtpEmailSender keeps one SMTP connection across emails, against a real aiosmtpd server on 127.0.0.1:
connections are counted on the server side (each one says EHLO once and sends from its own port)."""

from __future__ import annotations

import asyncio
import datetime
import email
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from commerce_platform.devstack.processes import free_port
from commerce_platform.testing import until
from notification_service.channels.email import SmtpEmailSender
from notification_service.delivery import Deliverer, delivery_worker
from notification_service.settings import NotificationSettings

Peer = Any  # aiosmtpd's session.peer: (host, port) of the client's end of one connection


class RecordingHandler:
    """Records what the server saw; hooks run before the server answers, so by the time the client has
    its reply the record is there. Runs on the controller's thread: appends only."""

    def __init__(self) -> None:
        self.ehlo_peers: list[Peer] = []
        self.rcpts: list[str] = []
        self.quit_peers: list[Peer] = []
        self.starttls_peers: list[Peer] = []
        self.logins: list[tuple[Peer, bool, str, str]] = []  # peer, over TLS, user, password
        self.messages: list[tuple[Peer, bool, email.message.Message]] = []  # peer, over TLS, message
        self.refused_recipients: set[str] = set()
        self.refused_subjects: set[str] = set()

    async def handle_EHLO(
        self, server: Any, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self.ehlo_peers.append(session.peer)
        session.host_name = hostname  # what aiosmtpd's own EHLO does when no hook replaces it
        return responses

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        self.rcpts.append(address)
        if address in self.refused_recipients:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(envelope.original_content or b"")
        if message["Subject"] in self.refused_subjects:
            return "554 5.6.0 Message rejected"
        self.messages.append((session.peer, session.ssl is not None, message))
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.quit_peers.append(session.peer)
        return "221 Bye"

    def handle_STARTTLS(self, server: Any, session: Session, envelope: Envelope) -> bool:
        self.starttls_peers.append(session.peer)
        return True

    def authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((session.peer, session.ssl is not None, user, password))
        return AuthResult(success=(user, password) == ("mailer", "s3cret"), handled=False)

    def subjects(self) -> list[str]:
        return [str(message["Subject"]) for _, _, message in self.messages]

    def message_peers(self) -> set[Peer]:
        return {peer for peer, _, _ in self.messages}


class SmtpServer:
    """A real SMTP server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self, handler: RecordingHandler, **smtp_options: Any) -> None:
        self.handler, self.port, self.smtp_options = handler, free_port(), smtp_options
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **self.smtp_options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def server(handler: RecordingHandler) -> Iterator[SmtpServer]:
    running = SmtpServer(handler)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _sender(server: SmtpServer, **options: Any) -> SmtpEmailSender:
    return SmtpEmailSender(host="127.0.0.1", port=server.port, sender="shop@example.com", **options)


async def _send(sender: SmtpEmailSender, subject: str, to: str = "ada@example.com") -> str:
    return await sender.send(to=to, subject=subject, text=f"{subject} text", html=f"<p>{subject}</p>")



async def test_several_sends_share_one_connection(server: SmtpServer, handler: RecordingHandler) -> None:
    sender = _sender(server)
    try:
        ids = [await _send(sender, f"one-by-one {n}") for n in range(3)]
        # The delivery worker sends a batch at once: they take turns on the same connection.
        ids += await asyncio.gather(*(_send(sender, f"together {n}") for n in range(10)))
    finally:
        await sender.close()
    assert len(handler.ehlo_peers) == 1
    assert len(handler.message_peers()) == 1
    assert sorted(handler.subjects()) == sorted([f"one-by-one {n}" for n in range(3)] +
                                                [f"together {n}" for n in range(10)])
    assert [str(message["Message-ID"]) for _, _, message in handler.messages][:3] == ids[:3]
    assert sorted(str(message["Message-ID"]) for _, _, message in handler.messages) == sorted(ids)
    html = [part for part in handler.messages[0][2].walk() if part.get_content_type() == "text/html"]
    assert html and b"<p>one-by-one 0</p>" in html[0].get_payload(decode=True)
    assert handler.quit_peers == handler.ehlo_peers  # close() said goodbye


async def test_a_server_restart_between_sends_is_survived(server: SmtpServer, handler: RecordingHandler) -> None:
    sender = _sender(server)
    try:
        await _send(sender, "before restart")
        server.stop()
        server.start()
        # Nothing has run on our loop since the restart, so the client still takes its connection for
        # open: the next send meets the dead connection mid-command, reconnects and sends once more.
        assert sender._client.is_connected
        await _send(sender, "after restart")
        await _send(sender, "and on")
    finally:
        await sender.close()
    assert handler.subjects() == ["before restart", "after restart", "and on"]
    assert len(handler.ehlo_peers) == 2
    assert len(handler.message_peers()) == 2
    assert handler.messages[1][0] == handler.messages[2][0]


async def test_a_connection_the_server_timed_out_is_replaced(handler: RecordingHandler) -> None:
    server = SmtpServer(handler, timeout=0.2)  # the server drops clients idle for 0.2 s
    server.start()
    sender = _sender(server)  # our own idle close (30 s) is far off
    try:
        await _send(sender, "first")
        assert await until(lambda: not sender._client.is_connected, 3.0)  # the server hung up
        await _send(sender, "second")
    finally:
        await sender.close()
        server.stop()
    assert handler.subjects() == ["first", "second"]
    assert len(handler.message_peers()) == 2


@pytest.mark.parametrize("refusal", ["recipient", "data"])
async def test_a_refused_message_raises_and_is_not_retried(
    server: SmtpServer, handler: RecordingHandler, refusal: str
) -> None:
    handler.refused_recipients.add("nobody@example.com")
    handler.refused_subjects.add("spammy")
    sender = _sender(server)
    try:
        await _send(sender, "fine")
        if refusal == "recipient":
            with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
                await _send(sender, "to nobody", to="nobody@example.com")
            assert refused.value.recipients[0].code == 550
        else:
            with pytest.raises(aiosmtplib.SMTPDataError) as rejected:
                await _send(sender, "spammy")
            assert rejected.value.code == 554
        await _send(sender, "fine again")
    finally:
        await sender.close()
    assert handler.rcpts.count("nobody@example.com") == (1 if refusal == "recipient" else 0)
    assert handler.rcpts.count("ada@example.com") == (2 if refusal == "recipient" else 3)  # one "spammy" try
    assert handler.subjects() == ["fine", "fine again"]
    # A refusal is an answer, not a broken connection: the same connection carries on.
    assert len(handler.ehlo_peers) == 1


async def test_an_idle_connection_is_closed_and_reopened_on_demand(
    server: SmtpServer, handler: RecordingHandler
) -> None:
    sender = _sender(server, idle_timeout=0.5)
    try:
        for n in range(4):  # each send restarts the idle clock: 4 x 0.15 s > 0.5 s, yet one connection
            await _send(sender, f"busy {n}")
            await asyncio.sleep(0.15)
        assert handler.quit_peers == []
        assert await until(lambda: len(handler.quit_peers) == 1, 3.0)
        assert not sender._client.is_connected
        await _send(sender, "after a pause")
    finally:
        await sender.close()
    assert len(handler.ehlo_peers) == 2
    assert handler.quit_peers == handler.ehlo_peers
    peers = [peer for peer, _, _ in handler.messages]
    assert peers[:4] == [handler.ehlo_peers[0]] * 4
    assert peers[4] == handler.ehlo_peers[1]


async def test_unreachable_server_fails_fast_without_retry() -> None:
    sender = SmtpEmailSender(host="127.0.0.1", port=free_port(), sender="shop@example.com")
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await _send(sender, "nowhere")
    await sender.close()


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    return cert_path, key_path


async def test_starttls_and_login_happen_once_per_connection(
    handler: RecordingHandler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_path, key_path = _self_signed_certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_path, key_path)
    server = SmtpServer(
        handler, tls_context=tls, require_starttls=True, authenticator=handler.authenticate, auth_require_tls=True
    )
    server.start()
    # The client verifies the server's certificate as usual, against our throwaway CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    sender = _sender(server, starttls=True, username="mailer", password="s3cret")
    try:
        await _send(sender, "secure 1")
        await _send(sender, "secure 2")
    finally:
        await sender.close()
        server.stop()
    assert handler.subjects() == ["secure 1", "secure 2"]
    assert len(handler.starttls_peers) == 1
    assert [(over_tls, user, password) for _, over_tls, user, password in handler.logins] == [
        (True, "mailer", "s3cret")
    ]
    assert {over_tls for _, over_tls, _ in handler.messages} == {True}
    assert len(handler.message_peers()) == 1


async def test_a_wrong_password_is_refused(handler: RecordingHandler, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cert_path, key_path = _self_signed_certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_path, key_path)
    server = SmtpServer(handler, tls_context=tls, require_starttls=True, authenticator=handler.authenticate)
    server.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    sender = _sender(server, starttls=True, username="mailer", password="wrong")
    try:
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await _send(sender, "never")
    finally:
        await sender.close()
        server.stop()
    assert handler.messages == []
    # One connection: aiosmtplib tries each mechanism the server offers, and we do not reconnect to retry.
    assert len({peer for peer, _, _, _ in handler.logins}) == 1
    assert len(handler.starttls_peers) == 1


async def test_the_delivery_worker_quits_the_connection_at_shutdown(
    server: SmtpServer, handler: RecordingHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker is cancelled at shutdown; its sender says QUIT instead of leaving the server hanging.
    The database side is stubbed out: each round sends one email through the worker's own sender."""
    sent = asyncio.Event()

    async def deliver_one(self: Deliverer) -> int:
        if not sent.is_set():
            await self.email.send(to="ada@example.com", subject="from the worker", text="hi", html=None)
            sent.set()
        return 0

    monkeypatch.setattr(Deliverer, "deliver_due", deliver_one)
    settings = NotificationSettings(database_url="postgresql://unused/unused", smtp_port=server.port)
    app = SimpleNamespace(state={
        "settings": settings, "aws": None, "database": SimpleNamespace(engine=None), "service_clients": {"user": None},
    })
    worker = asyncio.create_task(delivery_worker(app))  # type: ignore[arg-type]
    await asyncio.wait_for(sent.wait(), 5.0)
    assert handler.quit_peers == []
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    assert handler.subjects() == ["from the worker"]
    assert handler.quit_peers == handler.ehlo_peers
    assert len(handler.quit_peers) == 1
