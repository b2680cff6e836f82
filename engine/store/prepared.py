"""Statements compiled once per dialect and run on the transaction's DBAPI cursor.

The hot path (``Lifecycle.apply``) runs five statements per event; through SQLAlchemy's
execution machinery each costs ~40 us of Python, more than SQLite spends executing it.
A :class:`Prepared` statement is still written in SQLAlchemy Core (so it stays portable
and checked against the schema), compiled once per dialect, and then handed straight to
the driver inside the same transaction the caller's ``Connection`` holds.

Values are passed as the driver takes them: JSON columns must be given as text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, Connection, bindparam, insert
from sqlalchemy.sql import ClauseElement


class _Compiled(NamedTuple):
    sql: str
    order: tuple[str, ...] | None  # parameter names in order, for positional drivers
    literals: dict[str, Any]


class Prepared:
    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _sql(self, conn: Connection) -> _Compiled:
        dialect = conn.dialect
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            positions = getattr(compiled, "positiontup", None) or ()
            order = tuple(positions) if dialect.positional else None
            # Values written into the statement as literals are bound parameters too.
            literals = {k: v for k, v in compiled.params.items() if v is not None}
            found = _Compiled(str(compiled), order, literals)
            self._compiled[dialect.name] = found
        return found

    @staticmethod
    def _args(compiled: _Compiled, params: Mapping[str, Any]) -> Any:
        merged = {**compiled.literals, **params} if compiled.literals else params
        if compiled.order is None:
            return merged
        return [merged[name] for name in compiled.order]

    def run(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Execute with one set of parameters; returns the DBAPI cursor."""
        compiled = self._sql(conn)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(compiled.sql, self._args(compiled, params))
        return cursor

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Any] | None:
        cursor = self.run(conn, params)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return tuple(row) if row is not None else None

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        cursor = self.run(conn, params)
        try:
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per row: one executemany (cheaper as execute for a single row)."""
        if len(rows) == 1:
            self.write(conn, rows[0])
            return
        compiled = self._sql(conn)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(compiled.sql, [self._args(compiled, r) for r in rows])
        finally:
            cursor.close()

    def write(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """Execute a write whose result nobody reads."""
        self.run(conn, params).close()

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Execute and return the row count."""
        cursor = self.run(conn, params)
        try:
            return int(cursor.rowcount or 0)
        finally:
            cursor.close()


class PreparedIn:
    """A :class:`Prepared` statement with one ``IN`` list, for any number of values.

    ``build`` makes the statement from the list's bind parameters. It is compiled once
    per dialect and list size, sizes rounded up to a power of two: the list is padded
    by repeating its last value (a value given twice in ``IN`` matches nothing more),
    so a few statements serve every batch. A statement SQLAlchemy executes itself costs
    ~1 ms of CPU in the SIP benchmark's busy process against ~0.03 ms this way.
    """

    def __init__(self, build: Callable[[list[BindParameter[Any]]], ClauseElement]) -> None:
        self._build = build
        self._by_size: dict[int, Prepared] = {}

    def _prepared(self, values: Sequence[Any], params: Mapping[str, Any]) -> tuple[Prepared, Any]:
        if not values:
            raise ValueError("an IN list needs at least one value")
        size = 1 << (len(values) - 1).bit_length()
        stmt = self._by_size.get(size)
        if stmt is None:
            stmt = Prepared(self._build([bindparam(f"in_{i}") for i in range(size)]))
            self._by_size[size] = stmt
        last = len(values) - 1
        padded = {f"in_{i}": values[min(i, last)] for i in range(size)}
        return stmt, {**params, **padded}

    def all(
        self, conn: Connection, values: Sequence[Any], params: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        stmt, merged = self._prepared(values, params or {})
        return stmt.all(conn, merged)

    def write(
        self, conn: Connection, values: Sequence[Any], params: Mapping[str, Any] | None = None
    ) -> None:
        stmt, merged = self._prepared(values, params or {})
        stmt.write(conn, merged)


class MultiRowInsert:
    """``INSERT INTO table (columns) VALUES (...), (...), ...`` for any number of rows.

    One statement whatever the count: sqlite3's ``executemany`` releases and takes back
    the GIL at every row's bind, step and reset, and in a busy threaded server each of
    those hand-overs lets every other thread run first (docs/benchmarks.md). Compiled
    once per dialect and row count.
    """

    def __init__(self, table: Any, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._by_count: dict[int, Prepared] = {}

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> Any:
        """Insert ``rows`` (each with every column); returns the DBAPI cursor."""
        stmt = self._by_count.get(len(rows))
        if stmt is None:
            values: list[dict[str, Any]] = [
                {name: bindparam(f"{name}_{i}") for name in self.columns} for i in range(len(rows))
            ]
            stmt = Prepared(insert(self.table).values(values))
            self._by_count[len(rows)] = stmt
        params = {f"{name}_{i}": row[name] for i, row in enumerate(rows) for name in self.columns}
        return stmt.run(conn, params)


def insert_columns(table: Any, columns: Sequence[str]) -> Any:
    """``INSERT INTO table (columns) VALUES (...)`` with one bind parameter per column."""
    return insert(table).values({name: bindparam(name) for name in columns})
