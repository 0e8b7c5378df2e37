"""An OpenAPI 3.1 document for the REST data API, generated from the policy and the tables.

Every table the policy grants some operation on gets its paths (``/{table}`` and, with a
single-column primary key, ``/{table}/{id}``) for the operations some group may run, with the
groups named in the description; its columns become JSON Schemas from their types (nullable
columns accept ``null``, enum columns list their labels, columns hidden from some group say so).
Pure: it reads only the ``PolicySet`` and ``TableInfo`` values it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rowgate.proxy.data.catalog import ColumnInfo, TableInfo
from rowgate.proxy.data.restquery import OPERATORS
from rowgate.proxy.data.values import ColumnType
from rowgate.rls.policy import PolicySet, TablePolicy

_FORMATS: Mapping[str, dict[str, Any]] = {
    "int2": {"type": "integer", "format": "int32", "minimum": -32768, "maximum": 32767},
    "int4": {"type": "integer", "format": "int32"},
    "int8": {"type": "integer", "format": "int64"},
    "numeric": {"type": "string", "format": "decimal", "description": "exact decimal, as a string"},
    "float": {"type": "number"},
    "text": {"type": "string"},
    "bool": {"type": "boolean"},
    "uuid": {"type": "string", "format": "uuid"},
    "timestamptz": {"type": "string", "format": "date-time"},
    "timestamp": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "time": {"type": "string", "format": "time"},
    "timetz": {"type": "string", "format": "time"},
    "interval": {"type": "number", "description": "seconds"},
    "json": {},
    "bytea": {"type": "string", "contentEncoding": "base64"},
    "inet": {"type": "string"},
    "cidr": {"type": "string"},
}
_PROBLEM = {"$ref": "#/components/responses/Problem"}


def openapi_document(
    policies: PolicySet, tables: Mapping[str, TableInfo], *, base_url: str, max_limit: int, default_limit: int
) -> dict[str, Any]:
    """The whole document; ``tables`` maps REST names (as in the paths) to tables."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name, table in sorted(tables.items()):
        rules = policies.tables.get(table.qualified)
        if rules is None or not any(rules.groups(op) for op in ("select", "insert", "update", "delete")):
            continue
        schemas[name] = _row_schema(table, rules)
        schemas[f"{name}.insert"] = _write_schema(table, required=True)
        schemas[f"{name}.update"] = _write_schema(table, required=False)
        paths.update(_paths(name, table, rules, max_limit, default_limit))
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
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "responses": {
                "Problem": {
                    "description": "An RFC 9457 problem (stable `code`)",
                    "content": {"application/problem+json": {"schema": {"type": "object"}}},
                }
            },
        },
    }


def json_schema(kind: ColumnType, column: ColumnInfo | None = None) -> dict[str, Any]:
    """The JSON Schema of a value of ``kind`` (``column`` adds nullability and enum labels)."""
    schema = dict(_FORMATS.get(kind.family, {"type": "string"}))
    if column is not None and column.labels:
        schema = {"type": "string", "enum": list(column.labels)}
    if kind.max_length is not None:
        schema["maxLength"] = kind.max_length
    if kind.array:
        schema = {"type": "array", "items": schema}
    if column is not None and not column.not_null and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


def _row_schema(table: TableInfo, rules: TablePolicy) -> dict[str, Any]:
    properties = {}
    for name in table.order:
        schema = json_schema(table.columns[name].type, table.columns[name])
        hidden_from = sorted(g for g, cols in rules.hidden.items() if name in cols)
        if hidden_from:
            schema["description"] = f"hidden from: {', '.join(hidden_from)}"
        properties[name] = schema
    return {"type": "object", "properties": properties}


def _write_schema(table: TableInfo, *, required: bool) -> dict[str, Any]:
    columns = [table.columns[n] for n in table.order if not table.columns[n].generated]
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {c.name: json_schema(c.type, c) for c in columns},
    }
    needed = [c.name for c in columns if c.required]
    if required and needed:
        schema["required"] = needed
    return schema


def _paths(
    name: str, table: TableInfo, rules: TablePolicy, max_limit: int, default_limit: int
) -> dict[str, Any]:
    row = {"$ref": f"#/components/schemas/{name}"}
    collection: dict[str, Any] = {}
    item: dict[str, Any] = {}
    if rules.groups("select"):
        collection["get"] = _operation(
            f"List rows of {name}",
            rules,
            "select",
            _list_parameters(table, max_limit, default_limit),
            {
                "type": "object",
                "properties": {"data": {"type": "array", "items": row}, "count": {"type": "integer"}},
            },
        )
    if rules.groups("insert") and table.writable:
        insert = {"$ref": f"#/components/schemas/{name}.insert"}
        operation = _operation(
            f"Insert rows into {name}",
            rules,
            "insert",
            [],
            {"type": "object", "properties": {"data": {"oneOf": [row, {"type": "array", "items": row}]}}},
            "201",
        )
        operation["requestBody"] = _body({"oneOf": [insert, {"type": "array", "items": insert}]})
        collection["post"] = operation
    key = table.key
    if key is not None:
        one = {"type": "object", "properties": {"data": row}}
        id_parameter = {"name": "id", "in": "path", "required": True, "schema": json_schema(key.type)}
        if rules.groups("select"):
            item["get"] = _operation(f"One row of {name}", rules, "select", [id_parameter, _select()], one)
        if rules.groups("update") and table.writable:
            item["patch"] = _operation(f"Change a row of {name}", rules, "update", [id_parameter], one)
            item["patch"]["requestBody"] = _body({"$ref": f"#/components/schemas/{name}.update"})
        if rules.groups("delete") and table.writable:
            item["delete"] = _operation(f"Delete a row of {name}", rules, "delete", [id_parameter], one)
    paths = {f"/{name}": collection} if collection else {}
    if item:
        paths[f"/{name}/{{id}}"] = item
    return paths


def _operation(
    summary: str, rules: TablePolicy, operation: str, parameters: list[Any], result: Any, status: str = "200"
) -> dict[str, Any]:
    groups = ", ".join(sorted(rules.groups(operation)))
    return {
        "summary": summary,
        "description": f"Policy: {operation} is granted to {groups}.",
        "parameters": parameters,
        "responses": {
            status: {"description": "OK", "content": {"application/json": {"schema": result}}},
            "400": _PROBLEM,
            "401": _PROBLEM,
            "403": _PROBLEM,
            "404": _PROBLEM,
        },
    }


def _body(schema: Any) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _select() -> dict[str, Any]:
    return {
        "name": "select",
        "in": "query",
        "schema": {"type": "string"},
        "description": "columns, such as id,title",
    }


def _list_parameters(table: TableInfo, max_limit: int, default_limit: int) -> list[dict[str, Any]]:
    operators = ", ".join(sorted(OPERATORS))
    filters = [
        {
            "name": column,
            "in": "query",
            "schema": {"type": "string"},
            "description": f"filter: [not.]operator.value with an operator from {operators}",
        }
        for column in table.order
    ]
    return [
        _select(),
        {
            "name": "order",
            "in": "query",
            "schema": {"type": "string"},
            "description": "column[.asc|.desc][.nullsfirst|.nullslast],...",
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": max_limit, "default": default_limit},
        },
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
        {"name": "count", "in": "query", "schema": {"type": "string", "enum": ["exact"]}},
        {
            "name": "or",
            "in": "query",
            "schema": {"type": "string"},
            "description": "(filter,filter,...) joined by OR",
        },
        *filters,
    ]
