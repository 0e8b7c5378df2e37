"""REST requests built into SQL, so that they take the same path through the rewriter as raw SQL.

Each builder takes a table's ``TableInfo`` and the parsed request and returns a ``Statement``:
SQL text over the plain table with every value a bind parameter (``$1``, ``$2`` ...) and the
values converted to the column types.  Identifiers come only from the catalog and are always
quoted, values never enter the text, and the text depends only on the request's *shape* (which
columns, operators and order), so the rewriter's template cache and PostgreSQL's prepared
statements serve every request of the same shape::

    build_read(tasks, parse_read([("done", "is.false"), ("limit", "20")], ...))
    → SELECT * FROM "public"."tasks" WHERE ("done" IS FALSE) LIMIT $1   (20,)

(``OFFSET $n`` only when the request skips rows: a first page's plan stays generic.)

Unknown columns and operators that do not fit the column are ``BadRequest`` naming them;
malformed values are ``BadRequest`` (query string) or ``ValidationFailed`` (body) naming the
column and what it expects.  Row confinement is not done here: the rewriter adds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rowgate.errors import BadRequest, ValidationFailed
from rowgate.proxy.data.catalog import ColumnInfo, TableInfo
from rowgate.proxy.data.restquery import Condition, Filter, Group, Order, ReadQuery
from rowgate.proxy.data.values import TEXT_FAMILIES, from_json, from_text

_COMPARE = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL with ``$n`` parameters, and the values to bind to them."""

    sql: str
    params: tuple[Any, ...]


def quote(name: str) -> str:
    """A PostgreSQL identifier that names exactly ``name``."""
    return '"' + name.replace('"', '""') + '"'


def table_sql(table: TableInfo) -> str:
    """The table's exact, schema-qualified name."""
    return f"{quote(table.schema)}.{quote(table.name)}"


class _Params:
    """Collects bind values and hands out their ``$n`` placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def build_read(table: TableInfo, query: ReadQuery) -> Statement:
    """``SELECT`` for a collection read: columns, filters, order, ``LIMIT``, and ``OFFSET`` when
    the request skips rows (an ``OFFSET $n`` of unknown value makes PostgreSQL's generic plan look
    costlier than a custom one, so that a first page would be planned anew at every execution)."""
    params = _Params()
    sql = f"SELECT {_select_list(table, query.columns)} FROM {table_sql(table)}"
    sql += _where(table, query.where, params)
    if query.order:
        sql += " ORDER BY " + ", ".join(_order(table, order) for order in query.order)
    sql += f" LIMIT {params.add(query.limit)}"
    if query.offset:
        sql += f" OFFSET {params.add(query.offset)}"
    return Statement(sql, tuple(params.values))


def build_count(table: TableInfo, query: ReadQuery) -> Statement:
    """``SELECT count(*)`` of the rows a read's filters match (before paging)."""
    params = _Params()
    sql = f'SELECT count(*) AS "count" FROM {table_sql(table)}' + _where(table, query.where, params)
    return Statement(sql, tuple(params.values))


def build_get(table: TableInfo, key: str, columns: tuple[str, ...] | None = None) -> Statement:
    """``SELECT`` of the row whose primary key is ``key`` (text from the path)."""
    params = _Params()
    column = _key(table)
    where = f"{quote(column.name)} = {params.add(_text_value(column, key, 'the id in the path'))}"
    sql = f"SELECT {_select_list(table, columns)} FROM {table_sql(table)} WHERE {where}"
    return Statement(sql, tuple(params.values))


def build_insert(table: TableInfo, rows: Sequence[Mapping[str, Any]]) -> Statement:
    """``INSERT ... RETURNING *`` of one or more JSON objects (a key left out gets its default)."""
    _writable(table)
    if not rows:
        raise ValidationFailed("Send an object or a non-empty array of objects.", code="empty_body")
    names: list[str] = []
    for row in rows:
        names.extend(name for name in row if name not in names)
    _check_columns(table, names)
    if not names:
        if len(rows) > 1:
            raise ValidationFailed("Give at least one column when inserting several rows.", code="empty_row")
        return Statement(f"INSERT INTO {table_sql(table)} DEFAULT VALUES RETURNING *", ())
    params = _Params()
    errors: list[dict[str, str]] = []
    tuples = []
    for index, row in enumerate(rows):
        prefix = f"[{index}]." if len(rows) > 1 else ""
        cells = [
            params.add(_json_value(table.columns[n], row[n], prefix + n, errors)) if n in row else "DEFAULT"
            for n in names
        ]
        tuples.append("(" + ", ".join(cells) + ")")
    _raise_errors(errors)
    columns = ", ".join(quote(n) for n in names)
    sql = f"INSERT INTO {table_sql(table)} ({columns}) VALUES {', '.join(tuples)} RETURNING *"
    return Statement(sql, tuple(params.values))


def build_update(table: TableInfo, key: str, changes: Mapping[str, Any]) -> Statement:
    """``UPDATE ... SET ... WHERE <key> = $n RETURNING *`` for the row ``key``."""
    _writable(table)
    if not changes:
        raise ValidationFailed("Send an object with the columns to change.", code="empty_body")
    _check_columns(table, list(changes))
    params = _Params()
    errors: list[dict[str, str]] = []
    sets = [
        f"{quote(name)} = {params.add(_json_value(table.columns[name], value, name, errors))}"
        for name, value in changes.items()
    ]
    _raise_errors(errors)
    column = _key(table)
    where = f"{quote(column.name)} = {params.add(_text_value(column, key, 'the id in the path'))}"
    sql = f"UPDATE {table_sql(table)} SET {', '.join(sets)} WHERE {where} RETURNING *"
    return Statement(sql, tuple(params.values))


