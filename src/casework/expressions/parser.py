"""Recursive-descent FEEL parser producing the typed tree in :mod:`.ast`.

Precedence, loosest first: textual forms (if/for/some/every/function), ``or``, ``and``,
comparison (``= != < <= > >= between in instance of``), ``+ -``, ``* /``, ``**``, unary
``-``, postfix (path ``.``, filter ``[]``, invocation ``()``), primary.
"""

from __future__ import annotations

from . import ast
from .builtins import MULTI_WORD_NAMES
from .errors import ExpressionError
from .feel_types import TypeSpec
from .parser_base import TypeSyntax

_COMPARISON_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_UNARY_TEST_OPS = frozenset({"<", "<=", ">", ">="})
_MULTI_WORD = sorted((tuple(n.split()) for n in MULTI_WORD_NAMES), key=len, reverse=True)
# Properties of temporal values and ranges whose names are two words (DMN 10.3.2.7, 10.3.2.8).
_KEY_SYMBOLS = frozenset({".", "/", "-", "+", "*"})
_TWO_WORD_PROPERTIES = frozenset({("time", "offset"), ("start", "included"), ("end", "included")})


class Parser(TypeSyntax):
    """FEEL expressions and unary tests over the token cursor and type grammar."""

    # --- expressions -----------------------------------------------------------------------

    def parse(self) -> ast.Node:
        return self.finish(self.expression())

    def expression(self) -> ast.Node:
        if self.at("if"):
            return self.if_expression()
        if self.at("for"):
            return self.for_expression()
        if self.at("some") or self.at("every"):
            return self.quantified()
        if self.at("function"):
            return self.function_definition()
        return self.disjunction()

    def if_expression(self) -> ast.Node:
        self.expect("if")
        condition = self.expression()
        self.expect("then")
        then = self.expression()
        self.expect("else")
        return ast.If(condition, then, self.expression())

    def iterations(self) -> tuple[ast.Iteration, ...]:
        clauses = []
        while True:
            name = self.name_token("a variable name")
            self.expect("in")
            domain = self.expression()
            upper = None
            if self.at(".."):
                self.advance()
                upper = self.expression()
            clauses.append(ast.Iteration(name, domain, upper))
            if not self.at(","):
                return tuple(clauses)
            self.advance()

    def for_expression(self) -> ast.Node:
        self.expect("for")
        iterations = self.iterations()
        self.expect("return")
        return ast.For(iterations, self.expression())

    def quantified(self) -> ast.Node:
        kind = self.advance().text
        iterations = self.iterations()
        self.expect("satisfies")
        return ast.Quantified(kind, iterations, self.expression())

    def function_definition(self) -> ast.Node:
        self.expect("function")
        self.expect("(")
        params: list[str] = []
        types: list[TypeSpec | None] = []
        while not self.at(")"):
            params.append(self.name_token("a parameter name"))
            # DMN 1.5 lets a parameter declare its type: function(age: number) ...
            if self.at(":"):
                self.advance()
                types.append(self.type_spec())
            else:
                types.append(None)
            if not self.at(","):
                break
            self.advance()
        self.expect(")")
        declared = tuple(types) if any(t is not None for t in types) else ()
        return ast.FunctionDefinition(tuple(params), self.expression(), declared)

    def disjunction(self) -> ast.Node:
        node = self.conjunction()
        while self.at("or"):
            self.advance()
            node = ast.Logical("or", node, self.conjunction())
        return node

    def conjunction(self) -> ast.Node:
        node = self.comparison()
        while self.at("and"):
            self.advance()
            node = ast.Logical("and", node, self.comparison())
        return node

    def comparison(self) -> ast.Node:
        node = self.additive()
        while True:
            token = self.tok
            if token.kind == "op" and token.text in _COMPARISON_OPS:
                self.advance()
                node = ast.Comparison(token.text, node, self.comparand(token.text))
            elif self.at("between"):
                self.advance()
                low = self.additive()
                self.expect("and")
                node = ast.Between(node, low, self.additive())
            elif self.at("in"):
                self.advance()
                node = ast.In(node, self.in_tests())
            elif self.at("instance") and self.at("of", self.peek()):
                self.advance()
                self.advance()
                node = ast.InstanceOf(node, self.type_spec())
            else:
                return node

    def comparand(self, op: str) -> ast.Node:
        """The right side of a comparison. After ``=`` and ``!=`` it may be a DMN 1.5 range
        literal with one endpoint (``r = >= 2``), which compares as a range."""
        token = self.tok
        if op in ("=", "!=") and token.kind == "op" and token.text in _UNARY_TEST_OPS:
            self.advance()
            return ast.UnaryComparison(token.text, self.additive())
        return self.additive()

    def in_tests(self) -> tuple[ast.Node, ...]:
        if self.at("("):
            # "(1..5)" and "(a)" are single tests, "(1, 2, 3)" is a list of tests.
            single = self.attempt(lambda: self.positive_unary_test(full=False))
            if single is not None:
                return (single,)
            self.expect("(")
            tests = self.positive_unary_tests(full=True)
            self.expect(")")
            return tests
        return (self.positive_unary_test(full=False),)

    def positive_unary_tests(self, full: bool) -> tuple[ast.Node, ...]:
        tests = [self.positive_unary_test(full)]
        while self.at(","):
            self.advance()
            tests.append(self.positive_unary_test(full))
        return tuple(tests)

    def positive_unary_test(self, full: bool) -> ast.Node:
        token = self.tok
        if token.kind == "op" and token.text in _UNARY_TEST_OPS | {"=", "!="}:
            self.advance()
            return ast.UnaryComparison(token.text, self.additive())
        return self.expression() if full else self.additive()

    def additive(self) -> ast.Node:
        node = self.multiplicative()
        while self.at("+") or self.at("-"):
            op = self.advance().text
            node = ast.Arithmetic(op, node, self.multiplicative())
        return node

    def multiplicative(self) -> ast.Node:
        node = self.unary()
        while self.at("*") or self.at("/"):
            op = self.advance().text
            node = ast.Arithmetic(op, node, self.unary())
        return node

    def unary(self) -> ast.Node:
        if self.at("-"):
            self.advance()
            return ast.Negation(self.unary())
        return self.power()

    def power(self) -> ast.Node:
        # Negation binds looser than "**" on the left ("-2 ** 2" is -4) but an exponent may
        # itself be negated ("10 ** -5").
        node = self.postfix()
        while self.at("**"):
            self.advance()
            node = ast.Arithmetic("**", node, self.exponent())
        return node

    def exponent(self) -> ast.Node:
        if self.at("-"):
            self.advance()
            return ast.Negation(self.exponent())
        return self.postfix()

    def postfix(self) -> ast.Node:
        node = self.primary()
        while True:
            if self.at("."):
                self.advance()
                node = ast.Path(node, self.property_name())
            elif self.at("[") and not self.no_filter:
                self.advance()
                outer, self.no_filter = self.no_filter, 0
                condition = self.expression()
                self.no_filter = outer
                self.expect("]")
                node = ast.Filter(node, condition)
            elif self.at("("):
                node = self.invocation(node)
            else:
                return node

    def property_name(self) -> str:
        """The name after ".", including the properties whose names have two words."""
        name = self.name_token("a name")
        following = self.tok
        if following.kind in ("name", "keyword") and (name, following.text) in _TWO_WORD_PROPERTIES:
            self.advance()
            return f"{name} {following.text}"
        return name

    def invocation(self, callee: ast.Node) -> ast.Node:
        opening = self.expect("(")
        outer, self.no_filter = self.no_filter, 0
        args: list[ast.Node] = []
        named: list[tuple[str, ast.Node]] = []
        while not self.at(")"):
            param = self.attempt(self.parameter_name)
            if param is not None:
                named.append((param, self.expression()))
            else:
                args.append(self.expression())
            if not self.at(","):
                break
            self.advance()
        self.expect(")")
        self.no_filter = outer
        if named and args:
            message = "cannot mix positional and named parameters"
            raise ExpressionError(message, opening.line, opening.column)
        return ast.Call(callee, tuple(args), tuple(named) if named else None)

    def parameter_name(self) -> str:
        words = [self.name_token("a parameter name")]
        while self.tok.kind == "name":
            words.append(self.advance().text)
        self.expect(":")
        return " ".join(words)

    # --- primaries -------------------------------------------------------------------------

    def primary(self) -> ast.Node:
        token = self.tok
        kind = token.kind
        if kind in ("number", "string"):
            self.advance()
            return ast.Literal(token.value)
        if kind == "temporal":
            self.advance()
            return ast.Call(ast.Name("@"), (ast.Literal(token.value),))
        if kind == "name":
            return ast.Name(self.multi_word_name() or self.advance().text)
        if kind == "keyword":
            if token.text in ("true", "false", "null"):
                self.advance()
                return ast.Literal({"true": True, "false": False, "null": None}[token.text])
            if token.text in ("if", "for", "some", "every", "function"):
                return self.expression()
        if kind == "op":
            if token.text == "(":
                return self.parenthesized()
            if token.text == "[":
                return self.bracketed()
            if token.text == "]":
                self.advance()
                return self.range_rest(None, start_included=False)
            if token.text == "{":
                return self.context()
        raise self.error("an expression")

    def multi_word_name(self) -> str | None:
        """Built-in names with spaces ("string length"), recognised only before "(".

        Keywords may appear inside them ("date and time"), so match raw token texts.
        """
        for words in _MULTI_WORD:
            n = len(words)
            window = self.tokens[self.pos : self.pos + n + 1]
            if len(window) < n + 1 or not self.at("(", window[n]):
                continue
            if all(
                t.kind in ("name", "keyword") and t.text == w
                for t, w in zip(window[:n], words, strict=True)
            ):
                self.pos += n
                return " ".join(words)
        return None

    def parenthesized(self) -> ast.Node:
        self.expect("(")
        first = self.expression()
        if self.at(".."):
            return self.range_rest(first, start_included=False)
        self.expect(")")
        return first

    def bracketed(self) -> ast.Node:
        self.expect("[")
        if self.at("]"):
            self.advance()
            return ast.ListLiteral(())
        first = self.expression()
        if self.at(".."):
            return self.range_rest(first, start_included=True)
        items = [first]
        while self.at(","):
            self.advance()
            items.append(self.expression())
        self.expect("]")
        return ast.ListLiteral(tuple(items))

    def range_rest(self, start: ast.Node | None, start_included: bool) -> ast.Node:
        if start is None:
            start = self.additive()
        self.expect("..")
        self.no_filter += 1
        end = self.additive()
        self.no_filter -= 1
        closing = self.tok
        if not (self.at("]") or self.at(")") or self.at("[")):
            raise self.error("']', ')' or '['")
        self.advance()
        return ast.RangeLiteral(start, end, start_included, closing.text == "]")

    def context(self) -> ast.Node:
        self.expect("{")
        entries: list[tuple[str, ast.Node]] = []
        while not self.at("}"):
            token = self.tok
            if token.kind == "string":
                key = str(self.advance().value)
            elif token.kind in ("name", "keyword"):
                # A key is a name, which may hold spaces and the symbols . / - + * (FEEL
                # grammar rule 30): the key is the text up to the ":".
                words = [self.advance()]
                while self.tok.kind in ("name", "keyword") or self.tok.text in _KEY_SYMBOLS:
                    words.append(self.advance())
                end = words[-1].offset + len(words[-1].text)
                key = " ".join(self.text[words[0].offset : end].split())
            else:
                raise self.error("a context key")
            self.expect(":")
            entries.append((key, self.expression()))
            if not self.at(","):
                break
            self.advance()
        self.expect("}")
        return ast.ContextLiteral(tuple(entries))

    # --- unary tests -----------------------------------------------------------------------

    def unary_tests(self) -> ast.UnaryTests:
        if self.at("-") and self.peek().kind == "eof":
            self.advance()
            return ast.UnaryTests((), any=True)
        if self.at_word("not") and self.at("(", self.peek()):
            negated = self.attempt(self.negated_tests)
            if negated is not None:
                return negated
        if self.at("("):  # a parenthesised list, ("a", "b"), as after "in"
            listed = self.attempt(lambda: self.negated_tests(negated=False))
            if listed is not None:
                return listed
        return self.finish(ast.UnaryTests(self.positive_unary_tests(full=True)))

    def negated_tests(self, negated: bool = True) -> ast.UnaryTests:
        if negated:
            self.advance()
        self.expect("(")
        tests = self.positive_unary_tests(full=True)
        self.expect(")")
        return self.finish(ast.UnaryTests(tests, negated=negated))


def parse_expression(text: str, names: frozenset[str] = frozenset()) -> ast.Node:
    """``names`` are the names in scope that contain spaces or operators ("Full Name")."""
    return Parser(text, names).parse()


def parse_unary_tests(text: str, names: frozenset[str] = frozenset()) -> ast.UnaryTests:
    return Parser(text, names).unary_tests()
