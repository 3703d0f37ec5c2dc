"""JUEL front end: translates ``${...}`` / ``#{...}`` text into the shared syntax tree.

Only the subset used by CMMN models is accepted: variables, literals, operators, property
and index access, Flowable's ``variables:`` functions, ``caseInstance.getVariable('x')`` and
a few side-effect-free String methods. Java bean method calls cannot be evaluated without
the beans, so they are rejected with an :class:`ExpressionError` naming the construct.
"""

from __future__ import annotations

from . import ast
from .errors import ExpressionError, line_column
from .juel_runtime import ARITY, FUNCTIONS, METHODS, VARIABLE_CONTAINERS, VARIABLE_NAMESPACES
from .lexer import Token, is_digit

_KEYWORDS = frozenset(
    [
        "and",
        "or",
        "not",
        "eq",
        "ne",
        "lt",
        "gt",
        "le",
        "ge",
        "div",
        "mod",
        "empty",
        "true",
        "false",
        "null",
        "instanceof",
    ]
)
_WORD_OPS = {"and": "&&", "or": "||", "not": "!", "eq": "==", "ne": "!=", "lt": "<", "gt": ">"}
_WORD_OPS |= {"le": "<=", "ge": ">=", "div": "/", "mod": "%"}
_OPERATORS = (
    *("==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%"),
    *("?", ":", ".", "[", "]", "(", ")", ","),
)
_ESCAPABLE = "'\"\\"


