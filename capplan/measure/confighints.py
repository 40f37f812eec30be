"""What `capplan measure` takes from an httpd config: PidFile, the MPM, mod_status and Listen.

Stage: optional input of `capplan measure -c CONFIG`. Input: the main config file, evaluated as
httpd reads it (`capplan.config.evaluator.evaluate_config`: Include, Define, <IfModule>, Debian's
envvars). Output: `ConfigHints`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from capplan.location import Location
from capplan.mpm_names import Mpm
from capplan.mpm_settings import MPM_NAMES


@dataclass(frozen=True, slots=True)
class ConfigHints:
    path: str
    pidfile: str | None
    pidfile_location: Location | None
    mpm: Mpm | None
    status_module: bool
    status_handler: bool  # some container has `SetHandler server-status`
    listen: tuple[tuple[str, int], ...]  # (address or "", port), in config order
    warnings: tuple[str, ...]


def read_config_hints(config: str | os.PathLike[str]) -> ConfigHints:
    """The hints of one main config file; CapplanError (file:line) when httpd would refuse it."""
    from capplan.config.evaluator import evaluate_config

    path = Path(config)
    # The MPM is read from the running server; a build with a compiled-in MPM has no LoadModule
    # for it, so httpd's one-MPM rule is not applied here.
    evaluated = evaluate_config(path, check_mpm=False)
    server_root = evaluated.server_root
    pidfile: str | None = None
    pidfile_location: Location | None = None
    mpm: Mpm | None = None
    status_module = status_handler = False
    listen: list[tuple[str, int]] = []
    for module in evaluated.modules:
        for name in MPM_NAMES:
            if module.identifier == f"mpm_{name}_module":
                mpm = name
        status_module = status_module or module.identifier == "status_module"
    for directive in evaluated.directives:
        key, args = directive.key, directive.args
        if key == "pidfile" and args and "${" not in args[0]:
            pidfile = args[0] if os.path.isabs(args[0]) else os.path.join(server_root, args[0])
            pidfile_location = directive.location
        elif key == "sethandler" and args and args[0].lower() == "server-status":
            status_handler = True
        elif key == "listen" and args:
            address, _, port = args[0].rpartition(":")
            if port.isdigit():
                listen.append((address.strip("[]"), int(port)))
    return ConfigHints(
        path=str(path),
        pidfile=pidfile,
        pidfile_location=pidfile_location,
        mpm=mpm,
        status_module=status_module,
        status_handler=status_handler,
        listen=tuple(listen),
        warnings=tuple(
            f"{w.location}: {w.code} {w.message}" if w.location else f"{w.code} {w.message}"
            for w in evaluated.warnings
        ),
    )
