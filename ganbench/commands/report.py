"""`ganbench report <dir>`: parse the options, call `ganbench.report.write_report`, print the files it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report_command(
    results: Annotated[Path, typer.Argument(help="A results folder of `ganbench run` (or one run folder in it).")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Output folder; default <results>/report.")] = None,
    real: Annotated[
        bool,
        typer.Option(
            "--real/--no-real",
            help="Show real training images beside the samples (loads the first 64 from the runs' data set).",
        ),
    ] = True,
    margin: Annotated[
        float | None,
        typer.Option(
            help="Equivalence margin of the ranking metric, absolute, in its "
            "units (e.g. 0.02 for KID): a pair is called tied only when two "
            "one-sided tests put its difference inside ±margin. Default: 10% "
            "of the gap between the best variant and the random floor; "
            "without a random floor, no tie is claimed."
        ),
    ] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            help="Analysis scale: log (ratio-scale metrics such as FID and a positive KID: effects are ratios, "
            "--margin a ratio such as 1.25) or raw (differences; --margin absolute). Default: a study's declared "
            "plan, else raw with the ratio-scale re-analysis beside it."
        ),
    ] = None,
    against: Annotated[
        list[Path] | None,
        typer.Option(
            "--against",
            metavar="STUDY_DIR",
            help="Another study folder (`ganbench study`; repeatable): line up where its ranking and this study's "
            "agree, "
            "pair by pair, each tested on its own (e.g. the same study on a second data set).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Tables, curves, sample grids and an HTML page comparing the variants, from the result files alone.

    Output paths go to stdout; missing pieces (runs in progress, diverged runs, missing metrics) to stderr and
    into the report itself.
    """
    from ganbench.report import write_report

    try:
        if margin is not None and not margin > 0:
            raise ValueError(f"--margin must be a positive number in the ranking metric's units, got {margin}")
        report = write_report(results, out, real_images=real, margin=margin, against=tuple(against or ()), scale=scale)
    except (ValueError, OSError) as e:  # ReportError, ConfigError, unreadable files: one line, as in ganbench
        if debug:
            raise
        typer.echo(f"ganbench: error: {e}", err=True)
        raise typer.Exit(2) from None
    for w in report.warnings:
        typer.echo(f"ganbench report: {w}", err=True)
    for path in report.files:
        typer.echo(str(path))
