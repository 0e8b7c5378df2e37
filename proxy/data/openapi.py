"""An OpenAPI 3.1 document for the REST data API, generated from the policy and the tables.

Every table the policy grants some operation on gets its paths (``/{table}`` and, with a
single-column primary key, ``/{table}/{id}``) for the operations some group may run, with the
groups named in the description; its columns become JSON Schemas from their types (nullable
columns accept ``null``, enum columns and readable CHECK constraints list their labels, columns
hidden from some group say so).  The document is as strict as the server: an insert requires only
the columns the client must send (rowgate fills in the tenant and owner, the database defaults),
query parameters have the shapes the parser accepts, and every status an operation can answer is
listed with the problem schema.  Pure: it reads only the ``PolicySet`` and ``TableInfo`` values
it is given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rowgate.proxy.data.catalog import ColumnInfo, TableInfo
from rowgate.proxy.data.restquery import MAX_OFFSET, OPERATORS
from rowgate.proxy.data.values import ColumnType
from rowgate.rls.policy import PolicySet, TablePolicy
from rowgate.rls.rewrite import MAX_TOKENS

#: Text PostgreSQL can store (it has no NUL character).
_NO_NUL = "^[^\\x00]*$"
_DECIMAL = "^\\s*[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?\\s*$"
_FORMATS: Mapping[str, dict[str, Any]] = {
    "int2": {"type": "integer", "format": "int32", "minimum": -32768, "maximum": 32767},
    "int4": {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1},
    "int8": {"type": "integer", "format": "int64", "minimum": -(2**63), "maximum": 2**63 - 1},
    "numeric": {
        "anyOf": [{"type": "string", "pattern": _DECIMAL}, {"type": "number"}],
        "description": "exact decimal (answered as a string)",
    },
    "float": {"type": "number"},
    "text": {"type": "string", "pattern": _NO_NUL},
    "bool": {"type": "boolean"},
    "uuid": {"type": "string", "format": "uuid"},
    "timestamptz": {"type": "string", "format": "date-time"},
    "timestamp": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "time": {"type": "string", "format": "time"},
    "timetz": {"type": "string", "format": "time"},
    "interval": {"type": "number", "description": "seconds"},
    "json": {"$ref": "#/components/schemas/JsonValue"},
    "bytea": {"type": "string", "contentEncoding": "base64"},
    "inet": {"type": "string"},
    "cidr": {"type": "string"},
}
#: Any JSON value whose strings PostgreSQL can store (jsonb refuses \u0000).
JSON_VALUE: dict[str, Any] = {
    "anyOf": [
        {"type": ["number", "boolean", "null"]},
        {"type": "string", "pattern": _NO_NUL},
        {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
        {
            "type": "object",
            "propertyNames": {"pattern": _NO_NUL},
            "additionalProperties": {"$ref": "#/components/schemas/JsonValue"},
        },
    ]
}
_PRECISION = re.compile(r"numeric\((\d+)(?:,\s*(\d+))?\)")
#: An RFC 9457 problem as rowgate writes it (``errors`` on 422, ``retryAfter`` on 429).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "description": "stable, machine-readable"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "retryAfter": {"type": "integer", "minimum": 1},
    },
}
#: What each status means; every operation lists the ones it can answer.
STATUS_TEXT: Mapping[str, str] = {
    "400": "Malformed request: query, path, or a body that is not JSON",
    "401": "No credential where one is needed, or one that was refused",
    "403": "The caller's permissions or the policy forbid it",
    "404": "Not found (for this caller)",
    "409": "Conflicts with the current state (a unique value or a reference)",
    "413": "The body is larger than the limit (or more rows than data.max_rows)",
    "415": "The body is not JSON",
    "422": "Fields or values the server refuses (listed in errors)",
    "429": "Rate limited (Retry-After says when to try again)",
    "503": "A database or service is unavailable",
}
_READ_STATUSES = ("400", "401", "403", "429", "503")
_BODY_STATUSES = ("409", "413", "415", "422")


def problems(statuses: tuple[str, ...]) -> dict[str, Any]:
    """The problem responses for ``statuses``, each saying what it means."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {
            "description": STATUS_TEXT[status],
            "content": {"application/problem+json": {"schema": schema}},
        }
        for status in sorted(statuses)
    }


def _decimal(type_name: str) -> dict[str, Any]:
    """``numeric``, or ``numeric(p, s)`` bounded as the column stores it: at most ``p - s`` digits
    before the point, and (as text) at most ``s`` after it, so that no rounding carries over."""
    found = _PRECISION.search(type_name)
    if found is None:
        return dict(_FORMATS["numeric"])
    whole = int(found[1]) - int(found[2] or 0)
    scale = int(found[2] or 0)
    largest = 10**whole - 10**-scale if scale else 10**whole - 1
    fraction = rf"(\.[0-9]{{0,{scale}}})?" if scale else ""
    digits = rf"([0-9]{{1,{whole}}}{fraction}|\.[0-9]{{1,{scale}}})" if scale else rf"[0-9]{{1,{whole}}}"
    return {
        "anyOf": [
            {"type": "string", "pattern": rf"^\s*[+-]?{digits}\s*$"},
            {"type": "number", "minimum": -largest, "maximum": largest},
        ],
        "description": f"exact decimal, {type_name} (answered as a string)",
    }


