"""The one verdict writer: a `Comparison` (and what the section knows about its runs) in words.

`lead` is the paragraph a reader meets first, about three sentences: the best group (the best one and those no
test separates from it), what is clearly worse and by how much (Holm-corrected, as a ratio with its 95% interval
on the log scale, a difference on the raw one), and the main caveat (a changed plan, curves still improving, a
single seed, failed seeds, unfinished runs). Lists of tied and undecided pairs go to the pair table, never here;
failed seeds are counted by kind (named only when there are a few), and listed in the Failed seeds table.
`details` is the paragraph under it: what was compared, how many pairs differ or are tied at the margin, where
the scale's two ends are, every other caveat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ganbench.report.compare import RANK, Comparison, Group, Obs, PairResult
from ganbench.report.display import effect, fmt, iv90
from ganbench.report.failures import KINDS
from ganbench.stats import scale as sc

NAMED_FAILURES = 3  # up to this many failed seeds are named in the verdict; more are counted by kind
FAILED_TABLE = "Failed seeds"  # the table under the verdict that lists every failed seed with what its run shows


@dataclass
class Context:
    setup: str = ""  # what was compared, one sentence (data, budget, seeds, metric, protocol)
    caveats: list[str] = field(default_factory=list)  # most important first; the first one leads
    floor: Group | None = None
    ceiling: Group | None = None
    extra: list[str] = field(default_factory=list)  # sentences for the details paragraph (stability, goals, ...)


def join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def failures(failed: list[tuple[str, Obs]], total: int) -> str:
    """The failed seeds as a caveat of about one line: '7 of 14 seeds failed (5 collapsed, 2 stalled): ...', naming
    the seeds ('stalled: minimax · recipe seed 2') where there are few; `failed` is (group, seed) pairs, `total`
    the seeds they are counted among. Every failed seed, with what its run shows, is in the FAILED_TABLE below."""
    if not failed:
        return ""
    count = {k: sum(o.failure == k for _, o in failed) for k in KINDS}
    kinds = sorted((k for k in KINDS if count[k]), key=lambda k: -count[k])  # most first
    if len(failed) <= NAMED_FAILURES:
        what = "; ".join(f"{k}: " + ", ".join(f"{g} seed {o.seed}" for g, o in failed if o.failure == k) for k in kinds)
    else:
        what = ", ".join(f"{count[k]} {k}" for k in kinds)
    return (
        f"{len(failed)} of {total} seed{'s' if total != 1 else ''} failed ({what}): counted, not averaged, and "
        f"listed with what each run shows in the table {FAILED_TABLE} below."
    )


def value(g: Group, key: str = "") -> str:
    """'dcgan 0.0527 ± 0.0093' (raw), 'dcgan 0.0522 (0.0441-0.0618)' (log: a geometric mean and its interval)."""
    name = f"{g.name} {key} " if key else f"{g.name} "
    if g.all_failed:
        return f"{name}{fmt(g.centre)} ({g.failed} of {g.total} seed{'s' if g.total != 1 else ''} failed)"
    if g.n < 2:
        return f"{name}{fmt(g.centre)}" + (" (one seed)" if g.n == 1 else "")
    if g.scale == sc.LOG:
        return f"{name}{fmt(g.centre)} ({fmt(g.low)}-{fmt(g.high)})"
    return f"{name}{fmt(g.centre)} ± {fmt(g.high - g.centre)}"


LISTED = 8  # groups named one by one in a sentence; the rest are counted (the tables list every one)


def best_group(c: Comparison, exclude: tuple[str, ...] = ()) -> list[str]:
    """The best group and every group no test separates from it (in order); an arm whose every seed failed is
    never the best (no test says anything about it)."""
    order = [g.name for g in c.groups if g.name not in exclude and not g.all_failed]
    if not order:
        return []
    best = order[0]
    return [best] + [g for g in order[1:] if (p := c.pair(best, g)) is not None and not p.different]


def worse_than(c: Comparison, best: str, exclude: tuple[str, ...] = ()) -> list[tuple[str, PairResult]]:
    return [
        (g, p)
        for g in c.order
        if g != best and g not in exclude and (p := c.pair(best, g)) is not None and p.different and p.better == best
    ]


def lead(c: Comparison, ctx: Context, exclude: tuple[str, ...] = ()) -> str:
    """About three sentences: the best group, what is clearly worse and by how much, the main caveat."""
    prefix = "Post hoc (the analysis plan changed after the first trial): " if c.plan.post_hoc else ""
    groups = [g for g in c.groups if g.name not in exclude]
    if not groups:
        return prefix + "Nothing to compare yet."
    caveat = ctx.caveats[0] if ctx.caveats else ""
    if all(g.total < 2 for g in groups):
        shown = [value(g) for g in groups]
        if len(shown) > LISTED:  # a search's hundred candidates: the best few and the last, the tables list all
            more = len(shown) - LISTED
            order = f"{', '.join(shown[: LISTED - 1])}, … ({more} more) … and {shown[-1]}"
        else:
            order = join(shown)
        return (
            f"{prefix}By single values the order is {order} ({c.key}); with one seed per variant no comparison is "
            f"possible: no difference can be called significant and no tie claimed. {caveat}"
        ).strip()
    top = best_group(c, exclude)
    if not top:  # every group's every seed failed: only the counts speak
        nothing = "No group has a seed that did not fail: nothing is compared."
        return " ".join(t for t in (prefix + nothing, every_seed_failed(groups), caveat) if t)
    best = c.group(top[0])
    first = (
        f"Best: {value(best, c.key)}"
        + (
            f"; not distinguishable from it: {join([value(c.group(g)) for g in top[1:]])}"
            if len(top) > 1
            else ", ahead of every other group by the tests"
        )
        + "."
    )
    worse = worse_than(c, best.name, exclude)
    if worse:
        shown = worse[:4]
        tests = join(list(dict.fromkeys(p.test for _, p in shown)))  # the tests of the pairs named, in order
        second = (
            f"Clearly worse than {best.name}: "
            + "; ".join(
                f"{g} {effect(p, c.scale, worse=g)}"
                if p.test != RANK
                else f"{g}, P({best.name} better) {p.prob.value:.2f}"
                for g, p in shown
            )
            + (f"; and {len(worse) - len(shown)} more" if len(worse) > len(shown) else "")
            + f" ({tests} on the {c.scale} scale, Holm over {c.family})."
        )
    else:
        second = f"No group is shown worse than {best.name} (Holm over {c.family})."
    return " ".join(t for t in (prefix + first, second, every_seed_failed(groups), caveat) if t)


def every_seed_failed(groups: list[Group], named: int = NAMED_FAILURES) -> str:
    """'Every seed failed for minimax (5 of 5 stalled).': the arms no test speaks about, said by their counts."""
    gone = [g for g in groups if g.all_failed and g.total >= 2]
    if not gone:
        return ""

    def kind(g: Group) -> str:
        kinds = {o.failure for o in g.obs}
        return f" {kinds.pop()}" if len(kinds) == 1 else ""

    said = [f"{g.name} ({g.failed} of {g.total}{kind(g)})" for g in gone[:named]]
    said += [f"{len(gone) - named} more groups"] if len(gone) > named else []
    return f"Every seed failed for {join(said)}."


def details(c: Comparison, ctx: Context, exclude: tuple[str, ...] = ()) -> str:
    """The paragraph under the lead: the setup, the counts of ordered and tied pairs, the scale's ends, the rest."""
    out = [ctx.setup] if ctx.setup else []
    inner = [p for p in c.pairs if p.a not in exclude and p.b not in exclude]
    tested = [p for p in inner if p.test != "none"]
    if tested:
        ordered = sum(p.different for p in tested)
        tied = [p for p in tested if p.tied]
        out.append(
            f"Under {c.plan.label} ({c.plan.describe()}; margin {c.margin_text}): {ordered} of {len(tested)} "
            f"testable pairs differ and {len(tied)} {'is' if len(tied) == 1 else 'are'} shown equivalent at the "
            "margin; the pair table below lists each one."
        )
        if not tied and c.bounds is not None:
            near = min((p for p in tested if math.isfinite(p.p_tost)), key=lambda p: p.p_tost, default=None)
            if near is not None:
                out.append(
                    f"The closest to equivalence, {near.a} and {near.b}, has a 90% interval of "
                    f"{iv90(near, c.scale)} (TOST p {near.p_tost:.2g}, Holm {near.p_tost_holm:.2g}): "
                    "not distinguishable is not equal."
                )
    ends = [
        f"random noise {fmt(ctx.floor.centre)}" if ctx.floor else "",
        f"two sets of real images {fmt(ctx.ceiling.centre)}" if ctx.ceiling else "",
    ]
    if any(ends):
        out.append("The scale's two ends at this protocol: " + ", ".join(e for e in ends if e) + ".")
    out += ctx.extra
    out += ctx.caveats[1:]
    out += c.notes
    return " ".join(out)
