"""The rules' declarations: what each reads and writes, and the order those force."""

from __future__ import annotations

import dataclasses

import pytest
from sqlglot import exp

from rowgate.rls.context import in_order
from rowgate.rls.findings import Census, Findings
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.rules import RULES
from rowgate.rls.rules.census import take_census
from rowgate.rls.rules.check_names import check_names
from rowgate.rls.rules.rename_ctes import rename_ctes
from rowgate.rls.rules.resolve_tables import resolve_tables
from tests.rls import world

SIGNATURE = world.world_policies().signature(world.SUBJECTS["user_a"])


def test_every_finding_a_rule_reads_is_written_by_an_earlier_rule() -> None:
    for position, each in enumerate(RULES):
        earlier = {r.writes for r in RULES[:position]}
        assert set(each.reads) <= earlier, each.name


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


def test_findings_cannot_be_changed(rewriter: Rewriter) -> None:
    statement, inputs = rewriter.prepare("SELECT id FROM tasks", SIGNATURE, 0)
    found = Findings()
    for each in RULES[: RULES.index(resolve_tables) + 1]:
        statement = each.run(statement, inputs, found)
    resolution = found.resolution

    with pytest.raises(AttributeError):
        resolution.target = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        resolution.policies[0] = resolution.policies[id(statement.find(exp.Table))]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.params_count = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        found.resolution = resolution  # a rule returns its finding; it cannot set one


def test_reading_a_finding_not_found_yet_fails() -> None:
    with pytest.raises(AttributeError):
        Findings(Census()).resolution  # noqa: B018
