"""The permission algebra (pure): does a set of granted permissions cover a required one, and what
two sets have in common.

A permission is ``resource:action``.  A granted one may put ``*`` on either side (``tasks:*``,
``*:read``); ``*`` alone (or ``*:*``) grants everything.  Because a wildcard covers a whole side,
every granted permission is one of four shapes, and the algebra stays exact:

* ``covers(g, w)``: each side of ``g`` is ``*`` or equal to that side of ``w``;
* ``intersect(a, b)``: side by side, ``*`` gives way to a name, two different names meet nowhere.

Sets are kept *canonical*: ``*:*`` is spelt ``*``, and a permission covered by another one of the
set is dropped, so that two sets granting the same thing compare equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from rowgate.config.tenancy import GRANTED_PERMISSION, REQUIRED_PERMISSION

ALL: Final = "*"
NONE: Final[frozenset[str]] = frozenset()


def is_grantable(text: str) -> bool:
    """True when ``text`` may be granted (wildcards allowed)."""
    return GRANTED_PERMISSION.fullmatch(text) is not None


def is_concrete(text: str) -> bool:
    """True when ``text`` names one resource and one action."""
    return REQUIRED_PERMISSION.fullmatch(text) is not None


def _sides(permission: str) -> tuple[str, str]:
    if permission == ALL:
        return ALL, ALL
    resource, _, action = permission.partition(":")
    return resource, action


def _join(resource: str, action: str) -> str:
    return ALL if resource == ALL and action == ALL else f"{resource}:{action}"


def covers(granted: str, wanted: str) -> bool:
    """True when the granted permission ``granted`` grants everything ``wanted`` does."""
    gr, ga = _sides(granted)
    wr, wa = _sides(wanted)
    return gr in (ALL, wr) and ga in (ALL, wa)


def grants(granted: frozenset[str], required: str) -> bool:
    """True when the canonical set ``granted`` grants the concrete permission ``required``.

    Four set lookups at most: this runs on every request to a rule with permissions.
    """
    if ALL in granted or required in granted:
        return True
    resource, _, action = required.partition(":")
    return f"{resource}:*" in granted or f"*:{action}" in granted


def missing(granted: frozenset[str], required: Iterable[str]) -> list[str]:
    """The permissions of ``required`` that ``granted`` does not grant, in order."""
    return [permission for permission in required if not grants(granted, permission)]


def canonical(permissions: Iterable[str]) -> frozenset[str]:
    """``permissions`` with ``*:*`` spelt ``*`` and every member covered by another one dropped."""
    spelt = {_join(*_sides(p)) for p in permissions}
    return frozenset(p for p in spelt if not any(q != p and covers(q, p) for q in spelt))


def within(wanted: Iterable[str], granted: Iterable[str]) -> bool:
    """True when every permission of ``wanted`` is covered by one of ``granted``."""
    held = tuple(granted)
    return all(any(covers(g, w) for g in held) for w in wanted)


def intersect(a: str, b: str) -> str | None:
    """What both permissions grant, or None when they grant nothing in common."""
    (ar, aa), (br, ba) = _sides(a), _sides(b)
    resource = _meet(ar, br)
    action = _meet(aa, ba)
    if resource is None or action is None:
        return None
    return _join(resource, action)


def _meet(a: str, b: str) -> str | None:
    if a == ALL:
        return b
    if b == ALL or a == b:
        return a
    return None


def intersection(a: Iterable[str], b: Iterable[str]) -> frozenset[str]:
    """The canonical set of everything granted by both ``a`` and ``b``."""
    right = tuple(b)
    found = (intersect(x, y) for x in a for y in right)
    return canonical(p for p in found if p is not None)


def concrete(*sources: Iterable[str]) -> list[str]:
    """The distinct permissions naming one resource and one action in ``sources``, sorted."""
    return sorted({p for source in sources for p in source if is_concrete(p)})
