"""Each rewrite rule alone, by example (as sqlglot's ``tests/fixtures/optimizer/<rule>.sql``).

``fixtures/rules/<rule>.sql`` holds one block per example, separated by blank lines::

    # title: what the example shows
    # as: user_b                   (optional: a subject of tests.rls.world; user_a by default)
    # params: 1                    (optional: how many parameters the caller binds)
    # dialect: sqlite              (optional: postgres by default)
    SELECT ...                     (the input, one line)
    SELECT ...                     (the tree after the rule, or "refused <code>: <detail>")
    # found: ...                   (what the rule found, for a rule that writes a finding)

The rule runs alone: the findings it declares it reads come from running only the rules that
write them (and the rules those read from, in pipeline order), and it is given those findings
and nothing else, so a rule that reads what it does not declare fails here.  Subject values
print as ``$n`` (PostgreSQL) or ``'rowgate_value_<n>'`` (other dialects).  Regenerate the
expected lines after a deliberate change with ``python -m tests.rls.test_rules_fixtures <rule>``
and review the diff.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlglot import exp

from rowgate.rls.context import Inputs, Rule, TableRule
from rowgate.rls.errors import QueryRefused, WriteRefused
from rowgate.rls.findings import (
    Census,
    CteReferences,
    Filters,
    Findings,
    InsertGuard,
    NewRowChecks,
    Resolution,
    Returning,
    Statement,
    TableOperations,
    TargetGuard,
    UpsertGuard,
)
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.rules import RULES
from tests.rls import world

FIXTURES = Path(__file__).with_name("fixtures") / "rules"
_KINDS = (
    Census,
    CteReferences,
    Filters,
    InsertGuard,
    NewRowChecks,
    Resolution,
    Returning,
    Statement,
    TableOperations,
    TargetGuard,
    UpsertGuard,
)
BY_NAME = {rule.name: rule for rule in RULES}


@dataclass(frozen=True)
class Example:
    rule: str
    title: str
    subject: str
    params: int
    dialect: str
    sql: str
    expected: str
    found: str


def parse_file(rule: str) -> list[Example]:
    """The examples of one rule's fixture file (expected lines empty when not written yet)."""
    examples = []
    for block in (FIXTURES / f"{rule}.sql").read_text().strip().split("\n\n"):
        meta: dict[str, str] = {}
        lines = []
        for line in block.strip().splitlines():
            if line.startswith("# "):
                key, _, value = line[2:].partition(":")
                meta[key.strip()] = value.strip()
            else:
                lines.append(line)
        examples.append(
            Example(
                rule,
                meta["title"],
                meta.get("as", "user_a"),
                int(meta.get("params", "0")),
                meta.get("dialect", "postgres"),
                lines[0],
                lines[1] if len(lines) > 1 else "",
                meta.get("found", ""),
            )
        )
    return examples


def writers_of(rule: Rule) -> list[Rule]:
    """The rules that must run before ``rule`` alone: the writers of what it reads, and of what
    they read, in pipeline order."""
    needed = set(rule.reads)
    chosen = []
    for earlier in reversed(RULES[: RULES.index(rule)]):
        if earlier.writes in needed:
            chosen.append(earlier)
            needed |= set(earlier.reads)
    return chosen[::-1]


_REWRITERS: dict[str, Rewriter] = {}


def _rewriter(dialect: str) -> Rewriter:
    if dialect not in _REWRITERS:
        _REWRITERS[dialect] = Rewriter(world.world_policies(), dialect, schema=world.world_schema())
    return _REWRITERS[dialect]


