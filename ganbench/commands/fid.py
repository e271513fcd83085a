"""`ganbench fid A B`: parse the options, call `ganbench.metrics.compare.compare`, print its table or its JSON.
Errors are one line on stderr, exit code 2 (--debug: the traceback)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ganbench.io import jsonable
from ganbench.metrics import evaluator as ev
from ganbench.metrics import inception
from ganbench.metrics.compare import compare, format_table


def _fail(message: str) -> None:
    typer.echo(f"ganbench fid: error: {message}", err=True)
    raise typer.Exit(2)


def fid_command(
    a: Annotated[
        str, typer.Argument(help="Generated side: run directory, data set (NAME[:ROOT][:SPLIT]) or image folder.")
    ],
    b: Annotated[str, typer.Argument(help="Reference side, same syntax (e.g. celeba:/data/celeba:test).")],
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            "-n",
            help="Images from A (generated, or the first N of a "
            "set); metric names carry it. Published numbers use 10000 or 50000.",
        ),
    ] = 500,
    ref_samples: Annotated[int, typer.Option("--ref-samples", help="Images from B; 0 = as many as --samples.")] = 0,
    resolution: Annotated[
        int,
        typer.Option(
            help="Resolution data sets are read at (0 = the run's, else 64). Plain "
            "folders are read as they are unless this or --crop is given."
        ),
    ] = 0,
    crop: Annotated[
        int,
        typer.Option(
            help="Centre-crop size before resizing; 0 = the run's or the data set's "
            "default. Given, it also crops and resizes plain folders."
        ),
    ] = 0,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object on stdout, with the whole protocol.")
    ] = False,
    inception_weights: Annotated[
        str,
        typer.Option(
            "--inception-weights",
            envvar=inception.WEIGHTS_ENV,
            help="Inception weights file (torch-fidelity's .pth); default: the bundled standard weights.",
        ),
    ] = "",
    device: Annotated[str, typer.Option(help="auto | cuda | mps | cpu")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per Inception batch.")] = 100,
    metrics: Annotated[
        str,
        typer.Option(
            help="Metrics by name, comma-separated: fid, fidinf, kid, pr, dc "
            "(density/coverage), c2st (see `ganbench list`)."
        ),
    ] = ",".join(ev.DEFAULT_METRICS),
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """FID, KID and precision/recall between two image sources (data sets, folders, run directories)."""
    try:
        result = compare(a, b, samples, ref_samples, resolution, crop, inception_weights, device, batch_size, metrics)
    except (ValueError, FileNotFoundError, KeyError, OSError, RuntimeError) as e:
        if debug:
            raise
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        _fail(msg.strip().splitlines()[0] if msg.strip() else type(e).__name__)
    if json_out:
        typer.echo(json.dumps(jsonable(result), indent=2))
    else:
        typer.echo(format_table(result))
