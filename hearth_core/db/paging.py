"""Lists: a WHERE clause whose every value is a bound parameter, and one page of rows.

Every list endpoint answers ``{"items", "page", "limit", "total"}`` (DESIGN §4). Repositories
build their filter with :class:`Where`, then call :func:`fetch_page`; the ORDER BY text is
always one of the repository's own fixed fragments, never caller input.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar

import asyncpg
import msgspec

T = TypeVar("T")

MAX_LIMIT = 1000


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a list, as every list endpoint returns it."""

    items: list[T]
    page: int
    limit: int
    total: int


class Where:
    """A conjunction of fixed SQL fragments; values are appended to ``args`` and referenced as
    ``$n``. Each ``{}`` in a fragment takes the next value. A filter whose value is ``None`` is
    left out, so optional query parameters read as one line each."""

    def __init__(self) -> None:
        self.args: list[Any] = []
        self._clauses: list[str] = []

    def bind(self, value: Any) -> str:
        """``$n`` for ``value`` (for fragments that are not filters, e.g. a computed column)."""
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, fragment: str, *values: Any) -> Where:
        """Always add ``fragment``; its ``{}`` placeholders take ``values`` in order."""
        if fragment.count("{}") != len(values):
            raise ValueError(f"{fragment!r} takes {fragment.count('{}')} values, not {len(values)}")
        self._clauses.append(fragment.format(*(self.bind(v) for v in values)))
        return self

    def when(self, value: Any, fragment: str) -> Where:
        """Add ``fragment`` (one ``{}``) only when ``value`` is not ``None``."""
        return self if value is None else self.add(fragment, value)

    def eq(self, column: str, value: Any) -> Where:
        return self.when(value, f"{column} = {{}}")

    def prefix(self, column: str, value: str | None) -> Where:
        """``column`` starts with ``value`` (LIKE's own wildcards in ``value`` are literal)."""
        return (
            self if value is None else self.add(f"{column} LIKE {{}} || '%'", like_literal(value))
        )

    def substring(self, columns: tuple[str, ...], value: str | None) -> Where:
        """``value`` appears in any of ``columns``, ignoring case (wildcards literal)."""
        if value is None:
            return self
        pattern = self.bind("%" + like_literal(value) + "%")
        return self.add("(" + " OR ".join(f"{c} ILIKE {pattern}" for c in columns) + ")")

    def any(self, column: str, values: Iterable[Any] | None) -> Where:
        """``column`` is one of ``values`` (skipped when ``values`` is None; none matches [])."""
        return self if values is None else self.add(f"{column} = ANY({{}})", list(values))

    def since(self, column: str, value: Any) -> Where:
        """Inclusive lower bound."""
        return self.when(value, f"{column} >= {{}}")

    def until(self, column: str, value: Any) -> Where:
        """Exclusive upper bound."""
        return self.when(value, f"{column} < {{}}")

    @property
    def sql(self) -> str:
        """`` WHERE a AND b`` or the empty string."""
        return (" WHERE " + " AND ".join(self._clauses)) if self._clauses else ""


def like_literal(text: str) -> str:
    """``text`` with LIKE's wildcards (and its escape character) made literal."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def offset(page: int, limit: int) -> int:
    if page < 1 or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"page {page} / limit {limit} out of range")
    return (page - 1) * limit


async def fetch_page(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    select: str,
    from_: str,
    where: Where,
    order_by: str,
    page: int,
    limit: int,
    count_from: str | None = None,
) -> tuple[list[asyncpg.Record], int]:
    """The rows of one page and the total matching ``where``: ``SELECT {select} FROM {from_}
    {where} ORDER BY {order_by} LIMIT $n OFFSET $m``. ``count_from`` counts over a lighter
    FROM (without the joins that only feed the select list)."""
    total = await conn.fetchval(
        f"SELECT count(*) FROM {count_from or from_}{where.sql}",  # noqa: S608 - fixed fragments
        *where.args,
    )
    args = [*where.args, limit, offset(page, limit)]
    n = len(where.args)
    rows = await conn.fetch(
        f"SELECT {select} FROM {from_}{where.sql} ORDER BY {order_by}"  # noqa: S608 - fixed fragments
        f" LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
    )
    return rows, int(total)
