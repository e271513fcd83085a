"""What users are told when something is wrong: the error types, the one-line message of a failed run, and the
CLI's guard that turns user errors into one line on stderr (exit code 2; --debug shows the traceback)."""

from __future__ import annotations

import errno
from contextlib import contextmanager

from ganbench.io import DiskFull


class ConfigError(ValueError):
    """A config that cannot run. The message says what is wrong and how to fix it."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded, or is refused; the message names the file and says why (and, where the
    command writes the run, what to do)."""


# Errors whose message is meant for the user: shown as one line, without a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    CheckpointError,
    ValueError,
    FileNotFoundError,
    KeyError,
    OSError,
)


def describe_error(e: BaseException) -> str:
    """One line for a failed run: what went wrong and, where it is known, what to do."""
    if isinstance(e, DiskFull):
        return str(e)
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return str(DiskFull(e.errno, e.strerror, e.filename))
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        first = str(e).splitlines()[0] if str(e) else "out of memory"
        return f"out of memory ({first[:200]}): lower batch_size, resolution or the widths, or use a larger device"
    text = " ".join(str(e).split())  # one line, whatever the exception's message looks like
    return f"{type(e).__name__}: {text}" if not isinstance(e, ConfigError) else text


def fail(message: str, code: int = 2) -> None:
    import typer

    typer.echo(f"ganbench: error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def guarded(debug: bool):
    """User-facing errors in the body become one line on stderr and exit code 2; --debug re-raises them."""
    try:
        yield
    except USER_ERRORS as exc:
        if debug:
            raise
        fail(str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc))
