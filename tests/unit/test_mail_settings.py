"""Mail settings from the environment: off unless set, secure unless told otherwise, and
every bad value refused in one line that names its variable and never the password."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from casework.services.errors import InvalidInput
from casework.services.mail_settings import (
    IMPLICIT_TLS,
    NO_TLS,
    STARTTLS,
    from_env,
)

FROM = {"CASEWORK_MAIL_FROM": "Casework <casework@example.org>"}


def test_mail_is_off_unless_an_smtp_url_is_set() -> None:
    assert from_env({}) is None
    assert from_env({"CASEWORK_SMTP_URL": "  ", **FROM}) is None


@pytest.mark.parametrize(
    ("url", "host", "port", "security"),
    [
        ("smtp://mail.example.org", "mail.example.org", 587, STARTTLS),
        ("smtp://mail.example.org:2525", "mail.example.org", 2525, STARTTLS),
        ("smtps://mail.example.org", "mail.example.org", 465, IMPLICIT_TLS),
        ("smtp://localhost?tls=none", "localhost", 25, NO_TLS),
        ("smtp://127.0.0.1:1025?tls=none", "127.0.0.1", 1025, NO_TLS),
    ],
)
def test_the_scheme_says_how_the_connection_is_protected(
    url: str, host: str, port: int, security: str
) -> None:
    settings = from_env({"CASEWORK_SMTP_URL": url, **FROM})
    assert settings is not None
    assert (settings.host, settings.port, settings.security) == (host, port, security)
    assert settings.username is None and settings.password is None


def test_credentials_are_read_decoded_and_kept_out_of_the_repr() -> None:
    settings = from_env(
        {"CASEWORK_SMTP_URL": "smtp://mailer%40corp:s3cr%2Ft@mail.example.org", **FROM}
    )
    assert settings is not None
    assert (settings.username, settings.password) == ("mailer@corp", "s3cr/t")
    assert "s3cr" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"CASEWORK_SMTP_URL": "http://mail.example.org"}, "CASEWORK_SMTP_URL", "smtp://"),
        ({"CASEWORK_SMTP_URL": "smtp://:pw@"}, "CASEWORK_SMTP_URL", "host"),
        ({"CASEWORK_SMTP_URL": "smtp://h:99999"}, "CASEWORK_SMTP_URL", "port"),
        ({"CASEWORK_SMTP_URL": "smtp://h/x"}, "CASEWORK_SMTP_URL", "path"),
        ({"CASEWORK_SMTP_URL": "smtp://h?tls=yes"}, "CASEWORK_SMTP_URL", "tls=none"),
        ({"CASEWORK_SMTP_URL": "smtps://h?tls=none"}, "CASEWORK_SMTP_URL", "tls=none"),
        ({"CASEWORK_SMTP_URL": "smtp://h?verify=0"}, "CASEWORK_SMTP_URL", "verify"),
        ({"CASEWORK_SMTP_URL": "smtp://u:hunter2@h?tls=none"}, "CASEWORK_SMTP_URL", "clear"),
    ],
)
def test_a_bad_server_url_is_refused_without_showing_it(
    env: dict[str, str], variable: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        from_env({**env, **FROM})
    assert caught.value.field == variable
    assert words in caught.value.message and "\n" not in caught.value.message
    assert "hunter2" not in caught.value.message


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "CASEWORK_MAIL_FROM"),
        ({"CASEWORK_MAIL_FROM": "casework"}, "CASEWORK_MAIL_FROM"),
        ({"CASEWORK_MAIL_FROM": "a@b@c"}, "CASEWORK_MAIL_FROM"),
        ({"CASEWORK_MAIL_FROM": "x@example.org\r\nBcc: y@example.org"}, "CASEWORK_MAIL_FROM"),
        ({**FROM, "CASEWORK_CASE_URL": "https://cases.example.org/"}, "CASEWORK_CASE_URL"),
        ({**FROM, "CASEWORK_CASE_URL": "ftp://x/{case_id}"}, "CASEWORK_CASE_URL"),
        ({**FROM, "CASEWORK_MAIL_INTERVAL": "soon"}, "CASEWORK_MAIL_INTERVAL"),
        ({**FROM, "CASEWORK_MAIL_INTERVAL": "0s"}, "CASEWORK_MAIL_INTERVAL"),
        ({**FROM, "CASEWORK_MAIL_INTERVAL": "2d"}, "CASEWORK_MAIL_INTERVAL"),
        ({**FROM, "CASEWORK_MAIL_MAX_AGE": "31d"}, "CASEWORK_MAIL_MAX_AGE"),
        ({**FROM, "CASEWORK_SMTP_CA_FILE": "/no/such/ca.pem"}, "CASEWORK_SMTP_CA_FILE"),
    ],
)
def test_the_other_settings_are_checked_and_named(env: dict[str, str], variable: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        from_env({"CASEWORK_SMTP_URL": "smtp://mail.example.org", **env})
    assert caught.value.field == variable and variable in caught.value.message


def test_the_optional_settings_when_given(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = from_env(
        {
            "CASEWORK_SMTP_URL": "smtps://mail.example.org",
            "CASEWORK_MAIL_FROM": '"Claims desk" <claims@example.org>',
            "CASEWORK_CASE_URL": "https://cases.example.org/cases/{case_id}",
            "CASEWORK_MAIL_INTERVAL": "5m",
            "CASEWORK_MAIL_MAX_AGE": "12h",
            "CASEWORK_SMTP_CA_FILE": str(ca),
        }
    )
    assert settings is not None
    assert settings.sender == "Claims desk <claims@example.org>"
    assert settings.link("C-1") == "https://cases.example.org/cases/C-1"
    assert (settings.interval, settings.max_age) == (timedelta(minutes=5), timedelta(hours=12))
    assert settings.ca_file == ca
    defaults = from_env({"CASEWORK_SMTP_URL": "smtps://mail.example.org", **FROM})
    assert defaults is not None and defaults.link("C-1") is None
    assert (defaults.interval, defaults.max_age) == (timedelta(minutes=1), timedelta(days=1))