def run_alone(example: Example) -> tuple[str, str]:
    """The output line and the ``found`` line for an example."""
    rule = BY_NAME[example.rule]
    rewriter = _rewriter(example.dialect)
    signature = rewriter.policies.signature(world.SUBJECTS[example.subject])
    try:
        expression, inputs = rewriter.prepare(example.sql, signature, example.params)
        found = Findings()
        for earlier in writers_of(rule):
            expression = earlier.run(expression, inputs, found)
        found = found.only(rule.reads)
        expression = rule.run(expression, inputs, found)
    except (QueryRefused, WriteRefused) as error:
        return f"refused {error.code}: {error.detail}", ""
    added = {kind for kind in _KINDS if kind not in rule.reads and found.get(kind) is not None}
    declared = {rule.writes} if rule.writes is not None else set()
    assert added == declared, f"{rule.name} adds {added} but declares it writes {declared}"
    text = expression.sql(dialect=inputs.dialect, identify=True, comments=False)
    text = text.replace(inputs.bind.nonce, "rowgate_value_")
    return text, describe(found, rule, expression, inputs) if rule.writes is not None else ""


def describe(found: Findings, rule: Rule, tree: exp.Expr, inputs: Inputs) -> str:
    """The finding ``rule`` wrote, in one line."""
    assert rule.writes is not None
    finding = found.get(rule.writes)

    def sql(node: exp.Expr) -> str:
        return node.sql(dialect=inputs.dialect, identify=True).replace(inputs.bind.nonce, "rowgate_value_")

    match finding:
        case Census():
            kinds = ("tables", "columns", "functions", "parameters", "ctes", "suspicious")
            parts = [f"identifiers {len(finding.identifiers)}"]
            parts += [
                f"{k} {', '.join(sql(n) for n in getattr(finding, k))}" for k in kinds if getattr(finding, k)
            ]
            return "; ".join(parts)
        case Statement():
            return finding.kind
        case CteReferences():
            return f"{len(finding.ids)} reference(s) to a CTE"
        case Resolution():
            tables = [t for t in tree.find_all(exp.Table) if id(t) in finding.policies]
            parts = [f"{sql(t)} -> {finding.policies[id(t)].qualified}" for t in tables]
            parts += [f"target {sql(finding.target)}"] if finding.target is not None else []
            return "; ".join(parts) or "no table"
        case TableOperations():
            return ", ".join(f"{resource}:{action}" for resource, action in finding.pairs) or "nothing"
        case InsertGuard():
            parts = [_rule(r) for r in finding.rules]
            parts += [f"checked when bound: {check.message}" for check in finding.checks]
            parts += [f"checked on each new row: {sql(check)}" for check in finding.row_checks]
            return "; ".join(parts) or "not an insert"
        case TargetGuard() | UpsertGuard():
            return "; ".join(_rule(r) for r in finding.rules) or "nothing to guard"
        case Returning():
            return ", ".join(sql(item) for item in finding.items) or "no RETURNING"
        case NewRowChecks():
            return "rows dropped" if finding.discard_rows else "rows kept"
        case Filters():
            return "; ".join(_rule(r) for r in finding.rules) or "no read"
    raise AssertionError(f"no description for {type(finding).__name__}")


def _rule(rule: TableRule) -> str:
    hidden = f" (hides {', '.join(rule.hidden)})" if rule.hidden else ""
    return f"{rule.operation} {rule.table} AS {rule.alias}: {rule.rule}{hidden}"


def render_file(rule: str) -> str:
    """The fixture file with every expected line computed."""
    blocks = []
    for example in parse_file(rule):
        output, found = run_alone(example)
        lines = [f"# title: {example.title}"]
        lines += [f"# as: {example.subject}"] if example.subject != "user_a" else []
        lines += [f"# params: {example.params}"] if example.params else []
        lines += [f"# dialect: {example.dialect}"] if example.dialect != "postgres" else []
        lines += [example.sql, output] + ([f"# found: {found}"] if found else [])
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


EXAMPLES = [example for rule in RULES for example in parse_file(rule.name)]


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e.rule}: {e.title}" for e in EXAMPLES])
def test_rule_alone(example: Example) -> None:
    output, found = run_alone(example)
    assert output == example.expected
    assert found == example.found


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_every_rule_has_its_fixture_file(rule: Rule) -> None:
    examples = parse_file(rule.name)

    assert len(examples) >= 3
    assert all(e.expected for e in examples)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        (FIXTURES / f"{name}.sql").write_text(render_file(name))
