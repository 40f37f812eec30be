"""The hostile inputs of tests/hostile, generated (nothing large is committed).

Each function writes one input under a directory and returns its path. Run as a script
(`python -m tests.hostile.inputs DIR`) to write them all, e.g. to try them by hand.
"""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path

MODULES = "/usr/lib/apache2/modules"

PROFILE = """\
version: 1
name: hostile
traffic:
  requests_per_second: 400
  service_time: 2ms
visits:
  requests_per_visit: 8
  think_time: 10s
"""


def config(root: Path, *lines: str | bytes, name: str = "httpd.conf", mpm: str = "event") -> Path:
    """A self-contained config under `root` (its own ServerRoot, PidFile, ErrorLog)."""
    head = [
        f'ServerRoot "{root}"',
        "ServerName localhost",
        f"PidFile {root}/httpd.pid",
        f"ErrorLog {root}/error.log",
        f"LoadModule mpm_{mpm}_module {MODULES}/mod_mpm_{mpm}.so",
        f"LoadModule authz_core_module {MODULES}/mod_authz_core.so",
        "Listen 8080",
    ]
    body = b"".join(
        (line if isinstance(line, bytes) else line.encode()) + b"\n" for line in (*head, *lines)
    )
    path = root / name
    path.write_bytes(body)
    return path


def profile(root: Path, *replace: tuple[str, str], name: str = "profile.yaml") -> Path:
    """The base profile with `traffic:` lines replaced or added: ("service_time", "1ms")."""
    lines = PROFILE.splitlines()
    for key, value in replace:
        lines = [line for line in lines if not line.startswith(f"  {key}:")]
        lines.insert(lines.index("traffic:") + 1, f"  {key}: {value}")
        if key.startswith("service_time_p"):
            lines = [line for line in lines if not line.startswith("  service_time:")]
    path = root / name
    path.write_text("\n".join(lines) + "\n")
    return path


def nested(root: Path, opener: str, closer: str, depth: int, name: str) -> Path:
    return config(root, *([opener] * depth), *([closer] * depth), name=name)


def define_bomb(root: Path) -> Path:
    """Define A of 100 bytes, then 30 doublings: 100 GiB if built."""
    return config(root, "Define A " + "x" * 100, *(["Define A ${A}${A}"] * 30), name="bomb.conf")


def envvars_bomb(root: Path) -> Path:
    """The same doubling in a Debian envvars file next to the config."""
    directory = root / "etc"
    directory.mkdir(exist_ok=True)
    (directory / "envvars").write_text("export A=" + "x" * 100 + "\n" + "export A=$A$A\n" * 30)
    return config(directory, name="apache2.conf")


def sparse_include(root: Path, size: int = 4 << 30) -> Path:
    big = root / "sparse.conf"
    with big.open("wb") as fh:
        fh.truncate(size)
    return config(root, f"Include {big}", name="include-sparse.conf")


def include_cycle(root: Path) -> Path:
    path = root / "cycle.conf"
    config(root, f"Include {path}", name="cycle.conf")
    return path


def nul_line(root: Path, padding: int) -> Path:
    """`#` NUL + `padding` bytes + MaxRequestWorkers 7000 (httpd reads past 206 bytes anew)."""
    line = b"#\0" + b"x" * padding + b"MaxRequestWorkers 7000"
    return config(root, line, name=f"nul-{padding}.conf")


def if_version(root: Path, pattern: str) -> Path:
    return config(root, f"<IfVersion ~ {pattern}>", "MaxRequestWorkers 7700",
                  "</IfVersion>", name="ifversion.conf")  # fmt: skip


def yaml_alias_bomb(root: Path) -> Path:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = root / "bomb.yaml"
    path.write_text("\n".join(lines) + "\ntraffic: *a8\n")
    return path


def yaml_tag(root: Path) -> Path:
    path = root / "tag.yaml"
    path.write_text(PROFILE.replace("400", "!!python/object/apply:os.system ['true']"))
    return path


def access_log(root: Path, *stamps: str, name: str = "access.log") -> Path:
    path = root / name
    path.write_text(
        "".join(f'127.0.0.1 - - [{stamp}] "GET / HTTP/1.1" 200 2326\n' for stamp in stamps)
    )
    return path


def gzip_of_empty_lines(root: Path, mib: int) -> Path:
    """`mib` MiB of empty lines, gzip -9: about 1,000 times smaller on disk."""
    path = root / "empty.log.gz"
    chunk = b"\n" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as fh:
        for _ in range(mib):
            fh.write(chunk)
    return path


def truncated_gzip(root: Path) -> Path:
    lines = [
        f'127.0.0.1 - - [10/Oct/2024:13:55:{s % 60:02d} +0000] "GET / HTTP/1.1" 200 2326\n'
        for s in range(2000)
    ]
    data = gzip.compress("".join(lines).encode())
    path = root / "cut.log.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def fifo(root: Path, name: str = "fifo") -> Path:
    path = root / name
    os.mkfifo(path)
    return path


def write_all(root: Path) -> None:
    """Every input, for trying them by hand."""
    root.mkdir(parents=True, exist_ok=True)
    profile(root)
    nested(root, "<Directory />", "</Directory>", 30_000, "directories.conf")
    nested(root, "<IfModule mpm_event_module>", "</IfModule>", 8447, "ifmodule.conf")
    define_bomb(root)
    envvars_bomb(root)
    sparse_include(root)
    include_cycle(root)
    nul_line(root, 204)
    if_version(root, "^2\\.4\\.[[:digit:]]+$")
    yaml_alias_bomb(root)
    yaml_tag(root)
    access_log(root, "10/Oct/0000:13:55:36 -0700", name="year0.log")
    gzip_of_empty_lines(root, 256)
    truncated_gzip(root)


if __name__ == "__main__":
    write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-inputs"))
