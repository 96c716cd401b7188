"""PromQL matchers pushed to SQL (hearth_core.metrics.selectors): a regex reaches PostgreSQL
only where PostgreSQL's answer equals the engine's — checked here on a corpus of patterns and
label values against both, so the SQL prefilter is never narrower than the match."""

from __future__ import annotations

import pytest

from hearth_core import _native
from hearth_core.db.paging import Where
from hearth_core.metrics.selectors import match_where, postgres_regex

PUSHED = [
    "a.*",
    "a|b",
    "we.",
    "[a-c]x",
    "[^a]",
    "a\\.b",
    "a+b?",
    "(ab)+",
    "",
    ".",
    "x*",
    "(a|b)c",
    "[-a]",
    "a[.$]b",
    "10\\.0\\.0\\.1|host-[0-9]+",
    "()a",
    ".+",
]
KEPT = [
    "\\d+",  # classes differ (Unicode in Rust, locale in PostgreSQL)
    "a{2}",  # bounds: Go's literal-brace rules
    "(?i)a",  # flags
    "(?:a)",
    "a*?",  # lazy
    "a$",
    "^a",
    "é.",  # non-ASCII
    "[[:alpha:]]",
    "[a&&b]",
    "\\bx",
    "a\\",
    "(a",
    "a)",
    "[z-a]",
    "[]a]",
    "[^\\n]",  # an escape inside a class
]
VALUES = [
    "",
    "a",
    "b",
    "ab",
    "abab",
    "a.b",
    "a$b",
    "axb",
    "a\nb",
    "\n",
    "we\n",
    "web",
    "x",
    "xx",
    "-",
    "bx",
    "ax",
    "é",
    "a\\b",
    "AB",
    "10.0.0.1",
    "10x0.0.1",
    "host-12",
    "host-",
    "aab",
]


@pytest.mark.parametrize("pattern", KEPT)
def test_patterns_outside_the_shared_subset_stay_with_the_engine(pattern: str) -> None:
    assert postgres_regex(pattern) is None


def _engine(pattern: str, value: str) -> bool:
    quoted = pattern.replace("\\", "\\\\").replace('"', '\\"')
    selector = 'x{l=~"' + quoted + '"}'
    labels = {"l": value} if value else {}
    return _native.promql_match_series([selector], [("x", labels)]) == [0]


@pytest.mark.parametrize("pattern", PUSHED)
async def test_postgres_matches_exactly_what_the_engine_matches(db, pattern: str) -> None:
    regex = postgres_regex(pattern)
    assert regex is not None
    rows = await db.fetch("SELECT v, v ~ $1 AS m FROM unnest($2::text[]) AS t(v)", regex, VALUES)
    postgres = {r["v"]: r["m"] for r in rows}
    assert postgres == {v: _engine(pattern, v) for v in VALUES}


async def test_match_where_selects_a_superset_in_sql(db) -> None:
    labels = [{}, {"job": "api"}, {"job": "web", "zone": "a\nb"}, {"job": "API"}]
    await db.executemany(
        "INSERT INTO metric_series (hash, namespace, name, labels) VALUES ($1, 'ns', $2, $3)",
        [(i, "up" if i % 2 else "down", ls) for i, ls in enumerate(labels)],
    )
    rows = await db.fetch("SELECT name, labels FROM metric_series WHERE namespace = 'ns'")
    every = [(r["name"], r["labels"]) for r in rows]
    for selector in [
        'up{job="api"}',
        '{job!="api", __name__=~"d.*"}',
        '{zone=~"a.b", job=~".+"}',
        '{zone!~"a.b", job=~".+"}',
        '{job=~"(?i)api"}',
        '{job="", __name__!=""}',
    ]:
        [matchers] = _native.promql_selectors([selector])
        where = match_where(Where().add("s.namespace = {}", "ns"), matchers)
        found = await db.fetch(
            f"SELECT s.name, s.labels FROM metric_series s{where.sql}", *where.args
        )
        sql = {(r["name"], tuple(sorted(r["labels"].items()))) for r in found}
        exact = {
            (every[i][0], tuple(sorted(every[i][1].items())))
            for i in _native.promql_match_series([selector], every)
        }
        assert exact <= sql, selector
        if "(?i)" not in selector:
            assert exact == sql, selector  # pushed down whole: exactly the matching series
