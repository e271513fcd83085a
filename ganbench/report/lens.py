"""Do two lenses agree? Where runs carry two primary-capable metrics that look through different lenses (the
metric registry's `LENS`: Inception features, a mode classifier, ...), the two rankings of the same groups are
lined up: Kendall's tau between them with a bootstrap interval over seeds (each run's two values move together),
and the pairs on which they disagree (the means in opposite orders, or the tests ordering them oppositely).
Which metrics, and which direction is better, come from `ganbench.metrics.names`; nothing here names a metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ganbench.metrics import names
from ganbench.report.compare import Comparison, compare
from ganbench.report.failures import observation
from ganbench.report.plan import Plan
from ganbench.report.runs import Run
from ganbench.stats.resample import Estimate, tau_interval


@dataclass
class LensAgreement:
    first: Comparison
    second: Comparison
    tau: Estimate  # between the two rankings (both read as better-first)
    disagree: list[tuple[str, str, str]]  # (a, b, how): means in opposite orders, or opposite significant calls
    lenses: tuple[str, str]


def other_lens(runs: list[Run], key: str) -> list[str]:
    """The metrics of another lens than `key`'s that the runs have at the end (the trained G's values, not their
    parts), in the registry's display order; per base, the sample count most runs have."""
    first = names.parse(key)
    if first is None:
        return []
    counts: dict[str, int] = {}
    for r in runs:
        for k in r.final_metrics():
            m = names.parse(k)
            if (
                m is not None
                and not m.part
                and not m.g
                and names.LENS.get(m.base) not in (None, names.LENS[first.base])
            ):
                counts[k] = counts.get(k, 0) + 1
    best: dict[str, str] = {}
    for k in counts:
        base = names.parse(k).base
        if base not in best or (counts[k], names.parse(k).n) > (counts[best[base]], names.parse(best[base]).n):
            best[base] = k
    return [best[b] for b in names.BASES if b in best]


def second_metric(runs: list[Run], key: str) -> str | None:
    """A primary-capable metric of another lens than `key`'s, the one most runs have at the end (None: none)."""
    return next((k for k in other_lens(runs, key) if names.parse(k).base in names.PRIMARY_CAPABLE), None)


def agreement(runs_by_group: dict[str, list[Run]], key: str, plan: Plan, family: str) -> LensAgreement | None:
    """Line up `key`'s ranking and the other lens's over the same runs; None without a second lens."""
    runs = [r for rs in runs_by_group.values() for r in rs]
    other = second_metric(runs, key)
    if other is None:
        return None
    out = []
    for k in (key, other):
        obs = {g: [o for r in rs if (o := observation(r, k)) is not None] for g, rs in runs_by_group.items()}
        m = names.parse(k)
        out.append(
            compare(
                {g: o for g, o in obs.items() if o}, plan, family, key=k, lower_is_better=names.LOWER_IS_BETTER[m.base]
            )
        )
    sign = [1.0 if c.lower_is_better else -1.0 for c in out]
    pairs = {}
    for g, rs in runs_by_group.items():
        both = [
            (sign[0] * r.final_metrics()[key], sign[1] * r.final_metrics()[other])
            for r in rs
            if key in r.final_metrics() and other in r.final_metrics()
        ]
        both = [p for p in both if all(math.isfinite(x) for x in p)]
        if both:
            pairs[g] = both
    tau = tau_interval(pairs)
    disagree = []
    groups = [g for g in out[0].order if g in out[1].order]
    for i, a in enumerate(groups):
        for b in groups[i + 1 :]:
            p0, p1 = out[0].pair(a, b), out[1].pair(a, b)
            first_better = [c.order.index(a) < c.order.index(b) for c in out]
            if p0 and p1 and p0.different and p1.different and p0.better != p1.better:
                disagree.append((a, b, f"opposite significant orders: {p0.better} on {key}, {p1.better} on {other}"))
            elif first_better[0] != first_better[1]:
                disagree.append((a, b, f"means in opposite orders ({a} ahead on {key if first_better[0] else other})"))
    return LensAgreement(
        out[0], out[1], tau, disagree, (names.LENS[names.parse(key).base], names.LENS[names.parse(other).base])
    )


def text(la: LensAgreement) -> str:
    a, b = la.first.key, la.second.key
    tau = f"Kendall's tau {la.tau.value:.2f}" + (
        f" (95% bootstrap interval over seeds {la.tau.low:.2f} to {la.tau.high:.2f})"
        if math.isfinite(la.tau.low)
        else ""
    )
    n = len(la.first.order)
    base = f"Two lenses on the same runs: {a} ({la.lenses[0]}) and {b} ({la.lenses[1]}) rank {n} groups with {tau}."
    if not la.disagree:
        return base + " They order every pair the same way."
    return (
        base
        + f" They disagree on {len(la.disagree)} pair{'s' if len(la.disagree) != 1 else ''}: "
        + "; ".join(f"{x} and {y} ({how})" for x, y, how in la.disagree)
        + ". Where they disagree, that is a finding about the lenses, not about the objectives alone."
    )
