"""The password policy: presets, overrides, common passwords, every broken rule listed."""

from __future__ import annotations

import pytest

from rowgate.auth.passwords.policy import PasswordPolicy, common_passwords
from rowgate.config.identity import PasswordSettings
from rowgate.errors import ValidationFailed
from rowgate.proxy.problem import problem

DEFAULT = PasswordPolicy.from_settings(PasswordSettings())
NIST = PasswordPolicy.from_settings(PasswordSettings(preset="nist"))


def codes(policy: PasswordPolicy, password: str, email: str | None = None) -> list[str]:
    return [v.code for v in policy.violations(password, email=email)]


def test_the_shipped_list_holds_at_least_ten_thousand_common_passwords() -> None:
    common = common_passwords()
    assert len(common) >= 10_000
    assert {"123456", "password", "qwerty", "letmein", "dragon"} <= common


def test_default_preset_wants_eight_characters_upper_lower_and_digit() -> None:
    assert codes(DEFAULT, "Tr0ub4dor") == []
    assert codes(DEFAULT, "Ab1") == ["too_short"]
    assert codes(DEFAULT, "abcdefgh") == ["missing_upper", "missing_digit"]
    assert codes(DEFAULT, "ABCDEFG9") == ["missing_lower"]


def test_every_broken_rule_is_listed_at_once() -> None:
    assert codes(DEFAULT, "") == ["too_short", "missing_upper", "missing_lower", "missing_digit"]


def test_nist_preset_wants_fifteen_characters_and_no_composition() -> None:
    assert codes(NIST, "correct horse battery") == []
    assert codes(NIST, "shortbutfine") == ["too_short"]
    assert codes(NIST, "aaaaaaaaaaaaaaaaaaaa") == []


def test_common_passwords_are_refused_whatever_their_case() -> None:
    assert "common" in codes(DEFAULT, "Password1")
    assert "common" in codes(DEFAULT, "PASSWORD1".capitalize())
    assert "common" in codes(
        NIST, "123456789012345" if "123456789012345" in common_passwords() else "qwertyuiop"
    )


def test_the_own_email_address_is_refused() -> None:
    assert "contains_email" in codes(DEFAULT, "Alice.Smith1@example.com", email="alice.smith1@example.com")
    assert "contains_email" in codes(DEFAULT, "Alice.Smith1", email="alice.smith1@example.com")


def test_long_passwords_are_accepted_whole_and_overlong_ones_refused() -> None:
    sixty_four = "Aa1" + "x" * 61
    assert codes(DEFAULT, sixty_four) == []
    assert codes(DEFAULT, "Aa1" + "y" * 1021) == []
    assert codes(DEFAULT, "Aa1" + "y" * 1022) == ["too_long"]
    assert codes(DEFAULT, "Aa1" + "z" * 9997) == ["too_long"]


def test_passwords_are_counted_after_nfkc() -> None:
    # Eight fullwidth characters are eight ASCII characters after NFKC.
    fullwidth = "\uff3a\uff45\uff42\uff52\uff41\uff17\uff2b\uff54"  # "Zebra7Kt" in fullwidth forms
    assert codes(DEFAULT, fullwidth) == []
    assert "common" in codes(DEFAULT, "\uff30assword1")  # fullwidth P: "Password1"


def test_control_characters_are_refused() -> None:
    assert "control_characters" in codes(DEFAULT, "Abcdefg1\x07")


def test_overrides_win_over_the_preset() -> None:
    policy = PasswordPolicy.from_settings(
        PasswordSettings(preset="nist", min_length=10, require_special=True, refuse_common=False)
    )
    assert codes(policy, "abcdefghij") == ["missing_special"]
    assert codes(policy, "password!!") == []


def test_check_raises_one_422_listing_each_rule_for_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        DEFAULT.check("abc", field="newPassword")
    document = problem(caught.value)
    assert document["status"] == 422
    assert document["code"] == "weak_password"
    assert [(e["field"], e["code"]) for e in document["errors"]] == [
        ("newPassword", "too_short"),
        ("newPassword", "missing_upper"),
        ("newPassword", "missing_digit"),
    ]


def test_describe_names_the_rules() -> None:
    assert DEFAULT.describe()[0] == "8 to 1024 characters"
    assert "at least one digit" in DEFAULT.describe()
