"""The study section of a report, rendered: the primary verdict (about three sentences), its figure and the
samples first; then the honest headline's details and the primary pair table; the ratio-scale re-analysis where the
plan was not on that scale; the goal figures of each selected arm; every seed of every arm; the rank at every
budget and the curves; selected against recipe; the search; two lenses. Every figure is drawn by the one function
of its kind (`ganbench.report.figures`), every comparison rendered by `ganbench.report.blocks`."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from ganbench import families as fam
from ganbench.metrics import names
from ganbench.report import blocks as B
from ganbench.report import progress
from ganbench.report.compare import Obs, changed_calls, said
from ganbench.report.display import fmt
from ganbench.report.figures import curves as CV
from ganbench.report.figures import search as S
from ganbench.report.figures.ranks import rank_curves
from ganbench.report.figures.samples import sample_sheet
from ganbench.report.figures.spread import Point, spread
from ganbench.report.frames import evals_frame
from ganbench.report.lens import text as lens_text
from ganbench.report.pages import Figure, Heading, Para, Table
from ganbench.report.record import RECIPE, TUNED
from ganbench.report.study import StudyFindings, arm_label
from ganbench.report.verdict import Context, failures
from ganbench.rundir import Status, file_name, number
from ganbench.stats import scale as sc


def headline(f: StudyFindings) -> str:
    """What was compared, honestly: data and its size, resolution and widths, budget, seeds, search, protocol."""
    s, st = f.study.settings, f.study
    runs = [r for rs in f.runs.values() for r in rs if fam.trains(r.family)]
    counts = sorted({int(c) for r in runs if (c := (r.meta.get("data") or {}).get("count"))})
    size = f" ({counts[0]:,} training images)" if len(counts) == 1 else ""
    n = names.parse(f.key).n
    recipe = f"; recipes over {len(st.recipe_seeds)} seeds" if st.recipe_seeds else ""
    search = f"every variant got the same search ({st.search_text})" if st.searched else st.search_text
    return (
        f"{st.name}: {s.get('dataset')}{size} at {s.get('resolution')}x{s.get('resolution')}, widths "
        f"{s.get('g_width')}/{s.get('d_width')} (G/D); {search}; each "
        f"selected setting trained for {st.final_budget} over {len(st.final_seeds)} seeds{recipe}, scored on {n} "
        f"generated against {n} images of the {st.final_split} split, never used for selection ({f.key}, "
        f"{names.better(f.key)})."
    )


def g_steps(f: StudyFindings) -> str:
    """'G steps: 4,688 for every arm but wgan-gp · recipe (938)' where they differ, else ''."""
    steps = {}
    for (v, a), rs in f.runs.items():
        vals = {int(x) for r in rs if (x := number((r.summary or {}).get("g_steps")))}
        if vals and fam.trains(rs[0].family):
            steps[arm_label(v, a)] = max(vals)
    if len(set(steps.values())) < 2:
        return ""
    common = max(set(steps.values()), key=list(steps.values()).count)
    odd = [f"{g} ({s:,})" for g, s in steps.items() if s != common]
    return f"G steps: {common:,} for every arm but {', '.join(odd)} (the budget counts real images shown to D)."


def failed_seeds(f: StudyFindings) -> list[tuple[str, Obs]]:
    """(arm, seed) for every failed seed of the arms that train, in the order of the study's runs."""
    return [
        (arm_label(*arm), o)
        for arm, rs in f.runs.items()
        for r in rs
        if fam.trains(r.family) and (o := _obs(f, r)) is not None and o.failure
    ]


def context(f: StudyFindings, c) -> Context:
    caveats = []
    runs = [r for rs in f.runs.values() for r in rs]
    if any(r.status not in (Status.COMPLETED, Status.DIVERGED) for r in runs) or len(runs) < f.study.final_planned:
        caveats.append(progress.stage_progress(runs, f.study.final_planned, "final-stage"))
    still = progress.improving_text(f.levels, f.levels_key or f.key)
    if still:
        caveats.append(still)
    failed = failed_seeds(f)
    if failed:
        seeds = [o for r in runs if fam.trains(r.family) and (o := _obs(f, r)) is not None]
        caveats.append(failures(failed, len(seeds)))
    extra = [x for x in (g_steps(f), f.stability.text(f.key) if f.stability else "") if x]
    return Context(headline(f), caveats, f.floor, f.ceiling, extra)


def verdict(f: StudyFindings) -> tuple[str, str]:
    """(the lead paragraph, the details paragraph) of the study's primary comparison."""
    from ganbench.report.verdict import details, lead

    if not f.primary.groups:
        return headline(f) + " No selected arm has finished yet: nothing to compare.", ""
    ctx = context(f, f.primary)
    return lead(f.primary, ctx), details(f.primary, ctx)


