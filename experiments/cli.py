"""The long-running scripts' shared shell: a mistake, a failing disk or Ctrl-C each end
in one line that says what was kept."""

import sys
from collections.abc import Callable

from absl import logging

from experiments import config, interrupts


def run_main(argv: list[str], run: Callable, errors: tuple, kept: str, stopped: str):
    """`run()`'s result; exits with "error: ..." on `errors` (one line, the exception's
    text) or an OSError (its path and reason, then `kept`), and with status 130 and
    "stopped; `stopped`" on Ctrl-C (`interrupts`: even one a finalizer swallowed)."""
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every step at INFO.
    interrupts.install()
    try:
        return run()
    except errors as e:
        sys.exit(f"error: {e}")
    except OSError as e:  # A full disk, a path that is a file, a read-only directory.
        sys.exit(f"error: {config.os_error(e)}; {kept}")
    except KeyboardInterrupt:
        print(f"stopped; {stopped}", file=sys.stderr)
        sys.exit(130)
