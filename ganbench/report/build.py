"""Putting the report together: per protocol cohort the findings, then the figures, sample grids and the pages.

The pages lead with what a reader came for: the verdict (`findings.verdict`), one figure of the ranking metric
per variant with its interval and letters (forest.png), the sample grids side by side; then the curves, the
tables, and last, folded, the protocol, the method notes and the provenance.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from ganbench import families as fam
from ganbench.io import write_grid_png
from ganbench.report import agreement, display, findings, pages, plots, protocol, study, study_page, tables
from ganbench.report.cohorts import cohorts, difference
from ganbench.report.findings import Findings
from ganbench.report.pages import Bullets, Code, Details, Figure, Gallery, Heading, Para, Table
from ganbench.report.runs import ReportError, Run, discover, group_label
from ganbench.rundir import RunDir, Status, file_name

FIGURES = ("fid_vs_kimg.png", "fid_vs_time.png", "losses.png", "d_outputs.png", "throughput.png")


@dataclass
class Report:
    out_dir: Path
    files: list[Path] = field(default_factory=list)  # everything written, in a stable order
    warnings: list[str] = field(default_factory=list)  # what is missing or unusual; also shown in the report


def write_report(
    results_dir: Path,
    out_dir: Path | None = None,
    real_images: bool = True,
    margin: float | None = None,
    against: tuple[Path, ...] = (),
) -> Report:
    """Read every run under `results_dir` and write the report files; see the package docstring. `margin`: the
    equivalence margin of the ranking metric (absolute); None: 10% of the best-to-random-floor gap, if any.
    `against`: other study folders (`ganbench study`) whose rankings this study's is lined up with."""
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir / "report"
    if RunDir(out).config.exists():
        raise ReportError(f"output folder '{out}' is a run folder: pick another -o (default: <results>/report)")
    for other in (results_dir, *against) if against else ():
        if not study.is_study(other):
            raise ReportError(
                f"--against lines up two studies, but '{other}' is not a study folder (no "
                f"{study.STUDY}): give folders written by `ganbench study`"
            )
    runs = discover(results_dir, exclude=out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out)
    report.warnings += [n for r in runs for n in r.notes]

    # ---- findings, one protocol cohort at a time: runs of different protocols are never ranked together
    groups = cohorts(runs)
    found = [findings.analyse(c, margin) for c in groups]
    several = len(found) > 1
    if several:
        report.warnings.append(
            f"these runs were made under {len(found)} evaluation protocols ({difference(groups)}): "
            "each is ranked in its own section, never against the others"
        )
    results = _stack([f.results for f in found], found, several)
    summary_frame = _stack([f.summary.frame for f in found], found, several)
    report.warnings += _missing_warnings(runs, results)
    proto, proto_warnings = protocol.protocol(runs)
    report.warnings += proto_warnings
    results.to_csv(out / "results.csv", index=False)
    summary_frame.to_csv(out / "summary.csv", index=False)
    report.files += [out / "results.csv", out / "summary.csv"]
    pairs = [pd.DataFrame([vars(p) for p in f.summary.pairs]) for f in found if f.summary.pairs]
    if pairs:
        _stack(pairs, [f for f in found if f.summary.pairs], several).to_csv(out / "pairwise.csv", index=False)
        report.files.append(out / "pairwise.csv")

    # ---- figures
    order = list(dict.fromkeys(g for f in found for g in f.summary.frame["group"]))
    families = dict(zip(summary_frame["group"], summary_frame["family"], strict=True))
    objectives = {
        g: o for g, o in zip(summary_frame["group"], summary_frame["objective"], strict=True) if isinstance(o, str)
    }
    colours = plots.palette(order, families)
    for f in found:
        if f.key:
            report.warnings += _forest(f, colours, out / f"forest{f.cohort.suffix}.png")
            report.files.append(out / f"forest{f.cohort.suffix}.png")
        if f.budgets:
            report.files.append(
                plots.rank_curves(f.budgets, colours, f.budget_key or "?", out / f"rank_vs_kimg{f.cohort.suffix}.png")
            )
    fid_key = tables.curve_metric(runs)  # the curves and the random baseline stay FID: the figure readers know
    evals = plots.evals_frame(runs, fid_key) if fid_key else plots.evals_frame([], "")
    baseline = next((b for f in found if (b := _baseline(f.summary, f.results, fid_key)) is not None), None)
    if fid_key and baseline is None:
        report.warnings.append(f"missing: no random baseline {fid_key} (run the 'random' variant to draw one)")
    report.warnings += plots.fid_curves(
        evals, fid_key, baseline, colours, out / "fid_vs_kimg.png", out / "fid_vs_time.png"
    )
    ticks = plots.ticks_frame(runs)
    report.warnings += plots.losses(ticks, order, families, objectives, out / "losses.png")
    report.warnings += plots.d_outputs(ticks, order, families, objectives, out / "d_outputs.png")
    device = (
        "; ".join(
            sorted({str(s.get("device_name") or s.get("device")) for r in runs if (s := r.summary or {}).get("device")})
        )
        or "an unrecorded device"
    )
    report.warnings += plots.throughput(results, order, colours, device, out / "throughput.png")
    report.files += [out / f for f in FIGURES]

    # ---- samples: every run's final grid, and real images beside them
    rank_key = next((f.key for f in found if f.key), None)
    real_file, real_note = _real_grid(runs[0], out / "real.png") if real_images else (None, "not requested")
    if real_file is None:
        report.warnings.append(f"real images unavailable: {real_note}")
    gallery, sheet = _sample_grids(runs, order, rank_key, out, real_file, real_note)
    plots.sample_sheet(sheet, out / "samples.png")
    report.files += ([real_file] if real_file else []) + [out / "samples.png"]
    report.files += [out / f for f, _ in gallery if f and f.startswith("samples/")]

    # ---- a study's own section (ganbench study): its verdict and figures come first
    study_blocks: list = []
    if study.is_study(results_dir):
        found_study = study.analyse(results_dir, runs)
        study_colours = plots.palette(
            found_study.order, {v: found_study.runs[(v, "tuned")][0].family for v in found_study.order}
        )
        study_blocks, study_files, study_warnings = study_page.blocks(found_study, out, study_colours)
        report.files += study_files
        report.warnings += study_warnings
        for other in against:  # each study analysed on its own; only the conclusions are lined up
            theirs = study.analyse(Path(other), discover(Path(other)))
            if not theirs.order:
                report.warnings.append(f"--against {other}: no tuned arm has finished there yet; nothing to line up")
                continue
            lined = agreement.compare(
                found_study, theirs, agreement.labels(found_study, theirs, (results_dir, Path(other)))
            )
            more, files = agreement.blocks(lined, out, study_colours)
            study_blocks += more
            report.files += files

    # ---- pages
    report.warnings = list(dict.fromkeys(report.warnings))  # once each, first-seen order
    tables_blocks = _table_blocks(found, several)
    if any(r.trial and not r.shared_trial for r in runs):  # a sweep: best setting per variant, spread of FID
        tables_blocks += _sweep_blocks(results_dir, out, report)
    method = [line for f in found for line in protocol.method_lines(f.summary, f.results)]
    method = list(dict.fromkeys(method))
    verdicts = _verdict_blocks(found, groups, several, figures=False)
    (out / "summary.md").write_text(
        pages.markdown(
            [
                Heading("ganbench summary", 1),
                *verdicts,
                *tables_blocks,
                Heading("Protocol and method"),
                Bullets(proto),
                Bullets(method),
            ]
        )
    )
    title = f"ganbench report: {results_dir.resolve().name}"
    blocks = _document(
        title,
        runs,
        results_dir,
        report.warnings,
        found,
        groups,
        several,
        tables_blocks,
        proto + method,
        results,
        order,
        gallery,
    )
    if study_blocks:  # the study leads; every run by protocol follows, as for any results folder
        blocks = [blocks[0], *study_blocks, Heading("Every run, by evaluation protocol"), *blocks[1:]]
    (out / "report.md").write_text(pages.markdown(blocks))
    (out / "report.html").write_text(pages.html_page(title, blocks, out))
    report.files += [out / "summary.md", out / "report.md", out / "report.html"]
    return report


