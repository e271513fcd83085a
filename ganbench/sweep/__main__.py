"""python -m ganbench.sweep FILE ..."""

import typer

from ganbench.sweep.command import sweep_command

typer.run(sweep_command)
