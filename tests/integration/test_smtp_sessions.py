"""The worker's SMTP sessions against a real server (STARTTLS and AUTH): the mails of a
round share one session (one handshake, one login), a session is renewed when it is
old, has carried its share, went quiet or was dropped, and a refused recipient leaves
it usable."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from tests.smtp_server import Mailbox, self_signed, smtp_server

from casework.services.mail_settings import MailSettings, from_env
from casework.worker.mail import SmtpTransport, Undeliverable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Mailbox, MailSettings]]:
    certificate = self_signed(tmp_path)
    with smtp_server(certificate=certificate, credentials=("mailer", "secret")) as box:
        settings = from_env(
            {
                "CASEWORK_SMTP_URL": f"smtp://mailer:secret@127.0.0.1:{box.port}",
                "CASEWORK_MAIL_FROM": "casework@example.org",
                "CASEWORK_SMTP_CA_FILE": str(certificate.cert_file),
            }
        )
        assert settings is not None
        yield box, settings


def _mail(n: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "casework@example.org"
    message["To"] = f"person{n}@example.org"
    message["Subject"] = f"mail {n}"
    message.set_content(f"body {n}\n")
    return message


def test_the_mails_of_a_round_share_one_session(
    server: tuple[Mailbox, MailSettings],
) -> None:
    box, settings = server
    transport = SmtpTransport(settings)
    for n in range(3):
        transport.send(_mail(n))
    transport.close()
    assert [r.message["Subject"] for r in box.received] == ["mail 0", "mail 1", "mail 2"]
    assert box.logins == ["mailer"]  # one TLS session, one login, three mails


def test_a_session_is_renewed_when_old_full_or_idle(
    server: tuple[Mailbox, MailSettings],
) -> None:
    box, settings = server
    clock = Clock()
    transport = SmtpTransport(settings, clock=clock)
    transport.REUSE_MAILS = 2
    for n in range(3):  # the third mail needs a new session: the first carried two
        transport.send(_mail(n))
    assert len(box.logins) == 2
    clock.now += SmtpTransport.REUSE_SECONDS  # old
    transport.send(_mail(3))
    assert len(box.logins) == 3
    clock.now += SmtpTransport.IDLE_SECONDS - 1
    transport.release_idle()  # not idle long enough: kept
    transport.send(_mail(4))
    assert len(box.logins) == 3
    clock.now += SmtpTransport.IDLE_SECONDS
    transport.release_idle()  # ended: the next mail opens another
    transport.send(_mail(5))
    assert len(box.logins) == 4
    transport.close()
    assert len(box.received) == 6


def test_a_dropped_session_is_replaced_and_a_refusal_keeps_it(
    server: tuple[Mailbox, MailSettings],
) -> None:
    box, settings = server
    transport = SmtpTransport(settings)
    transport.send(_mail(0))
    # The connection goes away under the session (as a server's idle timeout does):
    # the next mail notices it and goes through a new session.
    smtp = transport._smtp
    assert smtp is not None and smtp.sock is not None
    smtp.sock.shutdown(socket.SHUT_RDWR)
    transport.send(_mail(1))
    assert len(box.logins) == 2
    box.refuse = "550 no such mailbox"
    with pytest.raises(Undeliverable):
        transport.send(_mail(2))
    box.refuse = None
    transport.send(_mail(3))
    assert len(box.logins) == 2  # the refusal left the session usable
    transport.close()
    assert [r.message["Subject"] for r in box.received] == ["mail 0", "mail 1", "mail 3"]
