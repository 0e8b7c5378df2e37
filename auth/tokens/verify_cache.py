"""The verified-token cache: a token that passed every check is kept, until it expires, by its text.

Keyed by the whole token string, so a hit means "these exact bytes verified before"; a token that
differs in any character is verified from scratch.  Bounded (least recently used entries go first).
Revocation is deliberately not cached: callers check ``sid`` on every request.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class VerifiedCache(Generic[T]):
    """A bounded LRU of verified values with a deadline each; ``size`` 0 disables it."""

    __slots__ = ("_entries", "_size", "hits", "misses")

    def __init__(self, size: int) -> None:
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._size = size
        self.hits = 0
        self.misses = 0

    def get(self, token: str, now: float) -> T | None:
        """The value cached for ``token`` while ``now`` is before its deadline."""
        entry = self._entries.get(token)
        if entry is None:
            self.misses += 1
            return None
        if entry[0] <= now:
            del self._entries[token]
            self.misses += 1
            return None
        self._entries.move_to_end(token)
        self.hits += 1
        return entry[1]

    def put(self, token: str, value: T, deadline: float) -> None:
        """Keep ``value`` for ``token`` until ``deadline`` (epoch seconds)."""
        if self._size <= 0:
            return
        self._entries[token] = (deadline, value)
        self._entries.move_to_end(token)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry (the keys changed: what verified before may not verify now)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
