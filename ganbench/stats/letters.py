"""Compact letter display (Piepho 2004, insert-and-absorb): groups that share a letter are not distinguishable by
the pairwise tests; two groups without a common letter differ significantly."""

from __future__ import annotations

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def letters(groups: list[str], different: set[frozenset[str]] | list[tuple[str, str]]) -> dict[str, str]:
    """A string of letters per group such that two groups share a letter exactly when they are not in
    `different`. Letters are assigned in `groups` order (pass the ranking: the best group gets 'a')."""
    pairs = [tuple(p) for p in different]
    columns: list[set[str]] = [set(groups)] if groups else []
    for x, y in pairs:
        split: list[set[str]] = []
        for col in columns:
            split += [col - {x}, col - {y}] if x in col and y in col else [col]
        # absorb: a column contained in another says nothing more
        split = [c for c in split if c]
        columns = [
            c
            for i, c in enumerate(split)
            if not any((c < d) or (c == d and j < i) for j, d in enumerate(split) if j != i)
        ]
    order = {g: i for i, g in enumerate(groups)}
    columns.sort(key=lambda c: sorted(order[g] for g in c))
    if len(columns) > len(ALPHABET):
        raise ValueError(f"{len(columns)} letter columns: more than {len(ALPHABET)} letters")
    return {g: "".join(ALPHABET[i] for i, c in enumerate(columns) if g in c) for g in groups}