def _obs(f: StudyFindings, r):
    from ganbench.report.failures import observation

    return observation(r, f.key)


def _samples(f: StudyFindings, out: Path) -> Path:
    """Real images, each selected arm's seed-0 grid in rank order, the random floor's; copied into the report."""
    (out / "samples").mkdir(exist_ok=True)
    keys = [k for k in f.runs if fam.is_ceiling(f.runs[k][0].family)]
    keys += [(v, TUNED) for v in f.order]
    keys += [k for k in f.runs if fam.is_floor(f.runs[k][0].family)]
    panels = []
    for key in keys:
        runs = sorted(f.runs.get(key, []), key=lambda r: (r.status != Status.COMPLETED, r.seed or 0))
        if not runs:
            continue
        label = "real images" if fam.is_ceiling(runs[0].family) else arm_label(*key)
        path, which = runs[0].sample_grid()
        value = runs[0].final_metrics().get(f.key)
        title = f"{label}\nseed {runs[0].seed}, {which}" + (f", {f.key} {fmt(value)}" if value is not None else "")
        name = None
        if path is not None:
            name = f"samples/{file_name(f'study_{key[0]}_{key[1]}.png')}"
            shutil.copyfile(path, out / name)
        panels.append((out / name if name else None, title, f"{label}: no sample grid yet"))
    return sample_sheet(panels, out / "study_samples.png")


def _setting(chosen) -> str:
    """The chosen candidate's searched values ('lr_d=1e-4, n_critic=5'), 'recipe' where the variant's own recipe
    won (a candidate without searched values), '–' where nothing was chosen yet."""
    if chosen is None:
        return "–"
    return ", ".join(f"{k}={fmt(x)}" for k, x in chosen.params.items()) or RECIPE


def _selected(f: StudyFindings, v: str):
    """The candidate the last rung chose for `v`'s tuned arm (at that rung, with its value there), else None."""
    chosen = [c for c in f.study.rungs[-1].candidates.get(v, []) if c.chosen] if f.study.rungs else []
    return chosen[0] if len(chosen) == 1 and not f.study.pending else None


def _recipe_fate(f: StudyFindings, v: str) -> str:
    """How far the variant's recipe got: 'selected (rank 1 of 2 at rung300)', 'kept at rung100 (rank 2 of 5)',
    'in rung300 (still running)', 'out at rung25 (rank 9 of 17)'."""
    better_low = names.LOWER_IS_BETTER[names.parse(f.key).base]
    seen = [(r, cs) for r in f.study.rungs if (cs := r.candidates.get(v, [])) and any(c.tag == RECIPE for c in cs)]
    if not seen:
        return "not a candidate"
    rung, cs = seen[-1]
    ranked = sorted(cs, key=lambda c: (not math.isfinite(c.value), c.value if better_low else -c.value))
    place = f"rank {1 + [c.tag for c in ranked].index(RECIPE)} of {len(cs)}"
    recipe = next(c for c in cs if c.tag == RECIPE)
    if not any(c.chosen for c in cs):
        return f"in {rung.name} (still running)"
    if not recipe.chosen:
        return f"out at {rung.name} ({place})"
    if rung is f.study.rungs[-1] and not f.study.pending and len([c for c in cs if c.chosen]) == 1:
        return f"selected ({place} at {rung.name})"
    return f"kept at {rung.name} ({place})"


def _first_rung_caveat(f: StudyFindings) -> str:
    """With successive halving only the first rung scored every candidate: how far its ranking carries to the last."""
    rungs = f.study.rungs
    if len(rungs) < 2:
        return ""
    name = f"{rungs[0].name} vs {rungs[-1].name} (candidates, pooled over variants)"
    rc = dict(f.rung_correlation).get(name)
    said = (
        f"; its ranking of the candidates that reached {rungs[-1].name} agrees with that rung's by Spearman's rho "
        f"{fmt(rc.spearman)} over {rc.n}"
        if rc is not None and math.isfinite(rc.spearman)
        else ""
    )
    return (
        f" Only the first rung ({rungs[0].name}, {rungs[0].budget}) scored every candidate, so the curves are its "
        f"scores{said}: read them as the short run's answer, not the long one's."
    )


