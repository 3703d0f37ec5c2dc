"""FEEL string functions that use regular expressions (DMN 1.5 section 10.3.4.3):
``matches``, ``replace`` and ``split``.

DMN takes their patterns and flags from XQuery 1.0 and XPath 2.0 Functions and Operators
(section 7.6). Python's ``re`` accepts the same core syntax; the differences handled here
are the flags (``s``, ``m``, ``i``, ``x`` and ``q`` for a literal pattern) and the ``$N``
group references of replacement strings. An invalid pattern or flag gives null.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .builtin_base import Builtin, string_arg
from .errors import warn

_FLAGS = {"s": re.DOTALL, "m": re.MULTILINE, "i": re.IGNORECASE, "x": re.VERBOSE}


@lru_cache(maxsize=256)
def _compile(pattern: str, flags: str) -> re.Pattern[str] | None:
    options = 0
    for flag in flags:
        if flag == "q":
            continue
        if flag not in _FLAGS:
            return None
        options |= _FLAGS[flag]
    text = re.escape(pattern) if "q" in flags else pattern
    try:
        return re.compile(text, options)
    except re.error:
        return None


def _regex(pattern: Any, flags: Any) -> re.Pattern[str] | None:
    if string_arg(pattern) is None or (flags is not None and string_arg(flags) is None):
        return None
    compiled = _compile(pattern, flags or "")
    if compiled is None:
        warn(f"invalid regular expression {pattern!r} (flags {flags!r})")
    return compiled


def _matches(text: Any, pattern: Any, flags: Any = None) -> bool | None:
    regex = _regex(pattern, flags)
    if regex is None or string_arg(text) is None:
        return None
    return regex.search(text) is not None


_GROUP_REFERENCE = re.compile(r"\\(.)|\$(\d+)|(\\|\$)")


def _replacement(text: str, groups: int) -> str | None:
    """An XPath replacement string (``$1``, ``\\$``) as a Python one (``\\g<1>``)."""
    out: list[str] = []
    position = 0
    for found in _GROUP_REFERENCE.finditer(text):
        out.append(text[position : found.start()].replace("\\", "\\\\"))
        escaped, digits, lone = found.groups()
        if escaped is not None:
            if escaped not in "\\$":
                return None
            out.append("\\\\" if escaped == "\\" else "$")
        elif digits is not None:
            # XPath reads as many digits as name an existing group.
            number = digits
            while len(number) > 1 and int(number) > groups:
                number = number[:-1]
            rest = digits[len(number) :]
            out.append(f"\\g<{number}>" if int(number) <= groups else "")
            out.append(rest)
        elif lone is not None:
            return None
        position = found.end()
    out.append(text[position:].replace("\\", "\\\\"))
    return "".join(out)


def _replace(text: Any, pattern: Any, replacement: Any, flags: Any = None) -> str | None:
    regex = _regex(pattern, flags)
    if regex is None or string_arg(text) is None or string_arg(replacement) is None:
        return None
    if regex.search("") is not None:
        return None  # XPath forbids patterns that match the empty string
    if flags and "q" in flags:
        return regex.sub(replacement.replace("\\", "\\\\"), text)
    python_replacement = _replacement(replacement, regex.groups)
    return None if python_replacement is None else regex.sub(python_replacement, text)


def _split(text: Any, delimiter: Any, flags: Any = None) -> list[str] | None:
    regex = _regex(delimiter, flags)
    if regex is None or string_arg(text) is None or regex.search("") is not None:
        return None
    return regex.split(text) if regex.groups == 0 else _split_plain(regex, text)


def _split_plain(regex: re.Pattern[str], text: str) -> list[str]:
    # re.split would also return the captured groups; XPath's tokenize does not.
    parts, position = [], 0
    for found in regex.finditer(text):
        parts.append(text[position : found.start()])
        position = found.end()
    parts.append(text[position:])
    return parts


FUNCTIONS: list[Builtin] = [
    Builtin("matches", (("input", "pattern", "flags?"),), _matches),
    Builtin("replace", (("input", "pattern", "replacement", "flags?"),), _replace),
    Builtin("split", (("string", "delimiter", "flags?"),), _split),
]