def _stack(frames: list[pd.DataFrame], found: list[Findings], several: bool) -> pd.DataFrame:
    """Frames of the cohorts one under the other; with several cohorts, a `protocol` column says whose row it is."""
    if not several:
        return frames[0] if frames else pd.DataFrame()
    return pd.concat(
        [fr.assign(protocol=f.cohort.title()) for fr, f in zip(frames, found, strict=True)], ignore_index=True
    )


def _forest(f: Findings, colours: dict, path: Path) -> list[str]:
    s = f.summary

    def row(g: str) -> plots.ForestRow:
        iv = s.intervals[(g, s.rank_by)]
        return plots.ForestRow(
            g, iv.mean, iv.low, iv.high, iv.n, f.values(g), s.letters.get(g, ""), colours.get(g, (0.3, 0.3, 0.3))
        )

    return plots.forest(
        [row(g) for g in s.trained()],
        row(s.floor) if s.floor else None,
        f.key or "?",
        path,
        ceiling=row(s.ceiling) if s.ceiling else None,
    )


def _verdict_blocks(found: list[Findings], groups, several: bool, figures: bool = True) -> list:
    if not several:
        f = found[0]
        return [Para(findings.verdict(f), lead=True)] + (
            [Figure(f"forest{f.cohort.suffix}.png", f"{f.key} per variant with its interval and letters")]
            if figures and f.key
            else []
        )
    blocks: list = [
        Para(
            f"These runs were made under {len(found)} evaluation protocols, which differ in "
            f"{difference(groups)}: each is ranked on its own, never against the others.",
            lead=True,
        )
    ]
    for i, f in enumerate(found, 1):
        blocks += [Heading(f"Protocol {i}: {f.cohort.title()}"), Para(findings.verdict(f), lead=True)]
        if figures and f.key:
            blocks.append(Figure(f"forest{f.cohort.suffix}.png", f"{f.key} per variant, protocol {i}"))
    return blocks


