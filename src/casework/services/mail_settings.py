"""Where the worker sends e-mail, from the environment: off unless CASEWORK_SMTP_URL is set.

    CASEWORK_SMTP_URL       smtp://[user:password@]host[:port]  STARTTLS, required (587)
                            smtps://[user:password@]host[:port] TLS from the start (465)
                            smtp://host[:port]?tls=none         no TLS: a relay on the
                                                                 machine or its network (25);
                                                                 refused with a password
    CASEWORK_SMTP_CA_FILE   a PEM file of the CA that signed the server's certificate,
                            when it is not one the system trusts
    CASEWORK_MAIL_FROM      the sender, `Casework <casework@example.org>` (required)
    CASEWORK_CASE_URL       a case's page, `https://cases.example.org/cases/{case_id}`:
                            mails link to it (unset: they name the case)
    CASEWORK_MAIL_INTERVAL  how often the worker gathers new notifications into mails
                            (1m; a person gets at most one mail per round)
    CASEWORK_MAIL_MAX_AGE   older notifications are not mailed (1d): a worker that was
                            down, or mail turned on late, does not send stale news

Secure by default: a password only ever travels inside TLS, the server's certificate is
checked, and the settings' repr never shows the password (it would reach logs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from casework.services.errors import InvalidInput
from casework.services.periods import parse_period

SMTP_URL_ENV = "CASEWORK_SMTP_URL"
CA_FILE_ENV = "CASEWORK_SMTP_CA_FILE"
FROM_ENV = "CASEWORK_MAIL_FROM"
CASE_URL_ENV = "CASEWORK_CASE_URL"
INTERVAL_ENV = "CASEWORK_MAIL_INTERVAL"
MAX_AGE_ENV = "CASEWORK_MAIL_MAX_AGE"

INTERVAL = timedelta(minutes=1)
MAX_AGE = timedelta(days=1)
LONGEST_INTERVAL = timedelta(days=1)
LONGEST_MAX_AGE = timedelta(days=30)
TIMEOUT_SECONDS = 20.0

# How the connection is protected: TLS from the start, STARTTLS, or not at all.
IMPLICIT_TLS, STARTTLS, NO_TLS = "tls", "starttls", "none"
_DEFAULT_PORTS = {IMPLICIT_TLS: 465, STARTTLS: 587, NO_TLS: 25}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FromEnvironment:
    """Marks mail settings to be read from the environment (None is a value: "off")."""


FROM_ENVIRONMENT = FromEnvironment()


@dataclass(frozen=True, slots=True)
class MailSettings:
    host: str
    port: int
    security: str  # IMPLICIT_TLS | STARTTLS | NO_TLS
    sender: str  # a full From header value, checked
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    case_url: str | None = None  # with `{case_id}`
    interval: timedelta = INTERVAL
    max_age: timedelta = MAX_AGE
    timeout: float = TIMEOUT_SECONDS

    def link(self, case_id: str) -> str | None:
        """The page of the case, when the deployment has said where its pages are."""
        return None if self.case_url is None else self.case_url.replace("{case_id}", case_id)


def from_env(environ: Mapping[str, str]) -> MailSettings | None:
    """The mail settings, None when CASEWORK_SMTP_URL is unset (mail off). InvalidInput
    naming the variable on a value that cannot work: the worker refuses to start then,
    rather than failing every mail."""
    url = environ.get(SMTP_URL_ENV, "").strip()
    if not url:
        return None
    host, port, security, username, password = _server(url)
    sender = _sender(environ.get(FROM_ENV, ""))
    ca_file = None
    if ca_text := environ.get(CA_FILE_ENV, "").strip():
        ca_file = Path(ca_text)
        if not ca_file.is_file():
            raise InvalidInput(f"{CA_FILE_ENV}: no file {ca_text}", field=CA_FILE_ENV)
    return MailSettings(
        host=host,
        port=port,
        security=security,
        sender=sender,
        username=username,
        password=password,
        ca_file=ca_file,
        case_url=_case_url(environ.get(CASE_URL_ENV, "")),
        interval=_period(environ, INTERVAL_ENV, INTERVAL, LONGEST_INTERVAL),
        max_age=_period(environ, MAX_AGE_ENV, MAX_AGE, LONGEST_MAX_AGE),
    )


def _server(url: str) -> tuple[str, int, str, str | None, str | None]:
    def bad(why: str) -> InvalidInput:
        # Never the URL itself: it may hold the password.
        return InvalidInput(f"{SMTP_URL_ENV}: {why}", field=SMTP_URL_ENV)

    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise bad("must start with smtp:// or smtps://")
    try:
        port_given = parts.port
    except ValueError:
        raise bad("the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise bad("names no host")
    if parts.path not in ("", "/"):
        raise bad("takes no path")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"tls"}
    if unknown:
        raise bad(f"unknown option {sorted(unknown)[0]!r} (it takes tls=none)")
    security = IMPLICIT_TLS if parts.scheme == "smtps" else STARTTLS
    if "tls" in query:
        if query["tls"] != ["none"] or parts.scheme == "smtps":
            raise bad("tls=none is the only option, and only for smtp://")
        security = NO_TLS
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and username is None:
        raise bad("a password needs a user name")
    if security == NO_TLS and password is not None:
        raise bad("tls=none would send the password in clear: use STARTTLS or smtps://")
    return parts.hostname, port_given or _DEFAULT_PORTS[security], security, username, password


def _sender(value: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(f"{FROM_ENV} must be set when mail is on", field=FROM_ENV)
    name, address = parseaddr(text)
    if _CONTROL.search(text) or "@" not in address or address.count("@") != 1:
        raise InvalidInput(f"{FROM_ENV}: {text!r} is no e-mail address", field=FROM_ENV)
    user, domain = address.split("@")
    try:
        return str(Address(display_name=name, username=user, domain=domain))
    except (ValueError, IndexError):
        raise InvalidInput(f"{FROM_ENV}: {text!r} is no e-mail address", field=FROM_ENV) from None


def _case_url(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    if not text.startswith(("https://", "http://")) or "{case_id}" not in text:
        raise InvalidInput(
            f"{CASE_URL_ENV} must be an http(s) URL with {{case_id}} in it", field=CASE_URL_ENV
        )
    return text


def _period(
    environ: Mapping[str, str], name: str, default: timedelta, longest: timedelta
) -> timedelta:
    text = environ.get(name, "").strip()
    if not text:
        return default
    period = parse_period(text, name=name, longest=longest)
    if period <= timedelta(0):
        raise InvalidInput(f"{name} must be longer than zero", field=name)
    return period
