"""PromQL label matchers as SQL over ``metric_series s``: a prefilter that narrows what a query
fetches. The Rust engine applies every matcher exactly again, so the SQL may return more series
than match — never fewer.

``=`` and ``!=`` translate exactly (a missing label reads as ``""``, as in Prometheus; stored
label sets never hold empty values, so ``label = "v"`` with a non-empty ``v`` is a containment
test the GIN index answers). A regex is pushed to PostgreSQL only when it is written in a
subset whose meaning is the same in Go/Rust syntax and in PostgreSQL's AREs (ASCII literals,
escaped punctuation, ``.``, ``* + ?``, ``|``, plain groups, simple bracket classes), with ``.``
spelled ``[^\\n]`` because Prometheus 2.x's ``.`` does not match a newline and PostgreSQL's
does. Anything else (``\\d``, ``{2,3}``, ``(?i)``, lazy quantifiers, non-ASCII) is left to the
engine alone: a superset, never a wrong answer.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from hearth_core.db.paging import Where

NAME_LABEL = "__name__"
_PUNCT = frozenset(string.punctuation)
_META = frozenset("\\.+*?()|[]{}^$")
_QUANTIFIERS = frozenset("*+?")

Matcher = tuple[str, str, str]  # (label, op, value) as the native core lists them


def postgres_regex(pattern: str) -> str | None:
    """``pattern`` (Prometheus syntax, unanchored) as an anchored PostgreSQL ARE matching
    exactly the same strings, or None when it uses anything outside the shared subset."""
    if not pattern.isascii():
        return None
    out: list[str] = []
    i, n = 0, len(pattern)
    atom = False  # the last token can take a quantifier
    quantified = False  # the last token was a quantifier
    depth = 0
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n or pattern[i + 1] not in _PUNCT:
                return None  # \d, \w, \b, \pL, \x41 …: classes and escapes differ
            out.append(pattern[i : i + 2])
            i, atom, quantified = i + 2, True, False
        elif c in _QUANTIFIERS:
            if not atom or quantified:
                return None  # a** or a*? (lazy): not in the subset
            out.append(c)
            i, quantified = i + 1, True
        elif c == ".":
            out.append("[^\\n]")
            i, atom, quantified = i + 1, True, False
        elif c == "|":
            out.append(c)
            i, atom, quantified = i + 1, False, False
        elif c == "(":
            if pattern.startswith("(?", i):
                return None  # flags, non-capturing and named groups
            depth += 1
            out.append(c)
            i, atom, quantified = i + 1, False, False
        elif c == ")":
            if depth == 0:
                return None
            depth -= 1
            out.append(c)
            i, atom, quantified = i + 1, True, False
        elif c == "[":
            end = _bracket_end(pattern, i)
            if end is None:
                return None
            out.append(pattern[i:end])
            i, atom, quantified = end, True, False
        elif c in _META or not c.isprintable():
            return None  # { } ^ $ and control characters
        else:
            out.append(c)
            i, atom, quantified = i + 1, True, False
    if depth:
        return None
    return "^(?:" + "".join(out) + ")$"


def _bracket_end(pattern: str, start: int) -> int | None:
    """End (exclusive) of a simple bracket class at ``start``: an optional ``^``, then
    alphanumerics, ranges between two of them and punctuation other than ``[ ] \\ & ~``
    (nested classes, escapes and Rust's set operations ``&& -- ~~`` are out)."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    first = i
    while i < len(pattern) and pattern[i] != "]":
        c = pattern[i]
        if c in "[\\&~" or not c.isprintable():
            return None
        if c == "-" and first < i and i + 1 < len(pattern) and pattern[i + 1] != "]":
            lo, hi = pattern[i - 1], pattern[i + 1]
            if not (lo.isalnum() and hi.isalnum() and lo <= hi) or pattern[i + 1] == "-":
                return None
        i += 1
    if i >= len(pattern) or i == first:
        return None  # unterminated, or "[]" / "[^]"
    return i + 1


def match_where(where: Where, matchers: Sequence[Matcher]) -> Where:
    """Add each matcher over ``metric_series s`` that SQL can apply to ``where``."""
    for label, op, value in matchers:
        if label == NAME_LABEL:
            column = "s.name"
        elif op == "=" and value:
            where.add("s.labels @> jsonb_build_object({}::text, {}::text)", label, value)
            continue
        else:
            column = "coalesce(s.labels->>{}::text, '')"
        bind = (label,) if column != "s.name" else ()
        if op == "=":
            where.add(f"{column} = {{}}", *bind, value)
        elif op == "!=":
            where.add(f"{column} <> {{}}", *bind, value)
        else:
            regex = postgres_regex(value)
            if regex is not None:
                sql_op = "~" if op == "=~" else "!~"
                where.add(f"{column} {sql_op} {{}}", *bind, regex)
    return where
