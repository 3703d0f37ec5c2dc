"""FEEL tokenizer: turns source text into a flat token list with positions."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import ExpressionError, line_column

KEYWORDS = frozenset(
    {
        "true",
        "false",
        "null",
        "and",
        "or",
        "between",
        "in",
        "if",
        "then",
        "else",
        "for",
        "return",
        "some",
        "every",
        "satisfies",
        "instance",
        "of",
        "function",
    }
)

# Longest first so that "**" wins over "*", "..": over ".", "<=" over "<".
_OPERATORS = ("**", "..", "!=", "<=", ">=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "=")
_SINGLE = frozenset("<>+-*/")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
# Regular-expression escapes (XPath's \d, \s, \p{L}, \. ...) are not FEEL escapes, but
# patterns for matches(), replace() and split() are commonly written with one backslash:
# such a backslash is kept, so "\d+" reaches the regex engine as written.
_REGEX_ESCAPES = frozenset("dDsSwWiIcCpP.-^$?*+{}()[]|")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "number" | "string" | "temporal" | "name" | "keyword" | "op" | "eof"
    text: str
    value: Any
    offset: int
    line: int
    column: int

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of input"
        return f"'{self.text}'"


def is_digit(ch: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts characters such as '²'."""
    return len(ch) == 1 and "0" <= ch <= "9"


def _is_name_start(ch: str) -> bool:
    return ch.isalpha() or ch in "_?"


def _is_name_part(ch: str) -> bool:
    return ch.isalnum() or ch in "_?"


def is_plain_name(name: str) -> bool:
    """True when ``name`` lexes as one name token on its own (no spaces or operators)."""
    return (
        bool(name)
        and _is_name_start(name[0])
        and all(_is_name_part(c) for c in name)
        and name not in KEYWORDS
    )


@dataclass(frozen=True, slots=True)
class _KnownNames:
    pattern: re.Pattern[str]
    canonical: dict[str, str]  # whitespace-normalised spelling -> the declared name


@functools.lru_cache(maxsize=256)
def _known_names(names: frozenset[str]) -> _KnownNames | None:
    """One regex for the declared names that plain lexing would split ("Monthly Salary").

    FEEL resolves such names against the scope, so the lexer must know them; longer names
    come first so that "Loan amount due" wins over "Loan amount".
    """
    canonical: dict[str, str] = {}
    for name in names:
        words = name.split()
        if words and name not in KEYWORDS and not is_plain_name(name) and _is_name_start(name[0]):
            canonical.setdefault(" ".join(words), name)
    if not canonical:
        return None
    alternatives = []
    for spelled in sorted(canonical, key=len, reverse=True):
        pattern = r"\s+".join(re.escape(word) for word in spelled.split(" "))
        if _is_name_part(spelled[-1]):
            pattern += r"(?![\w?])"  # "Full Name" must not match the start of "Full Names"
        alternatives.append(pattern)
    return _KnownNames(re.compile("|".join(alternatives)), canonical)


class _Lexer:
    def __init__(self, text: str, names: frozenset[str] = frozenset()) -> None:
        self.text = text
        self.pos = 0
        self.tokens: list[Token] = []
        self.known = _known_names(names) if names else None

    def error(self, message: str, offset: int, expected: str | None = None) -> ExpressionError:
        line, column = line_column(self.text, offset)
        return ExpressionError(message, line, column, expected)

    def add(self, kind: str, start: int, value: Any = None) -> None:
        line, column = line_column(self.text, start)
        self.tokens.append(Token(kind, self.text[start : self.pos], value, start, line, column))

    def run(self) -> list[Token]:
        text = self.text
        n = len(text)
        while True:
            self.skip_trivia()
            if self.pos >= n:
                break
            start = self.pos
            ch = text[start]
            if is_digit(ch) or (ch == "." and is_digit(text[start + 1 : start + 2])):
                self.number()
            elif ch == '"':
                self.add("string", start, self.string())
            elif ch == "@" and text.startswith('@"', start):
                self.pos += 1
                self.add("temporal", start, self.string())
            elif _is_name_start(ch) and self.known_name(start):
                pass
            elif _is_name_start(ch):
                while self.pos < n and _is_name_part(text[self.pos]):
                    self.pos += 1
                word = text[start : self.pos]
                self.add("keyword" if word in KEYWORDS else "name", start, word)
            else:
                self.operator(start)
        self.add("eof", self.pos)
        return self.tokens

    def known_name(self, start: int) -> bool:
        if self.known is None:
            return False
        found = self.known.pattern.match(self.text, start)
        if found is None:
            return False
        name = self.known.canonical[" ".join(found.group().split())]
        self.pos = found.end()
        line, column = line_column(self.text, start)
        self.tokens.append(Token("name", name, name, start, line, column))
        return True

    def skip_trivia(self) -> None:
        text = self.text
        while self.pos < len(text):
            if text[self.pos].isspace():
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.error("unterminated comment", self.pos, "'*/'")
                self.pos = end + 2
            else:
                return

    def number(self) -> None:
        text, start = self.text, self.pos
        while is_digit(text[self.pos : self.pos + 1]):
            self.pos += 1
        # "1..5" is a range, so a dot only belongs to the number when a digit follows it.
        if text.startswith(".", self.pos) and is_digit(text[self.pos + 1 : self.pos + 2]):
            self.pos += 1
            while is_digit(text[self.pos : self.pos + 1]):
                self.pos += 1
        if self.pos < len(text) and text[self.pos] in "eE":
            mark = self.pos
            self.pos += 1
            if self.pos < len(text) and text[self.pos] in "+-":
                self.pos += 1
            if is_digit(text[self.pos : self.pos + 1]):
                while is_digit(text[self.pos : self.pos + 1]):
                    self.pos += 1
            else:
                self.pos = mark
        self.add("number", start, Decimal(text[start : self.pos]))

    def string(self) -> str:
        text = self.text
        start = self.pos
        self.pos += 1  # opening quote
        parts: list[str] = []
        while True:
            if self.pos >= len(text):
                raise self.error("unterminated string", start, "'\"'")
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(parts)
            if ch == "\\":
                parts.append(self.escape())
            else:
                parts.append(ch)
                self.pos += 1

    def escape(self) -> str:
        text, start = self.text, self.pos
        code = text[start + 1 : start + 2]
        if code in _ESCAPES:
            self.pos += 2
            return _ESCAPES[code]
        if code and code in _REGEX_ESCAPES:
            self.pos += 2
            return "\\" + code
        width = {"u": 4, "U": 6}.get(code)
        digits = text[start + 2 : start + 2 + width] if width else ""
        if width and len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
            self.pos = start + 2 + width
            value = int(digits, 16)
            if value <= 0x10FFFF:
                return chr(value)
        raise self.error(f"invalid escape sequence '\\{code}'", start)

    def operator(self, start: int) -> None:
        for op in _OPERATORS:
            if self.text.startswith(op, start):
                self.pos += len(op)
                self.add("op", start, op)
                return
        ch = self.text[start]
        if ch in _SINGLE:
            self.pos += 1
            self.add("op", start, ch)
            return
        raise self.error(f"unexpected character '{ch}'", start)


def tokenize(text: str, names: frozenset[str] = frozenset()) -> list[Token]:
    """Tokens of ``text``; ``names`` are declared names that may contain spaces or operators."""
    return _Lexer(text, names).run()