def _search_blocks(f: StudyFindings, out: Path, colours: dict) -> tuple[list, list[Path]]:
    rungs = f.study.rungs
    if not f.study.searched or not rungs:
        return [], []
    files, blocks = [], [Heading("The search (exploratory)", 3)]
    first, last = rungs[0], rungs[-1]
    waiting = f"not chosen yet ({', '.join(f.study.pending)} still running)" if f.study.pending else "–"
    rows = []
    for v in f.study.variants:
        cands = first.candidates.get(v, [])
        chosen = _selected(f, v)
        values = [c.value for c in cands if c.completed]
        rows.append(
            [v, _setting(chosen) if chosen else waiting, fmt(chosen.value) if chosen else "–"]
            + ([_recipe_fate(f, v)] if len(rungs) > 1 else [])
            + [f"{fmt(min(values))} .. {fmt(max(values))} ({len(values)} of {len(cands)})" if values else "–"]
        )
    at = f" at {last.budget}" if len(rungs) > 1 else ""
    head = [
        "variant",
        "chosen setting",
        f"its {last.metric} on {last.split}{at}" if not f.study.pending else "its score",
    ]
    head += ["the recipe"] if len(rungs) > 1 else []
    head += [f"range over the candidates{f' at {first.budget}' if len(rungs) > 1 else ''}"]
    blocks.append(Table(head, rows))
    if len(rungs) > 1:
        blocks.append(
            Para(
                f"Successive halving: {f.study.search_text}. A value over several seeds is their "
                f"{'geometric ' if f.primary.scale == sc.LOG else ''}mean. 'The recipe': how far each variant's "
                "own recipe got, and its place among the candidates of that rung.",
                note=True,
            )
        )
    points = [Point(v, c.value, c.chosen) for v, cs in first.candidates.items() for c in cs]
    png = spread(
        points,
        f"{first.metric} on the {first.split} split",
        f"{first.name}: each variant's candidates (ringed: {'kept for the next rung' if len(rungs) > 1 else 'chosen'}; "
        "x: failed)",
        colours,
        out / "study_search.png",
    )
    if png:
        files.append(png)
        blocks.append(Figure("study_search.png", "each variant's candidates"))
    if len(rungs) > 1:
        metrics = list(dict.fromkeys(r.metric for r in rungs))  # a rung may evaluate on fewer images
        key = metrics[0] if len(metrics) == 1 else names.parse(f.key).base  # the ticks name each rung's
        ticks = [r.name if len(metrics) == 1 else f"{r.name}\n{r.metric}" for r in rungs]
        files.append(S.rungs(f.rung_scores, ticks, colours, key, out / "study_rungs.png"))
        blocks.append(Figure("study_rungs.png", "every candidate's score at every rung"))
    if f.rung_correlation:
        blocks += [
            Table(
                ["rung", "items", "Spearman's rho", "Kendall's tau"],
                [[name, str(rc.n), fmt(rc.spearman), fmt(rc.kendall)] for name, rc in f.rung_correlation],
            ),
            Para(
                "Does a short run predict the long one? Each rung's ranking of the variants (by the best candidate "
                f"it kept) against the final ranking of the selected arms ({f.key}); with successive halving also "
                "candidate by candidate (a variant's setting is one item) against the next rung and the last, pooled "
                "over variants. Descriptive: a handful of items, rungs with their own budgets and sample counts.",
                note=True,
            ),
        ]
    if f.best_of_k:
        files.append(S.best_of_k(f.best_of_k, colours, first.metric, out / "study_best_of_k.png"))
        blocks += [
            Figure("study_best_of_k.png", "expected best score against the number of candidates tried"),
            Para(
                f"How the answer depends on the tuning budget: the expected best {first.metric} after k candidates "
                "drawn at random from those tried (Dodge et al. 2019), 95% bootstrap band over the candidates; a "
                "failed candidate counts as the random floor." + _first_rung_caveat(f),
                note=True,
            ),
        ]
    return blocks, files


