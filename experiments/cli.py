"""The commands' shared shell: how each starts (`entry`: its usage, its own flags under
`--help`), and how a long run ends: a mistake, a failing disk or Ctrl-C each in one line
that says what was kept."""

import sys
import warnings
from collections.abc import Callable

from absl import app, flags, logging

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


# The packages whose flags are a command's own (absl's and JAX's are `--helpfull`'s).
OWN_FLAGS = ("experiments", "weights_convert")
HELP_FLAGS = {"-h", "-?", "--help", "--helpshort", "--helpfull", "--helpxml"}


def entry(main: Callable, usage: str) -> None:
    """Runs a command's `main` under absl: `--help` prints `usage` (its module's docstring)
    and the command's own flags with their help; `--helpfull` adds absl's.

    absl's `--help` lists the flags it counts as the main module's, keyed by `sys.argv[0]`:
    an installed console script (`eigjax-study`) or `python -m` path defines none itself, so
    the flags eigjax's packages define are registered for it here.
    """
    program = sys.argv[0]
    for module, defined in flags.FLAGS.flags_by_module_dict().items():
        if module == program or module.split(".")[0] in OWN_FLAGS:
            for flag in defined:
                flags.FLAGS.register_key_flag_for_module(program, flag)
    sys.modules["__main__"].__doc__ = usage
    try:
        app.run(main)
    except SystemExit as e:  # absl ends a help it printed with status 1: a help asked for
        if e.code == 1 and set(sys.argv[1:]) & HELP_FLAGS:  # succeeded.
            sys.exit(0)
        raise
