"""What several commands parse alike: a registry's names as an option's help, comma-separated lists, seeds."""

from __future__ import annotations

from collections.abc import Iterable

from ganbench.errors import ConfigError


def choices(names: Iterable[str]) -> str:
    """An option's help listing its valid values: 'auto | cuda | mps | cpu'."""
    return " | ".join(names)


def csv(text: str) -> list[str]:
    """'dcgan, vae,' -> ['dcgan', 'vae']."""
    return [t.strip() for t in text.split(",") if t.strip()]


def seeds(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2]; anything else is a ConfigError saying what is expected."""
    try:
        return [int(s) for s in csv(text)]
    except ValueError:
        raise ConfigError(f"--seeds expects integers separated by commas, for example 0,1,2 (got '{text}')") from None