def blocks(f: StudyFindings, out: Path, colours: dict) -> tuple[list, list[Path], list[str]]:
    """The study section (verdict first) for report.md/html; the files written; warnings."""
    c = f.primary
    if not c.groups:
        search, files = _search_blocks(f, out, colours)
        return (
            [
                Heading("The study"),
                Para(headline(f) + " No selected arm has finished yet: nothing to compare.", lead=True),
            ]
            + search,
            files,
            [],
        )
    ctx = context(f, c)
    warnings = B.forest(c, colours, out / "study_forest.png", f.floor, f.ceiling)
    files = [out / "study_forest.png", _samples(f, out)]
    out_blocks = [Heading("The study")] + B.blocks(c, ctx, "study_forest.png", exclude=())
    out_blocks.insert(3, Figure("study_samples.png", "samples: real images, each selected arm, noise"))
    if f.reanalysis is not None:
        r = f.reanalysis
        B.forest(r, colours, out / "study_forest_ratio.png", f.floor, f.ceiling)
        files.append(out / "study_forest_ratio.png")
        changes = changed_calls(c, r)
        moved = "; ".join(f"{a} vs {b}: {said(x)} → {said(y)}" for a, b, x, y in changes)
        change_text = f"Verdicts this changes: {moved}." if changes else "It changes no pair's verdict."
        out_blocks += B.blocks(
            r,
            Context(caveats=[change_text]),
            "study_forest_ratio.png",
            title="Re-analysis on the ratio scale (post hoc)",
        )
    if f.goals:
        out_blocks += [
            Heading("Goal figures, for each selected arm", 3),
            Table(["selected arm", "metric", "mean", "goal", ""], f.goals),
            Para(
                "Stated for the protocol's own selected arms, never for the best of several arms picked on test.",
                note=True,
            ),
        ]
    every = f.vs_recipe or c
    out_blocks += [
        Heading("Every seed of every arm", 3),
        Table(B.GROUP_HEAD, B.group_rows(every) + [r for g in (f.floor, f.ceiling) if g for r in _baseline_row(g)]),
        *B.failed_blocks(failed_seeds(f)),
    ]
    if f.budgets:
        files.append(rank_curves(f.budgets, colours, f.key, out / "study_rank_vs_kimg.png"))
        out_blocks += [
            Heading("Rank at every budget (exploratory: Holm per budget)", 3),
            Figure("study_rank_vs_kimg.png", "rank against kimg"),
            Para(f.stability.text(f.key) if f.stability else "", note=True),
        ]
    frame = evals_frame([r for (v, _), rs in f.runs.items() if v in f.study.variants for r in rs], f.key)
    frame["group"] = [arm_label(*f.study.arm(run)) for run in frame["run"]]
    arm_colours = {arm_label(v, a): colours.get(v, "0.3") for v in f.order for a in (TUNED, RECIPE)}
    lines = tuple(
        CV.Line(g.centre, label, style, colour)
        for g, label, style, colour in (
            (f.floor, "random floor", "--", "0.4"),
            (f.ceiling, "real vs real", ":", "tab:green"),
        )
        if g is not None
    )
    files.append(
        CV.curves(
            frame,
            f.key,
            arm_colours,
            out / "study_curves.png",
            lines=lines,
            dashed=frozenset(arm_label(v, RECIPE) for v in f.order),
            title=f"{f.key} along training: selected (solid) and recipe (dashed) arms; "
            "line: mean over seeds, band: min-max",
            better=names.better(f.key),
        )
    )
    out_blocks += [Heading("Along training", 3), Figure("study_curves.png", f"{f.key} against kimg, both arms")]
    if f.vs_recipe is not None and f.vs_recipe.tested:
        B.forest(
            f.vs_recipe,
            colours,
            out / "study_arms.png",
            f.floor,
            f.ceiling,
            light=frozenset(arm_label(v, RECIPE) for v in f.order),
        )
        files.append(out / "study_arms.png")
        out_blocks += B.blocks(f.vs_recipe, Context(), "study_arms.png", title="Selected against recipe (exploratory)")
    search, more = _search_blocks(f, out, colours)
    out_blocks += search
    files += more
    if f.lenses is not None:
        out_blocks += [Heading("Two lenses on the same runs (exploratory)", 3), Para(lens_text(f.lenses))]
    for s in f.second_lens:
        c2 = s.comparison
        name = f"study_forest_{file_name(c2.key)}.png"
        warnings += B.forest(c2, colours, out / name, s.floor, s.ceiling)
        files.append(out / name)
        failed = [(g.name, o) for g in c2.groups for o in g.obs if o.failure]
        caveats = [failures(failed, sum(g.total for g in c2.groups))] if failed else []
        caveats += [x for x in (progress.improving_text(s.levels, c2.key),) if x]
        out_blocks += B.blocks(
            c2,
            Context(caveats=caveats, floor=s.floor, ceiling=s.ceiling),
            name,
            title=f"{c2.key}: the selected arms through the second lens (exploratory, its own family)",
        )
        ends = [r for g in (s.floor, s.ceiling) if g for r in _baseline_row(g)]
        out_blocks += [Heading(f"Every seed of every arm, {c2.key}", 4), Table(B.GROUP_HEAD, B.group_rows(c2) + ends)]
    return out_blocks, files, warnings


def _baseline_row(g) -> list[list[str]]:
    return [["–", g.name, "", fmt(g.centre), ", ".join(fmt(o.value) for o in g.obs), "–", g.noise]]
