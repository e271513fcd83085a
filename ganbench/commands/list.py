"""`ganbench list`: every name a user can choose (`ganbench.catalogue`), as text or as one JSON object."""

from __future__ import annotations

from typing import Annotated

import typer

from ganbench.catalogue import catalogue, catalogue_text


def list_(
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """List variants, families, objectives, penalties, optimisers, metrics and data sets."""
    import json

    typer.echo(json.dumps(catalogue(), indent=2) if json_out else catalogue_text(catalogue()))
