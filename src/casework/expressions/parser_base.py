"""The parser's token cursor and the FEEL type grammar (``instance of`` types and typed
function parameters), kept apart from the expression grammar in :mod:`.parser`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .errors import ExpressionError
from .feel_types import MULTI_WORD_TYPES, TypeSpec
from .lexer import Token, tokenize

_T = TypeVar("_T")
_MULTI_WORD_TYPES = [tuple(n.split()) for n in MULTI_WORD_TYPES]


class Cursor:
    """Tokens of one text and the position in them, with the helpers every rule uses."""

    def __init__(self, text: str, names: frozenset[str] = frozenset()) -> None:
        self.text = text
        self.tokens = tokenize(text, names)
        self.pos = 0
        # Inside a range end point "[1..x[" the "[" closes the range instead of filtering x.
        self.no_filter = 0

    # --- token helpers ---------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def at(self, text: str, token: Token | None = None) -> bool:
        t = token or self.tok
        return t.kind in ("op", "keyword") and t.text == text

    def at_word(self, word: str) -> bool:
        return self.tok.kind in ("name", "keyword") and self.tok.text == word

    def advance(self) -> Token:
        token = self.tok
        if token.kind != "eof":
            self.pos += 1
        return token

    def expect(self, text: str) -> Token:
        if not self.at(text):
            raise self.error(f"'{text}'")
        return self.advance()

    def error(self, expected: str, token: Token | None = None) -> ExpressionError:
        t = token or self.tok
        return ExpressionError(
            f"expected {expected} but found {t.describe()}", t.line, t.column, expected
        )

    def attempt(self, parse: Callable[[], _T]) -> _T | None:
        """Run ``parse``; on a syntax error rewind and return None (used for FEEL's ambiguities)."""
        mark = self.pos
        try:
            return parse()
        except ExpressionError:
            self.pos = mark
            return None

    def finish(self, node: _T) -> _T:
        if self.tok.kind != "eof":
            raise self.error("end of input")
        return node

    def name_token(self, expected: str) -> str:
        if self.tok.kind != "name":
            raise self.error(expected)
        return self.advance().text


class TypeSyntax(Cursor):
    """``type = qualified name | list<type> | range<type> | context<name: type, ...>
    | function<type, ...> -> type`` (DMN 1.5 grammar rules 54-58)."""

    def type_spec(self) -> TypeSpec:
        """A FEEL type: a (qualified) name, list<T>, range<T>, context<k: T> or
        function<T, ...> -> T."""
        token = self.tok
        word = token.text if token.kind in ("name", "keyword") else ""
        if word not in ("list", "range", "context", "function") or not self.at("<", self.peek()):
            return TypeSpec("name", name=self.type_name())
        opening = self.advance()
        self.advance()
        if word == "context":
            return TypeSpec("context", fields=tuple(self.type_arguments(self.context_field)))
        args = tuple(self.type_arguments(self.type_spec))
        if word == "function":
            self.expect("-")
            self.expect(">")
            return TypeSpec("function", args=(*args, self.type_spec()))
        if len(args) != 1:
            raise self.error("one type between '<' and '>'", opening)
        return TypeSpec(word, args=args)

    def type_arguments(self, item: Callable[[], _T]) -> list[_T]:
        """Comma-separated items up to the closing ">"."""
        items: list[_T] = []
        while not self.at(">"):
            items.append(item())
            if not self.at(","):
                break
            self.advance()
        self.expect(">")
        return items

    def context_field(self) -> tuple[str, TypeSpec]:
        name = self.name_token("a context key")
        self.expect(":")
        return name, self.type_spec()

    def type_name(self) -> str:
        for words in _MULTI_WORD_TYPES:
            window = self.tokens[self.pos : self.pos + len(words)]
            if len(window) == len(words) and all(
                t.kind in ("name", "keyword") and t.text == w
                for t, w in zip(window, words, strict=True)
            ):
                self.pos += len(words)
                return " ".join(words)
        parts = [self.name_token("a type name")]
        while self.at(".") and self.peek().kind == "name":
            self.advance()
            parts.append(self.advance().text)
        return ".".join(parts)
