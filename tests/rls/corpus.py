"""A seeded generator of SQL over the test world, for the differential test.

Reads cover joins of every kind (inner, left, right, full, cross, comma, lateral, self joins),
nested subqueries (IN, EXISTS, scalar, derived tables), CTEs (including one that shadows a
table, and a recursive one), set operations, aggregates with GROUP BY and HAVING, window
functions, ORDER BY with LIMIT, and conditions that fail (division by zero, bad casts) on some
rows.  Writes cover INSERT (VALUES, SELECT, RETURNING, ON CONFLICT DO NOTHING / DO UPDATE, and
computed values of a filtered column, which the database checks as the rows are inserted),
UPDATE (with FROM and RETURNING, moving rows to another tenant, breaking a filter, and computed
values of a filtered column, which the database checks on the rows updated), writes that name
an owner in every form (``forge_owner``), and DELETE (with USING and RETURNING).  Results are
deterministic: every LIMIT orders by a unique key and every aggregate of text is ordered.

The generator stays inside what the rewriter supports: it never names hidden columns (native
policies cannot hide columns), never gives the tenant column a non-literal value, and
qualifies every column of an UPDATE ... FROM or DELETE ... USING.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tests.rls import world

COLUMNS: dict[str, tuple[str, ...]] = {
    "projects": ("id", "org_id", "created_by", "name", "archived", "budget"),
    "tasks": ("id", "org_id", "created_by", "project_id", "title", "priority", "done"),
    "posts": ("id", "org_id", "created_by", "title", "status", "score"),
    "notes": ("id", "org_id", "created_by", "body", "pinned"),
}
TEXT = {"projects": "name", "tasks": "title", "posts": "title", "notes": "body"}
NUMBER = {"projects": "budget", "tasks": "priority", "posts": "score", "notes": "id"}
FLAG = {"projects": "archived", "tasks": "done", "posts": "score > 5", "notes": "pinned"}
WORDS = ("alpha", "beta", "gamma", "needle", "x", "zeta")
ORGS = (world.ORG_A, world.ORG_B, world.ORG_C)


class Generator:
    """Random statements; ``next_id`` keeps inserted ids unique within a run."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.next_id = 1000

    def statement(self) -> str:
        """One statement: mostly reads, a quarter writes."""
        makers: list[Callable[[], str]] = [*READS, *READS, *READS, *WRITES]
        return self.rng.choice(makers)(self)

    # building blocks -------------------------------------------------------------------------

    def table(self) -> str:
        return self.rng.choice(tuple(COLUMNS))

    def alias(self) -> str:
        return self.rng.choice(("a", "b", "t", "x1"))

    def columns(self, table: str, alias: str | None = None, count: int = 3) -> list[str]:
        chosen = ["id", *self.rng.sample(COLUMNS[table][1:], k=min(count, len(COLUMNS[table]) - 1))]
        return [f"{alias}.{c}" if alias else c for c in chosen]

    def condition(self, table: str, alias: str | None = None, single: bool = True) -> str:
        """A condition on ``table``; some fail on rows of a tenant (ORG_B, seen by user_b, or
        ORG_C, seen by nobody).  In a join (``single=False``) only ORG_C rows of tenant tables
        fail, so no outcome depends on the order the database evaluates the join in."""
        p = f"{alias}." if alias else ""
        org = self.rng.choice(ORGS[1:]) if single else world.ORG_C
        options = [
            f"{p}id > {self.rng.randint(0, 30)}",
            f"{p}id IN ({', '.join(str(self.rng.randint(1, 40)) for _ in range(3))})",
            f"{p}{TEXT[table]} LIKE '%{self.rng.choice(WORDS)}%'",
            f"{p}{TEXT[table]} = '{self.rng.choice(WORDS)} {self.rng.randint(1, 40)}'",
            f"{p}org_id = '{self.rng.choice(ORGS)}'",
            f"{p}created_by IS NULL",
            f"{p}created_by = '{self.rng.choice(world.USERS)}'",
            f"{p}id BETWEEN {self.rng.randint(0, 10)} AND {self.rng.randint(10, 40)}",
            f"NOT ({p}id < {self.rng.randint(0, 20)})",
            f"lower({p}{TEXT[table]}) <> 'x'",
            f"{p}{FLAG[table]}",
            f"({p}id % {self.rng.randint(2, 5)} = 0 OR {p}id < 5)",
        ]
        if single or table != "posts":
            options += [
                f"1 / (CASE WHEN {p}org_id = '{org}' THEN 0 ELSE 1 END) = 1",
                f"CASE WHEN {p}org_id = '{org}' THEN CAST({p}{TEXT[table]} AS int) ELSE 1 END > 0",
            ]
        return self.rng.choice(options)

    def where(self, table: str, alias: str | None = None, single: bool = True) -> str:
        parts = [self.condition(table, alias, single) for _ in range(self.rng.randint(0, 2))]
        return f" WHERE {' AND '.join(parts)}" if parts else ""

    def uid(self) -> int:
        self.next_id += 1
        return self.next_id

    def literal(self, table: str, column: str) -> str:
        if column == "org_id":
            return f"'{self.rng.choice(ORGS)}'"
        if column == "created_by":
            return f"'{self.rng.choice(world.USERS)}'"
        if column in ("archived", "done", "pinned"):
            return self.rng.choice(("true", "false"))
        if column in ("budget", "priority", "score", "project_id"):
            return str(self.rng.randint(0, 9))
        if column == "status":
            return self.rng.choice(("'draft'", "'published'"))
        return f"'{self.rng.choice(WORDS)} new'"


