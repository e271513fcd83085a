"""Putting the report together: read the runs, analyse each protocol cohort (and a study's record) with the one
comparison owner, render every section with the same figure functions and the same verdict writer.

The pages lead with what a reader came for: the verdict, one figure, the sample grids; then the curves, the tables,
and last, folded, the protocol (a compact table of what differs between runs), the method notes and the commands.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from ganbench import families as fam
from ganbench.io import first_link, write_grid_png
from ganbench.report import agreement, display, document, findings, pages, protocol, study, study_page, tables
from ganbench.report import blocks as B
from ganbench.report.cohorts import cohorts, difference
from ganbench.report.figures import canvas as C
from ganbench.report.figures import curves as CV
from ganbench.report.figures import dynamics as D
from ganbench.report.figures.ranks import rank_curves
from ganbench.report.figures.samples import sample_sheet
from ganbench.report.findings import Findings
from ganbench.report.frames import evals_frame, ticks_frame
from ganbench.report.pages import Bullets, Heading
from ganbench.report.plan import first_protocol, given
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
    scale: str | None = None,
) -> Report:
    """Read every run under `results_dir` and write the report files; see the package docstring. `margin`,
    `scale`: an analysis plan given to the report (absolute margin in the metric's units on the raw scale, a ratio
    on the log scale); neither: the first protocol's rule (raw, 10% of the best-to-floor gap) with the ratio-scale
    re-analysis beside it. `against`: other study folders whose rankings this study's is lined up with."""
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir / "report"
    if RunDir(out).config.exists():
        raise ReportError(f"output folder '{out}' is a run folder: pick another -o (default: <results>/report)")
    for other in (results_dir, *against) if against else ():
        if not study.is_study(other):
            raise ReportError(
                f"--against lines up two studies, but '{other}' is not a study folder (no study.json): give "
                "folders written by `ganbench study`"
            )
    _refuse_links(out)
    runs = discover(results_dir, exclude=out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out)
    report.warnings += [n for r in runs for n in r.notes]
    plan = given(margin, scale) or first_protocol()

    # ---- analyse: one protocol cohort at a time (runs of different protocols are never ranked together)
    groups = cohorts(runs)
    found = [findings.analyse(c, plan) for c in groups]
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
    results.drop(columns=["run_dir"], errors="ignore").to_csv(out / "results.csv", index=False)
    summary_frame.to_csv(out / "summary.csv", index=False)
    report.files += [out / "results.csv", out / "summary.csv"]
    pairs = [_pair_frame(f) for f in found if f.comparison is not None and f.comparison.pairs]
    if pairs:
        _stack(pairs, [f for f in found if f.comparison is not None and f.comparison.pairs], several).to_csv(
            out / "pairwise.csv", index=False
        )
        report.files.append(out / "pairwise.csv")

    # ---- figures, each by the one function of its kind
    order = list(dict.fromkeys(g for f in found for g in f.summary.frame["group"]))
    families = dict(zip(summary_frame["group"], summary_frame["family"], strict=True))
    objectives = {
        g: o for g, o in zip(summary_frame["group"], summary_frame["objective"], strict=True) if isinstance(o, str)
    }
    colours = C.palette(order, families)
    for f in found:
        if f.comparison is not None:
            c = f.comparison
            report.warnings += B.forest(
                c,
                colours,
                out / f"forest{f.cohort.suffix}.png",
                exclude=findings.baselines(f),
                floor=c.group(f.summary.floor) if f.summary.floor else None,
                ceiling=c.group(f.summary.ceiling) if f.summary.ceiling else None,
            )
            report.files.append(out / f"forest{f.cohort.suffix}.png")
        if f.budgets:
            report.files.append(
                rank_curves(f.budgets, colours, f.budget_key or "?", out / f"rank_vs_kimg{f.cohort.suffix}.png")
            )
    report.warnings += _curves(runs, found, colours, out)
    ticks = ticks_frame(runs)
    report.warnings += D.losses(ticks, order, families, objectives, out / "losses.png")
    report.warnings += D.d_outputs(ticks, order, families, objectives, out / "d_outputs.png")
    device = (
        "; ".join(
            sorted({str(s.get("device_name") or s.get("device")) for r in runs if (s := r.summary or {}).get("device")})
        )
        or "an unrecorded device"
    )
    report.warnings += D.throughput(results, order, colours, device, out / "throughput.png")
    report.files += [out / f for f in FIGURES]

    # ---- samples: every run's final grid, and real images beside them
    rank_key = next((f.key for f in found if f.key), None)
    real_file, real_note = _real_grid(runs[0], out / "real.png") if real_images else (None, "not requested")
    if real_file is None:
        report.warnings.append(f"real images unavailable: {real_note}")
    gallery, sheet = _sample_grids(runs, order, rank_key, out, real_file, real_note)
    is_study = study.is_study(results_dir)
    if not is_study:  # a study's own sheet (one grid per selected arm) leads its section instead
        sample_sheet(sheet, out / "samples.png")
        report.files.append(out / "samples.png")
    report.files += [real_file] if real_file else []
    report.files += [out / f for f, _ in gallery if f and f.startswith("samples/")]

    # ---- a study's own section (ganbench study): its verdict and figures come first
    study_blocks: list = []
    if is_study:
        mine = study.analyse(results_dir, runs)
        study_colours = C.palette(mine.study.variants, {v: rs[0].family for (v, _), rs in mine.runs.items()})
        study_blocks, study_files, study_warnings = study_page.blocks(mine, out, study_colours)
        report.files += study_files
        report.warnings += study_warnings
        for i, other in enumerate(against):  # each study analysed on its own; only the conclusions are lined up
            theirs = study.analyse(Path(other), discover(Path(other)))
            if not mine.order or not theirs.order:
                where = other if not theirs.order else results_dir
                report.warnings.append(
                    f"--against {other}: no selected arm has finished in {where} yet; nothing to line up"
                )
                continue
            labels = agreement.labels(mine, theirs, (results_dir, Path(other)))
            more, files = agreement.blocks(agreement.compare(mine, theirs, labels), out, study_colours)
            study_blocks += more
            report.files += files
            if mine.reanalysis is not None and theirs.reanalysis is not None:
                lined = agreement.compare(mine, theirs, labels, mine.reanalysis, theirs.reanalysis)
                more, files = agreement.blocks(
                    lined,
                    out,
                    study_colours,
                    f"Against {labels[1]}, both re-analysed on the ratio scale (post hoc)",
                    f"agreement_ratio{'' if i == 0 else f'-{i + 1}'}.png",
                )
                study_blocks += more
                report.files += files

    # ---- pages
    report.warnings = list(dict.fromkeys(report.warnings))  # once each, first-seen order
    tables_blocks = document.table_blocks(found, several)
    # a sweep: best setting per variant, spread of FID. Never for a study: its search section shows the choice its
    # protocol made (the last rung's, on the selection split), and a best FID pooled over rungs and the test split
    # would be another choice, partly on test
    if any(r.trial and not r.shared_trial for r in runs) and not is_study:
        tables_blocks += document.sweep_blocks(results_dir, out, report.files)
    method = list(dict.fromkeys(line for f in found for line in protocol.method_lines(f.summary, f.results)))
    verdicts = document.verdict_blocks(found, groups, several, figures=False)
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
    blocks = document.document(
        title,
        runs,
        report.warnings,
        found,
        groups,
        several,
        tables_blocks,
        proto + method,
        results,
        order,
        gallery,
        sheet=not is_study,
    )
    if study_blocks:  # the study leads; every run by protocol follows, as for any results folder
        blocks = [blocks[0], *study_blocks, Heading("Every run, by evaluation protocol (exploratory)"), *blocks[1:]]
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


