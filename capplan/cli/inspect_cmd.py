"""`capplan inspect`: what httpd will run with, read from its real configuration.

Input: a main config file (or the system's), `-D` defines, an optional compiled-in MPM or
`apachectl -V` output. Output: the MPM, every effective MPM, keep-alive and listen value with the
`file:line` that set it, httpd's own warnings (AH codes), silent start-up adjustments and a
capacity summary; as a table, markdown or JSON (schema_version 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from capplan.cli.app import app
from capplan.cli.common import FormatOption, OutputOption, emit, parse_defines
from capplan.errors import CapplanError
from capplan.mpm_names import Mpm
from capplan.render.formats import OutputFormat, not_offered


@app.command("inspect")
def inspect_command(
    config: Annotated[
        Path | None,
        typer.Argument(
            metavar="[CONFIG]",
            help="Main httpd config file; default: the one this machine's httpd reads "
            "(apachectl -V, then the Debian, RHEL and upstream paths).",
            show_default=False,
        ),
    ] = None,
    *,
    define: Annotated[
        list[str] | None,
        typer.Option(
            "-D",
            "--define",
            metavar="NAME[=VALUE]",
            help="Define NAME or NAME=VALUE, like httpd's -D.",
        ),
    ] = None,
    server_root: Annotated[
        Path | None,
        typer.Option(
            "-d",
            "--server-root",
            help="ServerRoot, like httpd's -d (default: the config file's directory).",
        ),
    ] = None,
    mpm: Annotated[
        Mpm | None,
        typer.Option(help="The MPM compiled into httpd (static builds load none)."),
    ] = None,
    apachectl_v: Annotated[
        Path | None,
        typer.Option(
            "--apachectl-v",
            help="A file with `apachectl -V` output (or its `Server MPM:` line) naming the MPM.",
        ),
    ] = None,
    somaxconn: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="net.core.somaxconn of the server (default: this machine's, or 4096).",
        ),
    ] = None,
    httpd_version: Annotated[
        str | None,
        typer.Option(
            metavar="X.Y.Z", help="httpd version for <IfVersion>, X.Y.Z (default 2.4.71)."
        ),
    ] = None,
    fpm_pool: Annotated[
        Path | None,
        typer.Option(
            "--fpm-pool",
            metavar="FILE",
            help="php-fpm pool file or php-fpm.conf behind httpd (default: the pool in Debian's "
            "or RHEL's php-fpm config that listens where the config's SetHandler or "
            "ProxyPassMatch sends PHP).",
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    output: OutputOption = None,
) -> None:
    """Show the MPM and effective settings httpd runs with, where each was set, and its warnings."""
    from capplan.effective import parse_httpd_version
    from capplan.files import read_regular_file
    from capplan.machine import load_effective_config

    v_output = None
    if apachectl_v is not None:
        try:
            # `apachectl -V` prints about 2 KiB; 1 MiB leaves room for anything pasted around it.
            v_output = read_regular_file(apachectl_v, 1 << 20).decode("utf-8", "replace")
        except OSError as exc:
            raise CapplanError(f"{apachectl_v}: cannot read: {exc.strerror}") from exc
    effective = load_effective_config(
        config,
        defines=parse_defines(define),
        mpm=mpm,
        somaxconn=somaxconn,
        v_output=v_output,
        httpd_version=parse_httpd_version(httpd_version) if httpd_version else None,
        server_root=str(server_root) if server_root is not None else None,
    )
    fpm = None
    if effective.fcgi_backends or fpm_pool is not None:
        from capplan.pipeline import load_fpm_side

        fpm = load_fpm_side(effective, str(fpm_pool) if fpm_pool is not None else None)
    match output_format:
        case OutputFormat.json:
            from capplan.render.json_out import dumps, inspect_document

            document = inspect_document(effective)
            if fpm is not None:
                from capplan.render.fpm import fpm_to_dict

                document["php_fpm"] = fpm_to_dict(effective.fcgi_backends, *fpm)
            text = dumps(document)
        case OutputFormat.table | OutputFormat.markdown:
            from capplan.render.table import config_table

            text = config_table(effective, markdown=output_format is OutputFormat.markdown)
            if fpm is not None:
                from capplan.render.fpm import fpm_lines

                text = "\n".join([text, *fpm_lines(effective.fcgi_backends, *fpm)])
        case _:  # the other formats are not among its --format choices
            raise not_offered(output_format, "inspect")
    emit(text, output)
