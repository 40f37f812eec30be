"""`capplan schema`: print the JSON Schema of the traffic profile format (version 1).

Input: nothing (or an --output file). Output: the schema as indented JSON, for editors and CI
linters that validate profiles before capplan reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.app import app
from capplan.cli.common import emit


@app.command("schema")
def schema_command(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the schema to this file instead of stdout."),
    ] = None,
) -> None:
    """Print the JSON Schema of the profile format (version 1)."""
    from capplan.profile import profile_json_schema_text

    emit(profile_json_schema_text(), output)
