"""Portable SQL functions over UTC timestamps and numbers, compiled per dialect (PostgreSQL, SQLite).

UTCDateTime stores timestamptz on PostgreSQL and "YYYY-MM-DD HH:MM:SS.ffffff" text (UTC) on SQLite; these
elements hide the difference from the services that do date arithmetic in SQL (KPIs, scoring decay).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class month_of(FunctionElement[str]):
    """The UTC month of a timestamp as "YYYY-MM"."""

    type = String()
    inherit_cache = True
    name = "month_of"


class days_between(FunctionElement[float]):
    """(later - earlier) in fractional days."""

    type = Float()
    inherit_cache = True
    name = "days_between"


class minus_days(FunctionElement[datetime]):
    """A timestamp moved back by a whole number of days, comparable with stored timestamps."""

    inherit_cache = True
    name = "minus_days"


class earliest(FunctionElement[datetime]):
    """The earlier of a NOT NULL timestamp and a nullable one (NULL: the first)."""

    inherit_cache = True
    name = "earliest"


class at_least_zero(FunctionElement[float]):
    """A number, or 0 when it is negative."""

    type = Float()
    inherit_cache = True
    name = "at_least_zero"


def compiled_args(element: FunctionElement[Any], compiler: Any, kw: dict[str, Any]) -> list[str]:
    """The SQL of each argument of a function element, for the @compiles functions of each dialect."""
    return [compiler.process(c, **kw) for c in element.clauses]


@compiles(month_of, "postgresql")
def _month_pg(element: month_of, compiler: Any, **kw: Any) -> str:
    (col,) = compiled_args(element, compiler, kw)
    return f"to_char(({col}) AT TIME ZONE 'UTC', 'YYYY-MM')"


@compiles(month_of, "sqlite")
def _month_sqlite(element: month_of, compiler: Any, **kw: Any) -> str:
    # UTCDateTime stores "YYYY-MM-DD HH:MM:SS.ffffff" in UTC on SQLite.
    (col,) = compiled_args(element, compiler, kw)
    return f"substr({col}, 1, 7)"


@compiles(days_between, "postgresql")
def _days_pg(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = compiled_args(element, compiler, kw)
    return f"(EXTRACT(EPOCH FROM (({later}) - ({earlier}))) / 86400.0)"


@compiles(days_between, "sqlite")
def _days_sqlite(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = compiled_args(element, compiler, kw)
    return f"(julianday({later}) - julianday({earlier}))"


@compiles(minus_days, "postgresql")
def _minus_pg(element: minus_days, compiler: Any, **kw: Any) -> str:
    col, n = compiled_args(element, compiler, kw)
    return f"(({col}) - make_interval(days => {n}))"


@compiles(minus_days, "sqlite")
def _minus_sqlite(element: minus_days, compiler: Any, **kw: Any) -> str:
    # Same text layout as the stored values so the comparison stays a string comparison (%f gives
    # milliseconds: pad to microseconds).
    col, n = compiled_args(element, compiler, kw)
    return f"(strftime('%Y-%m-%d %H:%M:%f', {col}, '-' || ({n}) || ' days') || '000')"


@compiles(earliest, "postgresql")
def _earliest_pg(element: earliest, compiler: Any, **kw: Any) -> str:
    first, other = compiled_args(element, compiler, kw)
    return f"LEAST({first}, {other})"  # LEAST ignores NULLs


@compiles(earliest, "sqlite")
def _earliest_sqlite(element: earliest, compiler: Any, **kw: Any) -> str:
    # SQLite's scalar min() is NULL if any argument is; both sides are the same text layout.
    first, other = compiled_args(element, compiler, kw)
    return f"min({first}, coalesce({other}, {first}))"


@compiles(at_least_zero, "postgresql")
def _nonneg_pg(element: at_least_zero, compiler: Any, **kw: Any) -> str:
    (value,) = compiled_args(element, compiler, kw)
    return f"GREATEST({value}, 0)"


@compiles(at_least_zero, "sqlite")
def _nonneg_sqlite(element: at_least_zero, compiler: Any, **kw: Any) -> str:
    (value,) = compiled_args(element, compiler, kw)
    return f"max({value}, 0)"
