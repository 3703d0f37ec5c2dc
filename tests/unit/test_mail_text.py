"""The words of notification mails: every language says every sentence, with the same
places to fill, and a locale picks its language by its first part."""

from __future__ import annotations

import string
from dataclasses import fields

import pytest

from casework.services.notifications import KINDS
from casework.worker.mail_text import ENGLISH, LANGUAGES, MailWords, line, subject, words_for


def _places(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_fills_the_same_places(language: str) -> None:
    words = words_for(language)
    assert words.language == language
    for field in fields(words):
        if field.name == "language":
            continue
        theirs, ours = getattr(words, field.name), getattr(ENGLISH, field.name)
        assert theirs.strip(), field.name
        assert _places(theirs) == _places(ours), (language, field.name)


@pytest.mark.parametrize(
    ("locale", "language"),
    [("fr", "fr"), ("fr-CA", "fr"), ("it_IT", "it"), ("JA", "ja"), ("pt-BR", "en"), ("", "en")],
)
def test_a_locale_picks_its_language_or_english(locale: str, language: str) -> None:
    assert words_for(locale).language == language


def test_every_kind_of_notification_has_its_line_and_subject() -> None:
    names = {field.name for field in fields(MailWords)}
    for kind in KINDS:
        assert kind in names and f"subject_{kind}" in names, kind
    said = line(ENGLISH, "case_reopened", actor="mia", task="x")
    assert said == "mia reopened the case"
    assert subject(ENGLISH, "case_completed", actor="a", task="t", title="Claim 7") == (
        "Completed: Claim 7"
    )
    # A kind from a newer version: its name, and the case's title as the subject.
    assert line(ENGLISH, "case_archived", actor="a", task="t") == "case_archived"
    assert subject(ENGLISH, "case_archived", actor="a", task="t", title="Claim 7") == "Claim 7"
