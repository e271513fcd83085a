"""The `ganbench` command line: one module per command, each parsing its options and calling a library function
(the work is in the library, which any script can call too). Choices come from the registries; errors are one line
on stderr (--debug: the traceback). Nothing in the package imports this package; `ganbench` (pyproject.toml's
console script) and `python -m ganbench` start `app`.
"""

from __future__ import annotations

import typer

from ganbench.commands.fid import fid_command
from ganbench.commands.list import list_
from ganbench.commands.report import report_command
from ganbench.commands.run import run
from ganbench.commands.sample import sample
from ganbench.commands.selftest import selftest
from ganbench.commands.study import study_command
from ganbench.commands.sweep import sweep_command

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="ganbench: compare GAN objectives on one DCGAN backbone under one budget.",
)
app.command("run")(run)
app.command("list")(list_)
app.command("sample")(sample)
app.command("selftest")(selftest)
app.command("fid")(fid_command)
app.command("report")(report_command)
app.command("sweep")(sweep_command)
app.command("study")(study_command)


def main() -> None:  # pragma: no cover
    app()