def _pair_frame(f: Findings) -> pd.DataFrame:
    """pairwise.csv: every pair of the cohort under the report's plan, and under the ratio re-analysis beside it."""
    rows = []
    for c in (f.comparison, f.reanalysis):
        if c is None:
            continue
        for p in c.pairs:
            row = {k: v for k, v in vars(p).items() if k != "prob"}
            row |= {"prob": p.prob.value, "prob_low": p.prob.low, "prob_high": p.prob.high, "call": p.call}
            rows.append({"plan": c.plan.source, "scale": c.scale, **row})
    return pd.DataFrame(rows)


def _curves(runs: list[Run], found: list[Findings], colours: dict, out: Path) -> list[str]:
    """The curves readers know (FID against kimg and against wall-clock), the random floor as a line."""
    key = tables.curve_metric(runs)
    trained = [r for r in runs if not fam.is_baseline(r.family)]
    frame = evals_frame(trained, key) if key else evals_frame([], "")
    if frame.empty:
        why = (
            f"no {key} evaluations of trained variants in these results"
            if key
            else "no FID evaluations in these results (were the runs made with --no-eval?)"
        )
        C.placeholder(out / "fid_vs_kimg.png", "FID against kimg", why)
        C.placeholder(out / "fid_vs_time.png", "FID against wall-clock", why)
        return [f"missing: {why}; FID plots are placeholders"] if key else []
    warnings = []
    floor = [r.final_metrics()[key] for r in runs if fam.is_floor(r.family) and key in r.final_metrics()]
    lines = (CV.Line(sum(floor) / len(floor), "random baseline (uniform noise)"),) if floor else ()
    if not floor:
        warnings.append(f"missing: no random baseline {key} (run the 'random' variant to draw one)")
    CV.curves(frame, key, colours, out / "fid_vs_kimg.png", lines=lines, title=f"{key} against kimg — {C.BAND_NOTE}")
    frame = frame.copy()
    mean_s = frame.groupby(["group", "kimg"])["seconds"].transform("mean")
    scale, unit = CV.time_unit(float(mean_s.max()) if mean_s.notna().any() else 0.0)
    frame["time"] = mean_s / scale
    if frame["time"].isna().any():
        warnings.append("missing: some evaluations have no wall-clock time; they are left out of fid_vs_time.png")
    CV.curves(
        frame,
        key,
        colours,
        out / "fid_vs_time.png",
        x="time",
        xlabel=f"training wall-clock ({unit}, evaluation excluded; mean over seeds)",
        lines=lines,
        title=f"{key} against wall-clock — {C.BAND_NOTE}",
    )
    return warnings


def _missing_warnings(runs: list[Run], results) -> list[str]:
    """'missing: no FID evaluations in vae/seed1', or once for all runs when none was evaluated."""
    missing = results.set_index("run")["missing"].dropna()
    if len(missing) == len(runs) and (missing == "no FID evaluations").all():
        return [
            "missing: no FID evaluations in any run (made with --no-eval?): no FID columns, FID plots are placeholders"
        ]
    return [f"missing: {what} in {run}" for run, text in missing.items() for what in text.split("; ")]


def _refuse_links(out: Path) -> None:
    """Refuse an output folder that is, or holds, a symbolic link. The report writes fixed file names into it, and
    its default (`<results>/report`) comes with a shared results folder: a link there (`report/report.html` to a
    file of the reader's, `report/samples` to a folder) would make the report write outside its output folder."""
    link = out if out.is_symlink() else first_link(out)
    if link is not None:
        raise ReportError(
            f"output folder '{out}' holds a symbolic link ({link}): the results folder may have been modified; "
            "nothing was written (pick another -o)"
        )


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
