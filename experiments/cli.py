"""The long-running scripts' shared shell: a mistake, a failing disk or Ctrl-C each end
in one line that says what was kept."""

import sys
import warnings
from collections.abc import Callable

from absl import logging

from experiments import files, interrupts


def _sentence(message, category, filename, lineno, line=None) -> str:
    del category, filename, lineno, line
    return f"warning: {message}\n"


def sentences() -> None:
    """Warnings a user sees as one line each, "warning: <message>" (each message names its
    file and what happened), not Python's default with a line of the project's source."""
    warnings.formatwarning = _sentence


def run_main(argv: list[str], run: Callable, errors: tuple, kept: str, stopped: str):
    """`run()`'s result; exits with "error: ..." on `errors` (one line, the exception's
    text) or an OSError (its path and reason, then `kept`), and with status 130 and
    "stopped; `stopped`" on Ctrl-C (`interrupts`: even one a finalizer swallowed)."""
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every step at INFO.
    sentences()
    interrupts.install()
    try:
        return run()
    except errors as e:
        sys.exit(f"error: {e}")
    except OSError as e:  # A full disk, a path that is a file, a read-only directory.
        sys.exit(f"error: {files.os_error(e)}; {kept}")
    except KeyboardInterrupt:
        print(f"stopped; {stopped}", file=sys.stderr)
        sys.exit(130)
