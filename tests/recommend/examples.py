"""The shipped example configs, copied to a temporary directory so that real apache2 accepts them.

The copying and fixing-up (ServerRoot, module directory, run and log directories) is the one
`tests/test_examples.py` does; this module only looks cases up by name.
"""

from __future__ import annotations

from pathlib import Path

from tests.test_examples import EXAMPLE_CASES, Example

EXAMPLES_BY_NAME = {example.name: example for example in EXAMPLE_CASES}
EXAMPLE_NAMES = tuple(EXAMPLES_BY_NAME)


def prepare(name: str, tmp: Path) -> tuple[Path, Path, list[str]]:
    """Copy example `name` under `tmp`: (tree, main config file, the `apache2 -t` command)."""
    example: Example = EXAMPLES_BY_NAME[name]
    tmp.mkdir(parents=True, exist_ok=True)
    return example.prepare(tmp)
