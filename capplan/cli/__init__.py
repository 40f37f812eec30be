"""Command-line layer: the only package that imports typer, prints, and chooses exit codes.

Each command lives in its own module and registers itself on `app`; command bodies import the core
lazily so that `capplan --help` stays fast.
"""

from capplan.cli.app import app, main, run

# Command modules register themselves on `app` when imported (one line per command).
# Each command module is imported below for its side effect of registering a command.
from capplan.cli import schema_cmd  # noqa: F401  isort: skip
from capplan.cli import inspect_cmd  # noqa: F401  isort: skip
from capplan.cli import measure_cmd  # noqa: F401  isort: skip
from capplan.cli import queue_cmd  # noqa: F401  isort: skip
from capplan.cli import profile_cmd  # noqa: F401  isort: skip
from capplan.cli import recommend_cmd  # noqa: F401  isort: skip
from capplan.cli import check_cmd  # noqa: F401  isort: skip
from capplan.cli import compare_cmd  # noqa: F401  isort: skip
from capplan.cli import profiles_cmd  # noqa: F401  isort: skip
from capplan.cli import fit_cmd  # noqa: F401  isort: skip
from capplan.cli import sweep_cmd  # noqa: F401  isort: skip

__all__ = ["app", "main", "run"]
