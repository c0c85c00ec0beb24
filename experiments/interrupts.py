"""Ctrl-C that nothing can swallow.

Python raises KeyboardInterrupt wherever the main thread is when the signal comes; inside
a finalizer (`__del__`, a weakref callback) it is printed and dropped, and a long run goes
on as if never asked to stop. `install` keeps the raise (a prompt stop almost always) and
also records the request, so that `check` at each unit of work raises it again.
"""

import signal

_requested = False


def install() -> None:
    """SIGINT raises KeyboardInterrupt and is remembered for `check`."""

    def handler(signum, frame):
        global _requested
        _requested = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)


def check() -> None:
    """Raises KeyboardInterrupt when a SIGINT came since `install`, even a swallowed one."""
    if _requested:
        raise KeyboardInterrupt
