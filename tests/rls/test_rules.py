"""The rules' declarations: what each reads and writes, and the order those force."""

from __future__ import annotations

import dataclasses

import pytest
from sqlglot import exp

from rowgate.rls.context import Findings, Inputs, Rule, in_order
from rowgate.rls.findings import Census, Resolution
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.rules import RULES
from rowgate.rls.rules.census import take_census
from rowgate.rls.rules.check_names import check_names
from rowgate.rls.rules.rename_ctes import rename_ctes
from rowgate.rls.rules.resolve_tables import resolve_tables
from tests.rls import world

SIGNATURE = world.world_policies().signature(world.SUBJECTS["user_a"])


def test_every_finding_a_rule_reads_is_written_by_an_earlier_rule() -> None:
    for position, rule in enumerate(RULES):
        earlier = {r.writes for r in RULES[:position]}
        assert set(rule.reads) <= earlier, rule.name


def test_every_finding_has_one_writer() -> None:
    written = [rule.writes for rule in RULES if rule.writes is not None]

    assert len(written) == len(set(written))


def test_the_pipeline_is_checked_when_it_is_built() -> None:
    assert in_order(*RULES) == RULES


def test_a_rule_moved_before_the_rule_whose_finding_it_reads_is_caught() -> None:
    swapped = list(RULES)
    first, second = swapped.index(rename_ctes), swapped.index(resolve_tables)
    swapped[first], swapped[second] = swapped[second], swapped[first]

    with pytest.raises(ValueError, match="rule resolve_tables reads CteReferences before any rule writes it"):
        in_order(*swapped)


def test_a_rule_before_the_census_is_caught() -> None:
    with pytest.raises(ValueError, match="rule check_names reads Census before any rule writes it"):
        in_order(check_names, take_census)


def test_two_rules_writing_one_finding_are_caught() -> None:
    with pytest.raises(ValueError, match="rules take_census and take_census both write Census"):
        in_order(take_census, take_census)


def test_a_rule_must_return_the_finding_it_declares(rewriter: Rewriter) -> None:
    statement, inputs = rewriter.prepare("SELECT 1", SIGNATURE, 0)

    def forgetful(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
        return expression

    with pytest.raises(TypeError, match="rule forgetful declares it writes Census but returned nothing"):
        Rule(forgetful, writes=Census)(statement, inputs, Findings())


def test_a_finding_is_written_once() -> None:
    found = Findings(Census())

    with pytest.raises(ValueError, match="Census was found already"):
        found.add(Census())


def test_findings_cannot_be_changed(rewriter: Rewriter) -> None:
    statement, inputs = rewriter.prepare("SELECT id FROM tasks", SIGNATURE, 0)
    found = Findings()
    for rule in RULES[: RULES.index(resolve_tables) + 1]:
        statement = rule(statement, inputs, found)
    resolution = found[Resolution]

    with pytest.raises(dataclasses.FrozenInstanceError):
        resolution.target = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        resolution.policies[0] = resolution.policies[id(statement.find(exp.Table))]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.params_count = 3  # type: ignore[misc]
