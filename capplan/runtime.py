"""How the command line runs a command: with the cyclic garbage collector paused.

Stage: process set-up, entered by the CLI alone (`capplan.cli.app.main`) around each command; the
library does not pause the collector itself. A program that calls the library on large configs
gets the command line's speed by entering `command_runtime()` too (bench/config_speed.py does).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def command_runtime() -> Iterator[None]:
    """Pause the cyclic collector for one command, then restore it.

    Reading a config builds tens of thousands of small frozen objects, none in a cycle: with the
    collector running, its generation scans cost 45 % of a 10,000-vhost read (bench/config_speed.py:
    0.70 s instead of 0.38 s). A command is short and its few cycles (exception tracebacks) are
    freed when the process ends.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