def build_delete(table: TableInfo, key: str) -> Statement:
    """``DELETE ... WHERE <key> = $1 RETURNING *`` for the row ``key``."""
    _writable(table)
    column = _key(table)
    value = _text_value(column, key, "the id in the path")
    return Statement(f"DELETE FROM {table_sql(table)} WHERE {quote(column.name)} = $1 RETURNING *", (value,))


def build_exists(table: TableInfo, key: str) -> Statement:
    """``SELECT 1`` of the row ``key``: whether the caller can see it (after a write matched none)."""
    column = _key(table)
    value = _text_value(column, key, "the id in the path")
    return Statement(f"SELECT 1 FROM {table_sql(table)} WHERE {quote(column.name)} = $1", (value,))


def build_owned(table: TableInfo, key: str, owner: str, user: str) -> Statement:
    """Whether the row ``key`` belongs to ``user`` (``owned``), for owner-level routes."""
    column = _key(table)
    value = _text_value(column, key, "the id in the path")
    owner_column = _column(table, owner)
    sql = (
        f'SELECT ({quote(owner_column.name)} IS NOT DISTINCT FROM $2) AS "owned" '
        f"FROM {table_sql(table)} WHERE {quote(column.name)} = $1"
    )
    return Statement(sql, (value, from_text(user, owner_column.type)))


def _select_list(table: TableInfo, columns: tuple[str, ...] | None) -> str:
    if columns is None:
        return "*"
    _check_columns(table, columns, writing=False)
    return ", ".join(quote(c) for c in columns)


def _where(table: TableInfo, conditions: Sequence[Condition], params: _Params) -> str:
    if not conditions:
        return ""
    return " WHERE " + " AND ".join(_condition(table, c, params) for c in conditions)


def _condition(table: TableInfo, condition: Condition, params: _Params) -> str:
    if isinstance(condition, Group):
        joiner = f" {condition.joiner.upper()} "
        sql = "(" + joiner.join(_condition(table, item, params) for item in condition.items) + ")"
    else:
        sql = _filter(table, condition, params)
    return f"NOT {sql}" if condition.negated else sql


def _filter(table: TableInfo, condition: Filter, params: _Params) -> str:
    column = _column(table, condition.column)
    name = quote(column.name)
    where = f"filter on {column.name}"
    value = condition.value
    if condition.operator == "is":
        if value != "null" and column.type.family != "bool":
            raise BadRequest(
                f"is.{value} needs a boolean column; {column.name} is not one.", code="invalid_filter"
            )
        return f"({name} IS {str(value).upper()})"
    if condition.operator == "in":
        if not value:
            return "(FALSE)"
        marks = [params.add(_text_value(column, item, where)) for item in value]
        return f"({name} IN ({', '.join(marks)}))"
    assert isinstance(value, str)
    if condition.operator in ("like", "ilike"):
        if column.type.family not in TEXT_FAMILIES or column.type.array:
            raise BadRequest(
                f"{condition.operator} needs a text column; {column.name} is {column.type.name}.",
                code="invalid_filter",
            )
        return f"({name} {condition.operator.upper()} {params.add(value.replace('*', '%'))})"
    return f"({name} {_COMPARE[condition.operator]} {params.add(_text_value(column, value, where))})"


def _order(table: TableInfo, order: Order) -> str:
    sql = quote(_column(table, order.column).name) + (" DESC" if order.descending else " ASC")
    if order.nulls:
        sql += f" NULLS {order.nulls.upper()}"
    return sql


def _column(table: TableInfo, name: str) -> ColumnInfo:
    column = table.columns.get(name)
    if column is None:
        raise BadRequest(f"Unknown column {name!r} in table {table.name}.", code="unknown_column")
    return column


def _check_columns(table: TableInfo, names: Sequence[str], writing: bool = True) -> None:
    unknown = [n for n in names if n not in table.columns]
    if unknown:
        listed = ", ".join(repr(n) for n in unknown)
        raise BadRequest(f"Unknown column(s) {listed} in table {table.name}.", code="unknown_column")
    generated = [n for n in names if writing and table.columns[n].generated]
    if generated:
        raise ValidationFailed(
            "Generated columns cannot be written.",
            errors=[{"field": n, "message": "generated by the database"} for n in generated],
        )


def _key(table: TableInfo) -> ColumnInfo:
    column = table.key
    if column is None:
        raise BadRequest(
            f"Table {table.name} has no single-column primary key, so its rows have no /{{id}} address.",
            code="no_primary_key",
        )
    return column


def _writable(table: TableInfo) -> None:
    if not table.writable:
        raise BadRequest(f"{table.name} is a view; write to its tables instead.", code="read_only")


def _text_value(column: ColumnInfo, text: str, where: str) -> Any:
    try:
        return from_text(text, column.type)
    except ValueError as error:
        raise BadRequest(
            f"{where}: {error} (column {column.name} is {column.type.name}).", code="invalid_value"
        ) from None


def _json_value(column: ColumnInfo, value: Any, field: str, errors: list[dict[str, str]]) -> Any:
    try:
        return from_json(value, column.type)
    except ValueError as error:
        errors.append({"field": field, "message": str(error)})
        return None


def _raise_errors(errors: list[dict[str, str]]) -> None:
    if errors:
        fields = ", ".join(e["field"] for e in errors)
        raise ValidationFailed(f"Invalid values for {fields}.", errors=errors, code="invalid_value")