def _table_blocks(found: list[Findings], several: bool) -> list:
    blocks: list = []
    for i, f in enumerate(found, 1):
        if several:
            blocks.append(Heading(f"Protocol {i}: {f.cohort.title()}", 3))
        for view in display.summary_tables(f.summary, f.results, tables.curve_metric(f.cohort.runs)):
            blocks += [Heading(view.title, 3), Table(view.header, view.rows)]
            if view.note:
                blocks.append(Para(view.note, note=True))
    return blocks


def _sweep_blocks(results_dir: Path, out: Path, report: Report) -> list:
    from ganbench.report.sweep import plot_sweep_spread, sweep_runs, sweep_table, sweep_table_rows

    sweep = sweep_table(results_dir)
    sweep.to_csv(out / "sweep.csv", index=False)
    png = plot_sweep_spread(sweep_runs(results_dir), out / "sweep_spread.png")
    head, rows = sweep_table_rows(sweep)
    report.files += [out / "sweep.csv"] + ([png] if png else [])
    spread = (
        Figure("sweep_spread.png", "FID per variant over the settings searched (each run a point)")
        if png
        else Para(sweep.attrs.get("note", "no FID in these results"))
    )
    return [Heading("Sweep: best setting per variant", 3), Table(head, rows), spread]


def _missing_warnings(runs: list[Run], results) -> list[str]:
    """'missing: no FID evaluations in vae/seed1', or once for all runs when none was evaluated."""
    missing = results.set_index("run")["missing"].dropna()
    if len(missing) == len(runs) and (missing == "no FID evaluations").all():
        return [
            "missing: no FID evaluations in any run (made with --no-eval?): no FID columns, FID plots are placeholders"
        ]
    return [f"missing: {what} in {run}" for run, text in missing.items() for what in text.split("; ")]


def _baseline(summary: tables.Summary, results, fid_key: str | None) -> float | None:
    """Mean final FID of the random baseline (i.i.d. uniform pixel noise): the level a trained variant must beat."""
    col = f"{fid_key}_final"
    if fid_key is None or col not in results:
        return None
    frame = summary.frame
    rows = frame[frame["family"].map(fam.is_floor).astype(bool) & (frame[f"{col}_n"] > 0)]
    return float(rows[f"{col}_mean"].iloc[0]) if len(rows) else None


def _real_grid(run: Run, path: Path) -> tuple[Path | None, str]:
    """The first 64 training images of the runs' data set as an 8x8 grid, or None and the reason."""
    try:
        from ganbench.config import FIELDS, Config, migrate
        from ganbench.data import load_dataset, spec_from_config

        spec = spec_from_config(Config(**{k: v for k, v in migrate(run.config).items() if k in FIELDS}))
        # The loaders take a prefix for max_images, so 64 gives the same first images as the full set,
        # without decoding the whole data set when it is not cached.
        spec = replace(spec, max_images=min(64, spec.max_images) if spec.max_images > 0 else 64)
        images = load_dataset(spec).images[:64].numpy()
        write_grid_png(images, path)
    except Exception as e:  # the data may be gone or unreadable here: the report goes on without it
        return None, f"{type(e).__name__}: {e}"
    return path, f"first {len(images)} training images ({spec.name}, {spec.resolution}x{spec.resolution})"


