"""One small registry type, used for every extension point (objectives, data sets, metrics, executors)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


def unknown(kind: str, name: str, valid: list[str]) -> UnknownNameError:
    hint = difflib.get_close_matches(name, valid, n=1)
    suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
    return UnknownNameError(f"unknown {kind} '{name}'.{suggestion} Valid choices: {', '.join(sorted(valid))}.")


class Registry(Generic[T]):
    """A name -> entry mapping that refuses duplicate names and answers unknown names with the valid ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if not name or name != name.strip():
            raise ValueError(f"{self.kind} name must be a non-empty string without spaces, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = entry
        return entry

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise unknown(self.kind, name, list(self._entries)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())