class _Lexer:
    """Tokenizes one ``${...}`` body, stopping at its closing brace."""

    def __init__(self, text: str, start: int) -> None:
        self.text, self.pos = text, start
        self.tokens: list[Token] = []

    def error(self, message: str, offset: int) -> ExpressionError:
        line, column = line_column(self.text, offset)
        return ExpressionError(message, line, column)

    def add(self, kind: str, start: int, value: object, text: str | None = None) -> None:
        line, column = line_column(self.text, start)
        raw = self.text[start : self.pos] if text is None else text
        self.tokens.append(Token(kind, raw, value, start, line, column))

    def run(self) -> tuple[list[Token], int]:
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos].isspace():
                self.pos += 1
            if self.pos >= len(text):
                self.add("eof", self.pos, None, "")
                return self.tokens, -1
            start, ch = self.pos, text[self.pos]
            if ch == "}":
                self.add("eof", start, None, "}")
                return self.tokens, start
            if is_digit(ch) or (ch == "." and is_digit(text[start + 1 : start + 2])):
                self.number()
            elif ch in "'\"":
                self.string(ch)
            elif ch.isalpha() or ch in "_$":
                while self.pos < len(text) and (text[self.pos].isalnum() or text[self.pos] in "_$"):
                    self.pos += 1
                word = text[start : self.pos]
                self.add("keyword" if word in _KEYWORDS else "name", start, word)
            else:
                op = next((o for o in _OPERATORS if text.startswith(o, start)), None)
                if op is None:
                    raise self.error(f"unsupported JUEL construct: character '{ch}'", start)
                self.pos += len(op)
                self.add("op", start, op)

    def number(self) -> None:
        text, start = self.text, self.pos
        while is_digit(text[self.pos : self.pos + 1]):
            self.pos += 1
        is_float = False
        if text.startswith(".", self.pos) and is_digit(text[self.pos + 1 : self.pos + 2]):
            is_float = True
            self.pos += 1
            while is_digit(text[self.pos : self.pos + 1]):
                self.pos += 1
        if text[self.pos : self.pos + 1] in ("e", "E"):
            end = self.pos + 1 + (text[self.pos + 1 : self.pos + 2] in ("+", "-"))
            if is_digit(text[end : end + 1]):
                is_float, self.pos = True, end
                while is_digit(text[self.pos : self.pos + 1]):
                    self.pos += 1
        raw = text[start : self.pos]
        self.add("number", start, float(raw) if is_float else int(raw))

    def string(self, quote: str) -> None:
        text, start = self.text, self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(text) and text[self.pos] != quote:
            if text[self.pos] == "\\" and text[self.pos + 1 : self.pos + 2] in _ESCAPABLE:
                self.pos += 1
            chars.append(text[self.pos])
            self.pos += 1
        if self.pos >= len(text):
            raise self.error("unterminated string", start)
        self.pos += 1
        self.add("string", start, "".join(chars))


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens, self.pos = tokens, 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def op(self) -> str | None:
        """The operator at the cursor, with word forms (``eq``, ``and``) normalised."""
        t = self.tok
        if t.kind == "op":
            return t.text
        if t.kind == "keyword":
            return _WORD_OPS.get(t.text, t.text)
        return None

    def advance(self) -> Token:
        t = self.tok
        if t.kind != "eof":
            self.pos += 1
        return t

    def error(self, expected: str) -> ExpressionError:
        t = self.tok
        found = "end of input" if t.kind == "eof" and not t.text else f"'{t.text}'"
        return ExpressionError(f"expected {expected} but found {found}", t.line, t.column, expected)

    def unsupported(self, construct: str, token: Token) -> ExpressionError:
        return ExpressionError(f"unsupported JUEL construct: {construct}", token.line, token.column)

    def expect(self, op: str) -> Token:
        if self.op() != op:
            raise self.error(f"'{op}'")
        return self.advance()

    def parse(self) -> ast.Node:
        node = self.ternary()
        if self.tok.kind != "eof" or self.tok.text != "}":
            raise self.error("'}'")
        return node

    def ternary(self) -> ast.Node:
        condition = self.binary(0)
        if self.op() != "?":
            return condition
        self.advance()
        then = self.ternary()
        self.expect(":")
        return ast.If(ast.JuelToBoolean(condition), then, self.ternary())

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("||",),
        ("&&",),
        ("==", "!="),
        ("<", ">", "<=", ">="),
        ("+", "-"),
        ("*", "/", "%"),
    )

    def binary(self, level: int) -> ast.Node:
        if level == len(self._LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while (op := self.op()) in self._LEVELS[level]:
            self.advance()
            right = self.binary(level + 1)
            if op in ("||", "&&"):
                word = "or" if op == "||" else "and"
                node = ast.Logical(word, ast.JuelToBoolean(node), ast.JuelToBoolean(right))
            elif level <= 3:
                node = ast.JuelComparison(op, node, right)
            else:
                node = ast.JuelArithmetic(op, node, right)
        return node

    def unary(self) -> ast.Node:
        op = self.op()
        if op == "-":
            self.advance()
            return ast.JuelArithmetic("neg", self.unary(), None)
        if op == "!":
            self.advance()
            return ast.LogicalNot(ast.JuelToBoolean(self.unary()))
        if op == "empty":
            self.advance()
            return ast.JuelEmpty(self.unary())
        return self.postfix()

    def postfix(self) -> ast.Node:
        node = self.primary()
        while True:
            if self.op() == ".":
                self.advance()
                name_token = self.tok
                if name_token.kind not in ("name", "keyword"):
                    raise self.error("a property name")
                self.advance()
                if self.op() == "(":
                    node = self.method(node, name_token)
                else:
                    node = ast.Path(node, name_token.text)
            elif self.op() == "[":
                self.advance()
                key = self.ternary()
                self.expect("]")
                node = ast.JuelIndex(node, key)
            else:
                return node

    def arguments(self) -> tuple[ast.Node, ...]:
        self.expect("(")
        args: list[ast.Node] = []
        while self.op() != ")":
            args.append(self.ternary())
            if self.op() != ",":
                break
            self.advance()
        self.expect(")")
        return tuple(args)

    def method(self, receiver: ast.Node, name_token: Token) -> ast.Node:
        name = name_token.text
        args = self.arguments()
        reads_variable = isinstance(receiver, ast.Name) and receiver.name in VARIABLE_CONTAINERS
        if name == "getVariable" and len(args) == 1 and reads_variable:
            return ast.JuelMethod(receiver, name, args)
        if name in METHODS and name != "getVariable":
            return ast.JuelMethod(receiver, name, args)
        owner = f"{receiver.name}." if isinstance(receiver, ast.Name) else "."
        raise self.unsupported(f"method call '{owner}{name}(...)' on a Java object", name_token)

    def primary(self) -> ast.Node:
        t = self.tok
        if t.kind in ("number", "string"):
            self.advance()
            return ast.Literal(t.value)
        if t.kind == "keyword" and t.text in ("true", "false", "null"):
            self.advance()
            return ast.Literal({"true": True, "false": False, "null": None}[t.text])
        if self.op() == "(":
            self.advance()
            node = self.ternary()
            self.expect(")")
            return node
        if t.kind == "name":
            self.advance()
            if self._adjacent_colon_call(t):
                return self.function(t)
            if self.op() == "(":
                raise self.unsupported(f"function call '{t.text}(...)' without a namespace", t)
            return ast.Name(t.text, builtin_fallback=False)
        raise self.error("an expression")

    def _adjacent_colon_call(self, prefix: Token) -> bool:
        # "ns:fn(" is a function only when written without spaces; "a ? b : c" is not.
        colon, name, paren = (self.tokens[self.pos : self.pos + 3] + [prefix] * 3)[:3]
        return (
            colon.text == ":"
            and colon.offset == prefix.offset + len(prefix.text)
            and name.kind in ("name", "keyword")
            and name.offset == colon.offset + 1
            and paren.text == "("
        )

    def function(self, prefix: Token) -> ast.Node:
        self.advance()
        name = self.advance().text
        qualified = f"{prefix.text}:{name}"
        if prefix.text not in VARIABLE_NAMESPACES or name not in FUNCTIONS:
            raise self.unsupported(f"function '{qualified}'", prefix)
        args = list(self.arguments())
        low, high = ARITY[name]
        if len(args) < low or (high is not None and len(args) > high):
            raise ExpressionError(
                f"wrong number of arguments for '{qualified}'", prefix.line, prefix.column
            )
        # Flowable passes the first argument as a variable *name*, even when written bare.
        if isinstance(args[0], ast.Name):
            args[0] = ast.Literal(args[0].name)
        return ast.JuelFunction(prefix.text, name, tuple(args))


def _literal_text(text: str) -> ast.Node:
    if text.lower() in ("true", "false"):
        return ast.Literal(text.lower() == "true")
    return ast.Literal(text.replace("\\${", "${").replace("\\#{", "#{"))


def _next_expression(text: str, start: int) -> int:
    """Offset of the next unescaped ``${`` or ``#{`` at or after ``start``, or -1."""
    i = start
    while True:
        candidates = [p for p in (text.find("${", i), text.find("#{", i)) if p >= 0]
        if not candidates:
            return -1
        found = min(candidates)
        if found == 0 or text[found - 1] != "\\":
            return found
        i = found + 2


def parse_juel(text: str) -> ast.Node:
    source = text.strip()
    parts: list[ast.Node] = []
    expressions = 0
    i = 0
    while i < len(source):
        start = _next_expression(source, i)
        literal = source[i : start if start >= 0 else len(source)]
        if literal:
            parts.append(ast.Literal(literal.replace("\\${", "${").replace("\\#{", "#{")))
        if start < 0:
            break
        tokens, end = _Lexer(source, start + 2).run()
        if end < 0:
            line, column = line_column(source, len(source))
            raise ExpressionError("expected '}' but found end of input", line, column, "'}'")
        parts.append(_Parser(tokens).parse())
        expressions += 1
        i = end + 1
    if expressions == 0:
        # Plain text such as "true" in a condition element: booleans by their spelling.
        return _literal_text(source)
    if len(parts) == 1:
        return parts[0]
    return ast.JuelComposite(tuple(parts))
