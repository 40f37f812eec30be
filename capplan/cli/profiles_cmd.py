"""`capplan profiles`: list the traffic profiles shipped with capplan, one line each.

Input: nothing. Output: each shipped profile's name (usable as `-p NAME`) and the one-line summary
its file opens with; `--paths` adds where each file is installed, to copy and edit it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from capplan.cli.app import app
from capplan.cli.common import emit


@app.command("profiles")
def profiles_command(
    paths: Annotated[
        bool, typer.Option("--paths", help="Also print where each profile file is installed.")
    ] = False,
) -> None:
    """List the shipped traffic profiles (use one with -p NAME)."""
    from capplan.catalog import shipped_profiles
    from capplan.errors import CapplanError

    shipped = shipped_profiles()
    if not shipped:
        raise CapplanError("no shipped profiles are installed with this copy of capplan")
    width = max(len(p.name) for p in shipped)
    lines = []
    for profile in shipped:
        line = f"{profile.name:<{width}}  {profile.summary}".rstrip()
        if paths:
            line += f"\n{'':<{width}}  {profile.path}"
        lines.append(line)
    emit("\n".join(lines), None)
