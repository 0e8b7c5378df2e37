"""Rows written as JSON by PostgreSQL (``proxy.data.jsonrows``) are byte for byte the JSON rowgate
writes from the records asyncpg decodes, for every type it writes and for the values at the edges
of each; a type or a value it cannot write exactly falls back to the records, never to other
bytes; and the answer bound holds for them as for records."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from rowgate.errors import ResponseTooLarge
from rowgate.proxy.data.execute import execute, read_json
from rowgate.proxy.data.jsonrows import encode, json_rows
from rowgate.proxy.data.rest import rows_of
from rowgate.proxy.data.runner import _init_connection
from rowgate.rls.template import Rewritten

pytestmark = pytest.mark.integration

TABLE = """
CREATE TABLE v (
    n int PRIMARY KEY, i2 int2, i4 int4, i8 int8, b bool, t text, vc varchar(20), c char(4), nm name,
    u uuid, ts timestamp, tz timestamptz, d date, num numeric, num2 numeric(8, 2),
    ai int[], at text[], au uuid[], ab bool[], "odd ""name"" \\ é" text
)
"""

ROWS = """
INSERT INTO v VALUES
 (1, -32768, -2147483648, -9223372036854775808, true, '', '', 'a', 'nm',
  '00000000-0000-0000-0000-000000000000', '0001-01-01 00:00:00', '0001-01-01 00:00:00+00', '0001-01-01',
  0, 0, '{}', '{}', '{}', '{}', 'x'),
 (2, 32767, 2147483647, 9223372036854775807, false, E'q"b\\\\s/\\b\\f\\n\\r\\t\\x01\\x1f\\x7f é € 😀 \\u2028',
  'vc', 'abcd', 'n', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '9999-12-31 23:59:59.999999',
  '9999-12-31 23:59:59.999999+00', '9999-12-31', 1234567890123456789012345678901234567890.5, -0.01,
  '{1,NULL,-3}', '{"a","b,c","\\"q\\"",NULL,""}', '{00000000-0000-0000-0000-000000000001,NULL}',
  '{true,false,NULL}', 'y'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL),
 (4, 0, 0, 0, true, 'ü', 'x', NULL, 'x', '12345678-1234-5678-1234-567812345678', '2024-02-29 12:00:00.5',
  '2024-02-29 23:30:00.000001-05:30', '2024-02-29', 0.000001, 100, '{{1,2},{3,4}}', '{{a,b},{c,d}}',
  NULL, NULL, NULL),
 (5, 1, 1, 1, false, 'z', NULL, 'z', 'z', NULL, '2024-01-01 00:00:00.1', '1970-01-01 00:00:00+00',
  '1970-01-01', 'NaN', 123456.78, NULL, '{é}', NULL, NULL, NULL),
 (6, 2, 2, 2, true, 'w', 'w', 'w', 'w', NULL, '2000-01-01 01:02:03.120000', '2000-01-01 01:02:03.45+14',
  '2000-01-01', 1.000000, 0.10, NULL, NULL, NULL, NULL, NULL)
"""

#: Values that cannot be written exactly: each alone in a row of its own table.
INEXACT = [
    ("timestamptz", "'infinity'"),
    ("timestamptz", "'-infinity'"),
    ("timestamp", "'infinity'"),
    ("date", "'infinity'"),
    ("numeric", "0.0000001"),
    ("numeric", "0.00000000"),
]

MAX_BYTES = 1 << 20


@pytest.fixture
async def conn(fresh_database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(fresh_database, server_settings={"standard_conforming_strings": "on"})
    await _init_connection(connection)
    await connection.execute(TABLE)
    await connection.execute(ROWS)
    try:
        yield connection
    finally:
        await connection.close()


def select(sql: str) -> Rewritten:
    return Rewritten(sql=sql, params=(), kind="select", tables=())


async def both(conn: asyncpg.Connection, sql: str, max_bytes: int = MAX_BYTES) -> tuple[bytes, str | None]:
    """The JSON rowgate writes from records, and the one the database writes (``None``: none)."""
    records = (await execute(conn, select(sql), max_bytes=max_bytes)).rows
    written = await read_json(conn, select(sql), (), max_bytes)
    return encode({"data": rows_of(records)}), written


async def test_every_value_is_written_as_rowgate_writes_it(conn: asyncpg.Connection) -> None:
    for sql in (
        "SELECT * FROM v ORDER BY n",
        "SELECT * FROM v ORDER BY n DESC LIMIT 4",
        "SELECT n, tz, t FROM v WHERE n > 100",  # no rows: []
        'SELECT t AS "a key", n AS "ключ" FROM v ORDER BY n',
    ):
        records, written = await both(conn, sql)
        assert written is not None, sql
        assert b'{"data":' + written.encode() + b"}" == records, sql


async def test_the_time_zone_and_date_style_of_the_session_change_nothing(conn: asyncpg.Connection) -> None:
    await conn.execute("SET TimeZone = 'Asia/Kathmandu'; SET DateStyle = 'SQL, DMY'")
    records, written = await both(conn, "SELECT n, ts, tz, d FROM v ORDER BY n")
    assert written is not None
    assert b'{"data":' + written.encode() + b"}" == records


async def test_a_value_it_cannot_write_exactly_leaves_the_rows_to_records(conn: asyncpg.Connection) -> None:
    for kind, value in INEXACT:
        sql = f"SELECT n, CAST({value} AS {kind}) AS x FROM v WHERE n IN (1, 2) ORDER BY n"
        assert await read_json(conn, select(sql), (), MAX_BYTES) is None, (kind, value)
        assert not conn.is_in_transaction()


async def test_a_type_it_cannot_write_exactly_leaves_the_rows_to_records(conn: asyncpg.Connection) -> None:
    for expression in ("1.5::float8", "'{}'::jsonb", "'[1]'::json", "'\\x00'::bytea", "interval '1 day'"):
        assert await read_json(conn, select(f"SELECT n, {expression} AS x FROM v"), (), MAX_BYTES) is None
    # duplicate names: rowgate's records keep one of them
    assert await read_json(conn, select("SELECT n, n FROM v"), (), MAX_BYTES) is None


async def test_in_a_transaction_the_rows_are_records(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        assert await read_json(conn, select("SELECT n FROM v"), (), MAX_BYTES) is None


async def test_the_answer_bound_holds(conn: asyncpg.Connection) -> None:
    sql = "SELECT n, repeat('x', 1000) AS filler FROM generate_series(1, 100) AS n"
    with pytest.raises(ResponseTooLarge):
        await read_json(conn, select(sql), (), 64 * 1024)
    assert await read_json(conn, select(sql.replace("100)", "40)")), (), 64 * 1024) is not None


def test_only_types_it_writes_exactly_are_written() -> None:
    assert json_rows("SELECT 1", [("a", "int4", "pg_catalog")]) is not None
    assert json_rows("SELECT 1", [("a", "int4", "public")]) is None  # a type of the app's own
    assert json_rows("SELECT 1", [("a", "float8", "pg_catalog")]) is None
    assert json_rows("SELECT 1", []) is None