@dataclass(frozen=True, slots=True)
class Limits:
    """The server's paging and batch limits (``data.*``), stated in the document."""

    max_limit: int
    default_limit: int
    max_rows: int = 10_000


def openapi_document(
    policies: PolicySet, tables: Mapping[str, TableInfo], *, base_url: str, limits: Limits
) -> dict[str, Any]:
    """The data API's own document; ``tables`` maps REST names (as in the paths) to tables."""
    paths, schemas = data_paths(policies, tables, limits)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "rowgate data API",
            "version": policies.version,
            "description": "Rows of each table, confined to the caller by rowgate's row-level security "
            "policy. Rows the caller may not see answer 404; writes the policy forbids answer 403.",
        },
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}, {}],
        "paths": paths,
        "components": {
            "schemas": {**schemas, "Problem": PROBLEM_SCHEMA, "JsonValue": JSON_VALUE},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def data_paths(
    policies: PolicySet, tables: Mapping[str, TableInfo], limits: Limits
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The paths (relative to the data mount) and the row schemas they refer to."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name, table in sorted(tables.items()):
        rules = policies.tables.get(table.qualified)
        if rules is None or not any(rules.groups(op) for op in ("select", "insert", "update", "delete")):
            continue
        schemas[name] = _row_schema(table, rules)
        schemas[f"{name}.insert"] = _write_schema(table, rules, insert=True)
        schemas[f"{name}.update"] = _write_schema(table, rules, insert=False)
        paths.update(_paths(name, table, rules, limits))
    return paths, schemas


def json_schema(kind: ColumnType, column: ColumnInfo | None = None) -> dict[str, Any]:
    """The JSON Schema of a value of ``kind`` (``column`` adds nullability, labels and length)."""
    schema = dict(_FORMATS.get(kind.family, {"type": "string"}))
    if kind.family == "numeric":
        schema = _decimal(kind.name)
    if column is not None and column.labels:
        schema = {"type": "string", "enum": list(column.labels)}
    if kind.max_length is not None:
        schema["maxLength"] = kind.max_length
    if column is not None and column.min_length is not None and not kind.array:
        schema["minLength"] = column.min_length
    if kind.array:
        schema = {"type": "array", "items": schema}
    if column is not None and not column.not_null:
        if "anyOf" in schema:
            schema["anyOf"] = [*schema["anyOf"], {"type": "null"}]
        elif "type" in schema:
            schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema


def _row_schema(table: TableInfo, rules: TablePolicy) -> dict[str, Any]:
    properties = {}
    for name in table.order:
        column = table.columns[name]
        schema = json_schema(column.type, column)
        notes = []
        hidden_from = sorted(g for g, cols in rules.hidden.items() if name in cols)
        if hidden_from:
            notes.append(f"hidden from: {', '.join(hidden_from)}")
        if column.generated:
            schema["readOnly"] = True
            notes.append("generated by the database")
        if notes:
            schema["description"] = "; ".join(notes)
        properties[name] = schema
    return {"type": "object", "properties": properties}


def _write_schema(table: TableInfo, rules: TablePolicy, *, insert: bool) -> dict[str, Any]:
    """An insert's body (requiring only what the client must send) or an update's (not empty)."""
    columns = [table.columns[n] for n in table.order if not table.columns[n].generated]
    filled = {rules.tenant_column: "the caller's tenant", rules.owner_column: "the caller's user id"}
    properties = {}
    for column in columns:
        schema = json_schema(column.type, column)
        if insert and column.name in filled:
            schema["description"] = f"optional: rowgate fills in {filled[column.name]}"
        properties[column.name] = schema
    body: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    needed = [c.name for c in columns if c.required and c.name not in filled]
    if insert and needed:
        body["required"] = needed
    if not insert:
        body["minProperties"] = 1
    return body


def _paths(name: str, table: TableInfo, rules: TablePolicy, limits: Limits) -> dict[str, Any]:
    row = {"$ref": f"#/components/schemas/{name}"}
    collection: dict[str, Any] = {}
    item: dict[str, Any] = {}
    if rules.groups("select"):
        count = {"type": "integer", "minimum": 0}
        listing = _data({"type": "array", "items": row}) | {
            "properties": {"data": _array(row), "count": count}
        }
        collection["get"] = _operation(
            f"List rows of {name}", rules, "select", _list_parameters(table, limits), listing
        )
    if rules.groups("insert") and table.writable:
        written = _data({"anyOf": [row, _array(row)]})
        operation = _operation(f"Insert rows into {name}", rules, "insert", [], written, "201")
        operation["requestBody"] = _body(_insert_body(name, max_insert_rows(table, limits.max_rows)))
        collection["post"] = operation
    key = table.key
    if key is not None:
        one = _data(row)
        id_parameter = {"name": "id", "in": "path", "required": True, "schema": json_schema(key.type)}
        if rules.groups("select"):
            parameters = [id_parameter, _select(table)]
            item["get"] = _operation(f"One row of {name}", rules, "select", parameters, one, found=True)
        if rules.groups("update") and table.writable:
            patch = _operation(f"Change a row of {name}", rules, "update", [id_parameter], one, found=True)
            patch["requestBody"] = _body({"$ref": f"#/components/schemas/{name}.update"})
            item["patch"] = patch
        if rules.groups("delete") and table.writable:
            delete = _operation(f"Delete a row of {name}", rules, "delete", [id_parameter], one, found=True)
            delete["responses"].update(problems(("409",)))
            item["delete"] = delete
    paths = {f"/{name}": collection} if collection else {}
    if item:
        paths[f"/{name}/{{id}}"] = item
    return paths


def _data(schema: Any) -> dict[str, Any]:
    return {"type": "object", "required": ["data"], "properties": {"data": schema}}


def _array(items: Any, **bounds: int) -> dict[str, Any]:
    return {"type": "array", "items": items, **bounds}


def max_insert_rows(table: TableInfo, max_rows: int) -> int:
    """How many rows one insert may carry: ``data.max_rows``, or fewer when rows naming every
    writable column would make a statement longer than the rewriter reads (``MAX_TOKENS``: each
    value is two tokens and a comma, each row two brackets and a comma)."""
    columns = sum(1 for name in table.order if not table.columns[name].generated)
    header = 2 * columns + 9  # INSERT INTO "s" . "t" ( columns ) VALUES ... RETURNING *
    return max(1, min(max_rows, (MAX_TOKENS - header + 1) // (3 * columns + 2)))


def _insert_body(name: str, max_rows: int) -> dict[str, Any]:
    """One object, or a non-empty array of them; several rows must name a column between them,
    stated as each row naming one (a single ``[{}]`` is all defaults)."""
    insert = {"$ref": f"#/components/schemas/{name}.insert"}
    some = {"allOf": [insert, {"minProperties": 1}]}
    return {
        "anyOf": [insert, _array(insert, minItems=1, maxItems=1), _array(some, minItems=1, maxItems=max_rows)]
    }


def _operation(
    summary: str,
    rules: TablePolicy,
    operation: str,
    parameters: list[Any],
    result: Any,
    status: str = "200",
    *,
    found: bool = False,
) -> dict[str, Any]:
    groups = ", ".join(sorted(rules.groups(operation)))
    statuses = _READ_STATUSES + (("404",) if found else ())
    if operation in ("insert", "update"):
        statuses += _BODY_STATUSES
    return {
        "summary": summary,
        "description": f"Policy: {operation} is granted to {groups}.",
        "parameters": parameters,
        "responses": {
            status: {"description": "OK", "content": {"application/json": {"schema": result}}},
            **problems(statuses),
        },
    }


def _body(schema: Any) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _names(table: TableInfo) -> str:
    return "(" + "|".join(re.escape(name) for name in table.order) + ")"


def _listed(item: str) -> str:
    """A pattern for ``item`` repeated, comma-separated, with spaces around each (as the parser
    strips them)."""
    return rf"^\s*{item}\s*(,\s*{item}\s*)*$"


def _select(table: TableInfo) -> dict[str, Any]:
    return {
        "name": "select",
        "in": "query",
        "schema": {"type": "string", "pattern": rf"^\s*\*\s*$|{_listed(_names(table))}"},
        "description": "columns, such as id,title (* for every column the caller may see)",
    }


def _order(table: TableInfo) -> dict[str, Any]:
    one = _names(table) + r"(\.(asc|desc))?(\.(nullsfirst|nullslast))?"
    return {
        "name": "order",
        "in": "query",
        "schema": {"type": "string", "pattern": _listed(one)},
        "description": "column[.asc|.desc][.nullsfirst|.nullslast],...",
    }


def _list_parameters(table: TableInfo, limits: Limits) -> list[dict[str, Any]]:
    operators = "|".join(sorted(OPERATORS))
    filters = [
        {
            "name": column,
            "in": "query",
            "schema": {"type": "string", "pattern": rf"^(not\.)?({operators})\."},
            "description": f"filter: [not.]operator.value, operator one of {operators.replace('|', ', ')}",
        }
        for column in table.order
    ]
    limit = {"type": "integer", "minimum": 0, "maximum": limits.max_limit, "default": limits.default_limit}
    return [
        _select(table),
        _order(table),
        {"name": "limit", "in": "query", "schema": limit},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}},
        {"name": "count", "in": "query", "schema": {"type": "string", "enum": ["exact"]}},
        *(
            {
                "name": joiner,
                "in": "query",
                "schema": {"type": "string", "pattern": r"^\(.+\)$"},
                "description": f"(column.operator.value,...) joined by {joiner.upper()}",
            }
            for joiner in ("or", "and")
        ),
        *filters,
    ]
