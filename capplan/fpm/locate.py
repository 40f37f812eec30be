"""Finding the PHP-FPM pool behind httpd: (FastCGI backends, `--fpm-pool FILE`) → `FpmSide`.

Input: the backends the httpd config names and optionally a pool or php-fpm.conf file the user
gave. Output: the pool that serves httpd's PHP requests (its listen address matches a backend),
found in the given file or in Debian's and RHEL's default php-fpm config locations, with how it
was chosen; None when the config sends nothing to FastCGI and no file was given.
"""

from __future__ import annotations

import glob as globmod
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from capplan.fpm.handlers import FcgiBackend
from capplan.fpm.pool import FpmConfig, FpmPool, read_fpm_config

# Where the distributions keep php-fpm's main config: Debian's per-version directories, RHEL's
# and Fedora's php-fpm package, and Remi's software collections on RHEL.
DEFAULT_MAIN_FILES = (
    "/etc/php/*/fpm/php-fpm.conf",
    "/etc/php-fpm.conf",
    "/etc/opt/remi/php*/php-fpm.conf",
)
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
_ANY_HOSTS = {"", "*", "0.0.0.0", "[::]", "::"}


@dataclass(frozen=True, slots=True)
class FpmSide:
    """The pool that serves httpd's PHP requests, the config it was read from, the backend that
    leads to it (None when the httpd config names none) and how it was chosen, in words."""

    config: FpmConfig
    pool: FpmPool
    backend: FcgiBackend | None
    how: str


def _version_key(path: str) -> tuple[tuple[int, ...], str]:
    """Sort key: the newest PHP version directory first (`/etc/php/8.3` before `/etc/php/8.2`)."""
    found = re.search(r"(\d+(?:\.\d+)*)", path)
    numbers = tuple(int(n) for n in found.group(1).split(".")) if found else ()
    return tuple(-n for n in numbers), path


def _norm_socket(path: str) -> str:
    """/var/run is /run on every current distribution."""
    path = os.path.normpath(path)
    return "/run/" + path[len("/var/run/") :] if path.startswith("/var/run/") else path


def _split_tcp(address: str) -> tuple[str, str]:
    """`host:port`, `[v6]:port` or a bare `port` → (host, port); host "" means every address."""
    if address.isdigit():
        return "", address
    host, _, port = address.rpartition(":")
    return host, port


def serves(pool: FpmPool, backend: FcgiBackend) -> bool:
    """Whether `pool` listens where `backend` connects: the same socket, or the same port on an
    address that accepts the backend's host (a wildcard, or loopback for a loopback name)."""
    if backend.kind == "unix":
        return pool.is_unix_socket and _norm_socket(pool.listen) == _norm_socket(backend.address)
    if pool.is_unix_socket:
        return False
    pool_host, pool_port = _split_tcp(pool.listen)
    host, port = _split_tcp(backend.address)
    if pool_port != port:
        return False
    if pool_host in _ANY_HOSTS or pool_host == host:
        return True
    return pool_host in _LOCAL_HOSTS and host in _LOCAL_HOSTS


def find_fpm_side(
    backends: Sequence[FcgiBackend],
    *,
    pool_file: str | None = None,
    main_files: Sequence[str] = DEFAULT_MAIN_FILES,
    glob: Callable[[str], list[str]] | None = None,
) -> FpmSide | None:
    """The pool behind `backends`: from `pool_file` when given (its pool that serves a backend,
    else its first pool), else from the first default php-fpm config with a pool serving one.

    Raises CapplanError when a file cannot be read or php-fpm would refuse it.
    """
    if pool_file is not None:
        config = read_fpm_config(pool_file)
        for backend in backends:
            for pool in config.pools:
                if serves(pool, backend):
                    how = f"--fpm-pool; serves {backend.directive} at {backend.location}"
                    return FpmSide(config, pool, backend, how)
        pool = config.pools[0]
        if backends:
            how = (
                f"--fpm-pool; none of its pools listens on {backends[0]} "
                f"({backends[0].directive} at {backends[0].location}): its first pool is used"
            )
        else:
            how = "--fpm-pool"
        return FpmSide(config, pool, backends[0] if backends else None, how)
    if not backends:
        return None
    listing = glob or (lambda pattern: sorted(globmod.glob(pattern)))
    for pattern in main_files:
        for path in sorted(listing(pattern), key=_version_key):
            config = read_fpm_config(path)
            for backend in backends:
                for pool in config.pools:
                    if serves(pool, backend):
                        how = f"serves {backend.directive} at {backend.location}"
                        return FpmSide(config, pool, backend, how)
    return None


def no_pool_message(backends: Sequence[FcgiBackend]) -> str:
    """The note when the config sends PHP to FastCGI but no pool on this machine serves it."""
    first = backends[0]
    return (
        f"{first.directive} at {first.location} sends requests to {first}, but no php-fpm pool "
        f"in {', '.join(DEFAULT_MAIN_FILES)} listens there: give the pool file with --fpm-pool"
    )
