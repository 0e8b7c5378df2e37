"""Every JSON body rowgate's own endpoints parse refuses fields it does not know, found by
introspection so that a body model added later is covered without touching this file."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from pydantic.alias_generators import to_snake

import rowgate.proxy
from rowgate.errors import ValidationFailed
from rowgate.proxy.bodies import Body, validated
from rowgate.proxy.problem import status_of


def _every_body_model() -> list[type[Body]]:
    for module in pkgutil.walk_packages(rowgate.proxy.__path__, "rowgate.proxy."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: list[type[Body]] = []
    pending = list(Body.__subclasses__())
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return sorted((m for m in found if m.__module__.startswith("rowgate.")), key=lambda m: m.__qualname__)


def _two_word_aliases(model: type[Body]) -> list[str]:
    return [f.alias for f in model.model_fields.values() if f.alias and f.alias != to_snake(f.alias)]


MODELS = _every_body_model()
CAMEL_MODELS = [m for m in MODELS if _two_word_aliases(m)]


def field_errors(model: type[Body], data: dict[str, object]) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        validated(model, data)
    assert caught.value.code == "validation_failed"
    assert status_of(caught.value) == 422
    return {e["field"]: e["message"] for e in caught.value.extra["errors"]}


def test_the_handlers_body_models_are_found() -> None:
    names = {m.__name__ for m in MODELS}
    assert {"SignupBody", "SigninBody", "SqlBody", "CreateKey", "Invite", "RateLimit"} <= names
    assert len(MODELS) >= 20
    assert {"SignupBody", "CreateKey", "RotateKey"} <= {m.__name__ for m in CAMEL_MODELS}


@pytest.mark.parametrize("model", MODELS, ids=[m.__qualname__ for m in MODELS])
def test_an_unknown_field_is_a_422_naming_it(model: type[Body]) -> None:
    errors = field_errors(model, {"zzUnknownField": 1})
    assert errors["zzUnknownField"] == "unknown field"


@pytest.mark.parametrize("model", CAMEL_MODELS, ids=[m.__qualname__ for m in CAMEL_MODELS])
def test_snake_case_spellings_of_camel_case_fields_are_unknown(model: type[Body]) -> None:
    """One spelling on the wire: ``orgName``; ``org_name`` is a typo to report, not a synonym."""
    aliases = _two_word_aliases(model)
    errors = field_errors(model, {to_snake(alias): "x" for alias in aliases})
    for alias in aliases:
        assert errors[to_snake(alias)] == "unknown field"
        assert errors.get(alias) in (None, "required field is missing")