def _sample_grids(
    runs: list[Run], order: list[str], rank_key: str | None, out: Path, real_file: Path | None, real_note: str
) -> tuple[list[tuple[str | None, str]], list]:
    """Copy each run's grid into out/samples/; return the gallery (all runs) and the sheet (one seed per group)."""
    (out / "samples").mkdir(exist_ok=True)  # nothing is deleted: the pages link only this report's copies
    gallery: list[tuple[str | None, str]] = [("real.png" if real_file else None, f"real: {real_note}")]
    sheet = [(real_file, "real", real_note)]
    by_group: dict[str, list[Run]] = {}
    for run in runs:
        by_group.setdefault(group_label(run), []).append(run)
    for g in order:
        first = True
        for run in sorted(by_group.get(g, []), key=lambda r: (r.status != Status.COMPLETED, r.seed or 0)):
            path, which = run.sample_grid()
            fid = run.final_metrics().get(rank_key) if rank_key else None
            extra = f", {rank_key} {display.fmt(fid)}" if fid is not None else ""
            status = "" if run.status == Status.COMPLETED else f", {run.status}"
            caption = f"{g} seed{run.seed} ({which}{status}{extra})"
            name = None
            if path is not None:
                name = f"samples/{file_name(run.name.replace('/', '_') + '.png')}"
                shutil.copyfile(path, out / name)
            gallery.append((name, caption))
            if first:
                title = f"{g} seed{run.seed}\n{which}{status}{extra}"
                sheet.append((out / name if name else None, title, f"{g}: no sample grid yet"))
                first = False
    return gallery, sheet


def _document(
    title: str,
    runs: list[Run],
    results_dir: Path,
    warnings: list[str],
    found: list[Findings],
    groups,
    several: bool,
    tables_blocks: list,
    method: list[str],
    results,
    order: list[str],
    gallery,
) -> list:
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    blocks: list = [
        Heading(title, 1),
        *_verdict_blocks(found, groups, several),
        Heading("Samples"),
        Figure("samples.png", "sample grids side by side, real images first"),
    ]
    if warnings:
        blocks += [Heading("What is missing or unusual"), Bullets(warnings, warn=True)]
    blocks += [
        Heading("During training"),
        Figure("fid_vs_kimg.png", "FID against kimg"),
        Figure("fid_vs_time.png", "FID against training wall-clock"),
    ]
    for i, f in enumerate(found, 1):
        if f.budgets:
            blocks += [
                Heading("Rank against budget" + (f", protocol {i}" if several else ""), 3),
                Figure(f"rank_vs_kimg{f.cohort.suffix}.png", f"rank by {f.budget_key} at each budget"),
                Para(f.stability.text(f.budget_key or "") if f.stability else "", note=True),
            ]
    blocks += [
        Heading("Training dynamics", 3),
        Figure("losses.png", "G and D losses"),
        Figure("d_outputs.png", "mean D output on real and fake"),
        Heading("Tables"),
        *tables_blocks,
        Figure("throughput.png", "images per second and peak memory"),
    ]
    view = display.results_table(results, order)
    blocks += [Heading(view.title, 3), Table(view.header, view.rows), Para(view.note, note=True)]
    published = protocol.published_table(runs)
    if published is not None:
        blocks += [
            Heading(f"Published figures ({protocol.PUBLISHED_LABEL})"),
            Para(
                "Measured under other protocols (networks, sample counts, reference sets, Inception ports "
                "and training lengths differ), so they place the scale, never rank against the tables "
                "above."
            ),
            Table(*published),
        ]
    commands = sorted({" ".join(str(a) for a in r.meta.get("command") or []) for r in runs} - {""})
    n_groups = len({group_label(r) for r in runs})
    folded = [
        Para(
            f"{len(runs)} runs of {n_groups} variants in {results_dir.resolve()}, report made {created} "
            "from the result files alone."
        ),
        Bullets(method),
        Heading("Every run's sample grid (final, or the latest while a run is unfinished)", 3),
        Gallery(gallery),
        Code("commands that made these runs", "\n".join(commands) or "not recorded"),
        Code(
            "metric protocol of each evaluated run",
            display.dumps(
                {
                    r.name: (r.summary or {}).get("metric_protocol")
                    for r in runs
                    if (r.summary or {}).get("metric_protocol")
                }
            ),
        ),
        Code("config of each run", display.dumps({r.name: r.config for r in runs})),
    ]
    blocks += [
        Heading("Protocol, method and provenance"),
        Details("How these numbers were made: protocol, statistics, every run's samples, provenance", folded),
    ]
    return blocks
