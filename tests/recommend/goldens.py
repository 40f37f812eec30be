"""Golden outputs of recommend, check and compare: the cases, and how each output is produced.

Each case runs the real command line (`main()`) from a temporary directory holding copies of the
examples, with relative paths and `--somaxconn 4096`, so the output has no machine paths and does
not depend on this machine's kernel settings. `regenerate_goldens.py` rewrites the files;
`test_goldens.py` compares (text exactly; JSON numbers to 1e-9 relative).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from capplan.cli import main
from tests.recommend.examples import prepare

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "data" / "golden_output"
PROFILES_DIR = Path(__file__).resolve().parents[2] / "profiles"
CONFIGS = {
    "debian": ("debian-prefork-php", "debian/apache2/apache2.conf"),
    "rhel": ("rhel-event-rounded", "rhel/httpd/conf/httpd.conf"),
}
EXTENSIONS = {"table": "txt", "json": "json", "markdown": "md", "junit": "xml", "github": "txt"}


@dataclass(frozen=True)
class GoldenCase:
    command: str
    configs: tuple[str, ...]
    profiles: tuple[str, ...]
    fmt: str

    @property
    def filename(self) -> str:
        parts = [self.command, *self.configs, *self.profiles]
        return "__".join(parts) + f".{self.fmt}.{EXTENSIONS[self.fmt]}"


CASES = tuple(
    [
        GoldenCase("recommend", (config,), (profile,), fmt)
        for config in CONFIGS
        for profile in ("wordpress-prefork", "php-fpm-event")
        for fmt in ("table", "json", "markdown")
    ]
    + [
        GoldenCase("check", ("debian",), ("wordpress-prefork",), fmt)
        for fmt in ("table", "json", "junit", "github")
    ]
    + [
        GoldenCase("compare", ("debian", "rhel"), ("wordpress-prefork", "php-fpm-event"), fmt)
        for fmt in ("table", "json", "markdown")
    ]
)


def _argv(case: GoldenCase) -> list[str]:
    profiles = [str(PROFILES_DIR / f"{name}.yaml") for name in case.profiles]
    configs = [CONFIGS[name][1] for name in case.configs]
    common = ["--somaxconn", "4096", "--format", case.fmt]
    if case.command == "compare":
        return ["compare", *profiles, *(a for c in configs for a in ("-c", c)), *common]
    return [case.command, configs[0], "-p", profiles[0], *common]


def produce(case: GoldenCase, workdir: Path) -> str:
    """Run the case's command in `workdir` (examples are copied there once) and return stdout."""
    for short, (example, main_file) in CONFIGS.items():
        if not (workdir / main_file).exists():
            prepare(example, workdir / short)
    output = workdir / case.filename
    previous = os.getcwd()
    os.chdir(workdir)
    try:
        code = main([*_argv(case), "--output", case.filename])
    finally:
        os.chdir(previous)
    expected = 1 if case.command == "check" else 0
    assert code == expected, f"{case.filename}: exit {code}"
    # Profiles are given by absolute path; the output names them by their relative form.
    return output.read_text().replace(str(PROFILES_DIR) + os.sep, "profiles/")