# reads -------------------------------------------------------------------------------------------


def simple(g: Generator) -> str:
    table = g.table()
    return f"SELECT {', '.join(g.columns(table))} FROM {table}{g.where(table)}"


def ordered_limit(g: Generator) -> str:
    table = g.table()
    limit = g.rng.randint(1, 6)
    offset = g.rng.choice(("", "", " OFFSET 1", " OFFSET 4"))
    order = g.rng.choice(("id DESC", "id", f"{TEXT[table]} DESC, id", "created_by NULLS FIRST, id"))
    return (
        f"SELECT {', '.join(g.columns(table))} FROM {table}{g.where(table)} ORDER BY {order} "
        f"LIMIT {limit}{offset}"
    )


def join(g: Generator) -> str:
    kind = g.rng.choice(("JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "INNER JOIN"))
    left, right = g.rng.choice(
        (("tasks", "projects"), ("projects", "tasks"), ("notes", "projects"), ("posts", "tasks"))
    )
    on = {
        ("tasks", "projects"): "a.project_id = b.id",
        ("projects", "tasks"): "b.project_id = a.id",
        ("notes", "projects"): "a.created_by = b.created_by",
        ("posts", "tasks"): "a.created_by = b.created_by",
    }[(left, right)]
    cols = [*g.columns(left, "a", 2), *g.columns(right, "b", 2)]
    return (
        f"SELECT {', '.join(cols)} FROM {left} a {kind} {right} b ON {on}{g.where(left, 'a', single=False)}"
    )


def cross(g: Generator) -> str:
    left, right = g.table(), g.table()
    comma = g.rng.random() < 0.5
    joined = f"{left} a, {right} b" if comma else f"{left} a CROSS JOIN {right} b"
    return f"SELECT a.id, b.id FROM {joined} WHERE a.id < 6 AND b.id < 6"


def lateral(g: Generator) -> str:
    return (
        "SELECT p.id, p.name, s.n FROM projects p, LATERAL (SELECT count(*) AS n FROM tasks t "
        f"WHERE t.project_id = p.id{g.where('tasks', 't').replace(' WHERE ', ' AND ')}) s"
    )


def self_join(g: Generator) -> str:
    table = g.table()
    return f"SELECT a.id, b.id FROM {table} a JOIN {table} b ON a.created_by = b.created_by AND a.id < b.id"


def in_subquery(g: Generator) -> str:
    return (
        f"SELECT id, title FROM tasks WHERE project_id IN (SELECT id FROM projects{g.where('projects')})"
        f"{g.where('tasks', single=False).replace(' WHERE ', ' AND ')}"
    )


def exists(g: Generator) -> str:
    negate = g.rng.choice(("", "NOT "))
    return (
        f"SELECT p.id, p.name FROM projects p WHERE {negate}EXISTS (SELECT 1 FROM tasks t "
        f"WHERE t.project_id = p.id{g.where('tasks', 't').replace(' WHERE ', ' AND ')})"
    )


def scalar(g: Generator) -> str:
    return (
        "SELECT p.id, (SELECT count(*) FROM tasks t WHERE t.project_id = p.id) AS n, "
        f"(SELECT max(id) FROM notes) AS m FROM projects p{g.where('projects', 'p')}"
    )


def derived(g: Generator) -> str:
    table = g.table()
    bound = g.rng.randint(0, 9)
    return f"SELECT d.id FROM (SELECT id, org_id FROM {table}{g.where(table)}) d WHERE d.id > {bound}"


def cte(g: Generator) -> str:
    table = g.table()
    return (
        f"WITH c AS (SELECT id, created_by FROM {table}{g.where(table)}) "
        "SELECT c.id, n.id FROM c LEFT JOIN notes n ON n.created_by = c.created_by"
    )


def shadowing_cte(g: Generator) -> str:
    return (
        f"WITH tasks AS (SELECT id, name AS title FROM projects{g.where('projects')}) "
        "SELECT id, title FROM tasks"
    )


def nested_cte(g: Generator) -> str:
    return (
        "WITH a AS (SELECT id, project_id FROM tasks), b AS (SELECT a.id FROM a JOIN projects p ON p.id = "
        f"a.project_id{g.where('projects', 'p', single=False)}) SELECT count(*) FROM b"
    )


def recursive(g: Generator) -> str:
    return (
        f"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < {g.rng.randint(2, 6)}) "
        "SELECT r.n, (SELECT count(*) FROM tasks WHERE tasks.priority = r.n) FROM r"
    )


def set_operation(g: Generator) -> str:
    op = g.rng.choice(("UNION", "UNION ALL", "INTERSECT", "EXCEPT"))
    left, right = g.table(), g.table()
    first = f"SELECT id, created_by FROM {left}{g.where(left)}"
    return f"{first} {op} SELECT id, created_by FROM {right}{g.where(right)}"


def aggregate(g: Generator) -> str:
    table = g.table()
    agg = g.rng.choice(
        (
            "count(*)",
            f"sum({NUMBER[table]})",
            "min(id)",
            "max(id)",
            f"string_agg({TEXT[table]}, ',' ORDER BY id)",
        )
    )
    having = g.rng.choice(("", " HAVING count(*) > 1"))
    return f"SELECT org_id, {agg} FROM {table}{g.where(table)} GROUP BY org_id{having}"


def window(g: Generator) -> str:
    table = g.table()
    fn = g.rng.choice(("row_number()", "rank()", f"sum({NUMBER[table]})", "count(*)"))
    return f"SELECT id, {fn} OVER (PARTITION BY created_by ORDER BY id) FROM {table}{g.where(table)}"


def distinct(g: Generator) -> str:
    table = g.table()
    return f"SELECT DISTINCT created_by FROM {table}{g.where(table)}"


def whole_table(g: Generator) -> str:
    table = g.rng.choice(("projects", "posts", "notes"))
    return g.rng.choice(
        (f"SELECT * FROM {table}", f"TABLE {table}", f"SELECT t.* FROM {table} t{g.where(table, 't')}")
    )


READS: tuple[Callable[[Generator], str], ...] = (
    simple,
    ordered_limit,
    join,
    join,
    cross,
    lateral,
    self_join,
    in_subquery,
    exists,
    scalar,
    derived,
    cte,
    shadowing_cte,
    nested_cte,
    recursive,
    set_operation,
    aggregate,
    window,
    distinct,
    whole_table,
)


# writes ------------------------------------------------------------------------------------------


def insert_values(g: Generator) -> str:
    table = g.table()
    optional = [c for c in COLUMNS[table][1:] if g.rng.random() < 0.35]
    if table == "tasks" and "title" not in optional:
        optional.append("title")
    if table in ("projects", "tasks") and TEXT[table] not in optional:
        optional.append(TEXT[table])
    if table in ("posts", "notes") and TEXT[table] not in optional:
        optional.append(TEXT[table])
    rows = [[str(g.uid()), *(g.literal(table, c) for c in optional)] for _ in range(g.rng.randint(1, 2))]
    values = ", ".join(f"({', '.join(r)})" for r in rows)
    returning = g.rng.choice(("", " RETURNING id", f" RETURNING {', '.join(COLUMNS[table])}"))
    return f"INSERT INTO {table} (id, {', '.join(optional)}) VALUES {values}{returning}"


def insert_computed(g: Generator) -> str:
    """An INSERT into tasks whose priority (which the user group's filter reads) is computed, so
    rowgate cannot check the new rows itself and has the database check them as it inserts."""
    rows = [
        f"({g.uid()}, '{g.rng.choice(WORDS)} new', abs({-g.rng.randint(0, 9)}))"
        for _ in range(g.rng.randint(1, 2))
    ]
    returning = g.rng.choice(("", " RETURNING id", " RETURNING id, priority AS p", " RETURNING title, id"))
    return f"INSERT INTO tasks (id, title, priority) VALUES {', '.join(rows)}{returning}"


def insert_select_computed(g: Generator) -> str:
    """INSERT ... SELECT with a computed priority: some copied rows may fail the filter."""
    offset = g.uid() * 100
    g.next_id += 100
    return (
        f"INSERT INTO tasks (id, title, priority) SELECT id + {offset}, title, abs(priority - "
        f"{g.rng.randint(0, 6)}) FROM tasks{g.where('tasks')}"
    )


def insert_select(g: Generator) -> str:
    table = g.rng.choice(("tasks", "notes"))
    text = TEXT[table]
    offset = g.uid() * 100
    g.next_id += 100
    return f"INSERT INTO {table} (id, {text}) SELECT id + {offset}, {text} FROM {table}{g.where(table)}"


def upsert(g: Generator) -> str:
    table = g.table()
    text = TEXT[table]
    target = g.rng.randint(1, 16)
    action = g.rng.choice((f"DO UPDATE SET {text} = excluded.{text}", "DO NOTHING"))
    return f"INSERT INTO {table} (id, {text}) VALUES ({target}, 'upserted') ON CONFLICT (id) {action}"


def update(g: Generator) -> str:
    table = g.table()
    column = g.rng.choice(COLUMNS[table][1:])
    returning = g.rng.choice(("", " RETURNING id", ""))
    return f"UPDATE {table} SET {column} = {g.literal(table, column)}{g.where(table)}{returning}"


def update_computed(g: Generator) -> str:
    """An UPDATE of tasks that computes priority (which the user group's filter reads) from the
    row: rowgate cannot judge the new rows itself and has the database check them."""
    step = g.rng.randint(0, 4)
    value = g.rng.choice((f"priority + {step}", "id % 7", f"priority * {step}", "(priority + id) % 6"))
    also = g.rng.choice(("", ", title = title || ' moved'"))
    returning = g.rng.choice(("", " RETURNING id, priority", ""))
    return f"UPDATE tasks SET priority = {value}{also}{g.where('tasks')}{returning}"


def computed_update(sql: str) -> bool:
    """Whether ``sql`` came from ``update_computed``."""
    return sql.startswith("UPDATE tasks SET priority = ") and not sql.split()[5].isdigit()


def update_from(g: Generator) -> str:
    return (
        "UPDATE tasks t SET done = NOT t.done FROM projects p WHERE t.project_id = p.id AND "
        f"p.{g.rng.choice(('archived', 'budget > 300', 'id < 4'))}"
    )


def forge_owner(g: Generator) -> str:
    """A write that names an owner: another user, the caller, NULL, DEFAULT, a copied or computed
    value, in every statement form (the owner rule of ``rls.owners`` and its native trigger)."""
    table = g.rng.choice(("tasks", "notes", "posts", "projects"))
    text = TEXT[table]
    # Conditions that cannot fail, so the outcome is the owner rule's alone.
    where = g.rng.choice(("", f" WHERE id % {g.rng.randint(2, 4)} = 0", f" WHERE id > {g.rng.randint(0, 9)}"))
    owner = g.rng.choice((*(f"'{u}'" for u in world.USERS), "NULL", "DEFAULT"))
    computed = g.rng.choice(
        (
            f"(SELECT min(created_by::text) FROM {table})::uuid",
            f"CASE WHEN {g.rng.randint(0, 1)} = 1 THEN '{g.rng.choice(world.USERS)}'::uuid END",
        )
    )
    forms = (
        lambda: (
            f"INSERT INTO {table} (id, {text}, created_by) VALUES "
            + ", ".join(f"({g.uid()}, 'forged', {g.rng.choice((owner, 'DEFAULT'))})" for _ in range(2))
        ),
        lambda: f"INSERT INTO {table} (id, {text}, created_by) VALUES ({g.uid()}, 'forged', {computed})",
        lambda: (
            f"INSERT INTO {table} (id, {text}, created_by) SELECT id + {g.uid() * 100}, {text}, created_by "
            f"FROM {table}{where}"
        ),
        lambda: (
            f"INSERT INTO {table} (id, {text}) VALUES ({g.rng.randint(1, 16)}, 'upserted') ON CONFLICT (id) "
            f"DO UPDATE SET created_by = {g.rng.choice((owner, 'excluded.created_by'))}"
        ),
        lambda: f"UPDATE {table} SET created_by = {owner}{where}",
        lambda: f"UPDATE {table} SET {text} = 'kept', created_by = created_by{where}",
        lambda: (
            "UPDATE tasks t SET created_by = p.created_by FROM projects p WHERE t.project_id = p.id AND "
            f"p.id < {g.rng.randint(2, 9)}"
        ),
    )
    return g.rng.choice(forms)()


def delete(g: Generator) -> str:
    table = g.table()
    returning = g.rng.choice(("", " RETURNING id"))
    return f"DELETE FROM {table}{g.where(table)}{returning}"


def delete_using(g: Generator) -> str:
    project = g.rng.randint(1, 8)
    return f"DELETE FROM notes n USING projects p WHERE n.created_by = p.created_by AND p.id = {project}"


WRITES: tuple[Callable[[Generator], str], ...] = (
    insert_values,
    insert_values,
    insert_computed,
    insert_select_computed,
    insert_select,
    upsert,
    update,
    update,
    update_computed,
    update_from,
    forge_owner,
    forge_owner,
    delete,
    delete_using,
)


def corpus(seed: int, count: int) -> list[str]:
    """``count`` statements from the generator seeded with ``seed``."""
    generator = Generator(seed)
    return [generator.statement() for _ in range(count)]
