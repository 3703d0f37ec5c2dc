import pytest

from casework.expressions import ExpressionError, compile_expression


def error_for(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text)
    return info.value


def test_error_message_names_line_column_expected_and_found() -> None:
    error = error_for("f(a, b and")
    assert (error.line, error.column) == (1, 11)
    assert str(error) == "line 1, column 11: expected an expression but found end of input"


def test_unclosed_parenthesis_reports_the_token_found() -> None:
    error = error_for("(a + b and c")
    assert error.expected == "')'"
    assert str(error) == "line 1, column 13: expected ')' but found end of input"


def test_unexpected_keyword_after_a_complete_expression() -> None:
    error = error_for("count(x) then")
    assert str(error) == "line 1, column 10: expected end of input but found 'then'"


def test_positions_are_counted_across_lines() -> None:
    error = error_for('if a\nthen "x"\nelse')
    assert (error.line, error.column) == (3, 5)
    error = error_for("a +\n  * 2")
    assert (error.line, error.column) == (2, 3)


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ('"unterminated', 1, 1, "unterminated string"),
        ("1 # 2", 1, 3, "unexpected character '#'"),
        (r'"bad \q escape"', 1, 6, "invalid escape"),
        ("[1, 2", 1, 6, "expected ']'"),
        ("{a 1}", 1, 4, "expected ':'"),
        ("if a then b", 1, 12, "expected 'else'"),
        ("for x [1] return x", 1, 7, "expected 'in'"),
        ("some x in l", 1, 12, "expected 'satisfies'"),
        ("[1..", 1, 5, "expected an expression"),
        ("[1..2", 1, 6, "expected ']', ')' or '['"),
        ("a.", 1, 3, "expected a name"),
        ("f(a: 1, 2)", 1, 2, "cannot mix positional and named"),
        ("x instance of", 1, 14, "expected a type name"),
        ("/* open", 1, 1, "unterminated comment"),
        ("", 1, 1, "expected an expression"),
        ("a !b", 1, 3, "unexpected character '!'"),
    ],
)
def test_syntax_errors_point_at_the_offending_token(
    text: str, line: int, column: int, fragment: str
) -> None:
    error = error_for(text)
    assert (error.line, error.column) == (line, column), str(error)
    assert fragment in str(error)
    assert str(error).startswith(f"line {line}, column {column}: ")
    assert "\n" not in str(error)


def test_errors_are_not_cached_and_raise_every_time() -> None:
    for _ in range(2):
        error_for("1 +")


def test_unknown_language_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown expression language"):
        compile_expression("1", language="python")
