"""Every name a user can choose, by kind (variants, families, objectives, penalties, optimisers, metrics, data
sets), each with a line saying what it is: read from the registries, printed by `ganbench list`."""

from __future__ import annotations

from ganbench.families import FAMILIES


def catalogue() -> dict[str, list[dict[str, str]]]:
    """Every registered name users can choose, by kind, each with a line saying what it is (from the registries)."""
    from ganbench import objectives, optimizers, penalties
    from ganbench.config import load_recipe, variant_names
    from ganbench.data import DATASETS
    from ganbench.metrics.evaluator import DEFAULT_METRICS, METRICS

    def recipe(name: str) -> dict[str, str]:
        r = load_recipe(name)
        return {
            "name": name,
            "summary": r.get("description", ""),
            **{k: str(r[k]) for k in ("family", "objective", "penalty") if k in r},
        }

    return {
        "variants": [recipe(n) for n in variant_names()],
        "families": [{"name": n, "summary": f.summary} for n, f in FAMILIES.items()],
        "objectives": [{"name": n, "summary": o.summary, "paper": o.paper} for n, o in objectives.OBJECTIVES.items()],
        "penalties": [{"name": n, "summary": p.summary, "paper": p.paper} for n, p in penalties.PENALTIES.items()],
        "optimizers": [{"name": n, "summary": o.summary} for n, o in optimizers.OPTIMIZERS.items()],
        "metrics": [{"name": n, "summary": m.summary, "default": n in DEFAULT_METRICS} for n, m in METRICS.items()],
        "datasets": [{"name": n, "summary": d.summary} for n, d in DATASETS.items()],
    }


def catalogue_text(cat: dict[str, list[dict]]) -> str:
    """The catalogue as `ganbench list` prints it: one line per name, grouped by kind."""
    lines = []
    for kind, entries in cat.items():
        lines.append(f"{kind}:")
        for e in entries:
            extra = f"  [{e['paper']}]" if e.get("paper") else ""
            extra += "  (default)" if e.get("default") else ""
            lines.append(f"  {e['name']:<14} {e['summary']}{extra}")
    lines.append("penalties add up with '+' (penalty=r1+r2); metrics are chosen with --metrics fid,kid,c2st")
    return "\n".join(lines)
