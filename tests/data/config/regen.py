"""Regenerate `expected.json` of every config case from the real httpd (Debian apache2 2.4.71).

Each case directory under `cases/` (and each file under `bad/`) holds a config whose paths use
`@ROOT@` for the server root; it is copied to a temporary root, `@ROOT@` substituted, and run with
`apache2 -t -D DUMP_CONFIG` (the resolved directive tree, printed by mod_info), `-D DUMP_INCLUDES`
(files in include order) and `-D DUMP_RUN_CFG` (defines). A Debian `envvars` file in the case is
sourced the way apache2ctl sources it. The observation is normalised (paths relative to the root,
names lower-cased) so that the same function applied to capplan's result must give equal JSON.

What DUMP_CONFIG leaves out (§6.5 of the httpd facts): directives httpd runs while reading
(Define, UnDefine, Include, IncludeOptional, LoadModule, LoadFile, ServerRoot, DefaultRuntimeDir,
the If* sections themselves) — capplan leaves them out of its directive stream too.

Usage: python tests/data/config/regen.py [CASE ...]
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capplan.config.fs import FileSystem

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
BAD = HERE / "bad"
PLACEHOLDER = "@ROOT@"
# A fixed environment for both httpd and capplan, so ${VAR} cases are deterministic.
ENVIRONMENT = {"LANG": "C", "PATH": "/usr/sbin:/usr/bin:/bin", "CAPPLAN_CASE_VAR": "from-env"}
# The warnings capplan reproduces; httpd's others (MPM clamping, ServerName) are not its job.
WARNING_CODES = ("AH00111", "AH01574")
_SYNTAX = re.compile(r"Syntax error on line (\d+) of (.+?):(?: |$)")
_WARNING = re.compile(r"(AH\d{5}): (.*)$")

Observation = dict[str, Any]


def materialise(source: Path, root: Path) -> Path:
    """Copy a case (directory or single file) to `root`, substitute `@ROOT@`; return main file."""
    if source.is_dir():
        shutil.copytree(source, root, dirs_exist_ok=True, symlinks=True)
        (root / "expected.json").unlink(missing_ok=True)
        (root / "case.json").unlink(missing_ok=True)
        # Debian names its main file apache2.conf.
        main = root / ("apache2.conf" if (root / "apache2.conf").exists() else "httpd.conf")
    else:
        root.mkdir(parents=True, exist_ok=True)
        main = root / "httpd.conf"
        shutil.copyfile(source, main)
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if PLACEHOLDER.encode() in data:
                path.write_bytes(data.replace(PLACEHOLDER.encode(), str(root).encode()))
    for sub in ("run", "logs"):
        (root / sub).mkdir(exist_ok=True)
    return main


def case_defines(source: Path) -> dict[str, str]:
    settings = source / "case.json"
    if source.is_dir() and settings.exists():
        loaded: dict[str, str] = json.loads(settings.read_text())["defines"]
        return loaded
    return {}


def _relative(path: str, root: Path) -> str:
    text = str(root)
    return "@ROOT@" + path[len(text) :] if path.startswith(text) else path


def _error_line(message: str, root: Path) -> str:
    """httpd's nested `Syntax error on line N of F: …` → `F:N: message` for the innermost one."""
    location = None
    text = message.strip()
    while found := _SYNTAX.search(text):
        location = f"{found.group(2)}:{found.group(1)}"
        text = text[found.end() :].strip()
    text = text.split("\\n")[0].strip()
    if found := re.match(r"Error reading (\S+) at line (\d+): ", text):
        location = f"{found.group(1)}:{found.group(2)}"  # the prefix names a stale directive
    if re.match(r"^/\S+:\d+: ", text):
        location, text = text.split(": ", 1)
    line = f"{location}: {text}" if location else text
    return line.replace(str(root), PLACEHOLDER)


def _run_httpd(
    binary: str, main: Path, defines: Mapping[str, str], *dumps: str
) -> subprocess.CompletedProcess[str]:
    args = [binary, "-t", "-d", str(main.parent), "-f", str(main)]
    for name, value in defines.items():
        args += ["-D", f"{name}={value}" if value else name]
    for dump in dumps:
        args += ["-D", dump]
    envvars = main.parent / "envvars"
    if envvars.exists():
        # apache2ctl sources envvars into the environment; do the same with a shell.
        command = f". {shlex.quote(str(envvars))} && exec {shlex.join(args)}"
        args = ["/bin/sh", "-c", command]
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        env=ENVIRONMENT,
        timeout=60,
        check=False,
    )


def _parse_dump_config(text: str, root: Path) -> list[list[Any]]:
    """mod_info's DUMP_CONFIG → [[file, line, sections, name, args], …]."""
    from capplan.config.parser import split_words

    rows: list[list[Any]] = []
    current_file = ""
    line_no = 0
    stack: list[str] = []
    for raw in text.splitlines():
        body = raw.strip()
        if body.startswith("# In file: "):
            current_file = _relative(body[len("# In file: ") :], root)
            continue
        if found := re.fullmatch(r"#\s*(\d+):", body):
            line_no = int(found.group(1))
            continue
        if not body or body.startswith("</"):
            continue
        # An empty container is printed without its close tag: nesting comes from indentation.
        del stack[(len(raw) - len(raw.lstrip(" "))) // 2 :]
        name, _, rest = body.partition(" ")
        if name.startswith("<"):
            rest = rest[: rest.rfind(">")] if ">" in rest else rest
            name = name.removesuffix(">")
        rows.append(
            [current_file, line_no, list(stack), name.lower(), _args(split_words(rest), root)]
        )
        if name.startswith("<"):
            stack.append(name[1:].lower())
    return rows


def _args(words: list[str], root: Path) -> list[str]:
    return [word.replace(str(root), PLACEHOLDER) for word in words]


def observe_httpd(binary: str, main: Path, root: Path, defines: Mapping[str, str]) -> Observation:
    """What the real httpd makes of the config, normalised."""
    config = _run_httpd(binary, main, defines, "DUMP_CONFIG")
    warnings = sorted(
        {
            f"{m.group(1)}: {m.group(2)}".replace(str(root), PLACEHOLDER)
            for line in config.stderr.splitlines()
            if (m := _WARNING.search(line)) and m.group(1) in WARNING_CODES
        }
    )
    if config.returncode != 0:
        lines = config.stderr.splitlines()
        first = next(
            (i for i, line in enumerate(lines) if "Syntax error" in line or "AH00526" in line), 0
        )
        joined = " ".join(lines[first : first + 2]) if lines else ""
        return {"error": _error_line(joined, root), "warnings": warnings}
    includes = _run_httpd(binary, main, defines, "DUMP_INCLUDES").stdout
    files = [
        _relative(line.split(") ", 1)[1], root)
        for line in includes.splitlines()
        if line.strip().startswith("(")
    ]
    run_cfg = _run_httpd(binary, main, defines, "DUMP_RUN_CFG").stdout
    define_list = [
        line.removeprefix("Define: ")
        for line in run_cfg.splitlines()
        if line.startswith("Define: ") and not line.startswith("Define: DUMP_")
    ]
    return {
        "error": None,
        "warnings": warnings,
        "directives": _parse_dump_config(config.stdout, root),
        "files": files,
        "defines": define_list,
    }


def observe_capplan(
    main: Path, root: Path, defines: Mapping[str, str], fs: FileSystem | None = None
) -> Observation:
    """What capplan makes of the config, normalised like `observe_httpd`."""
    from capplan.config.evaluator import evaluate_config
    from capplan.errors import CapplanError

    try:
        result = evaluate_config(main, defines=defines, environ=ENVIRONMENT, fs=fs)
    except CapplanError as exc:
        first = exc.render().splitlines()[0].replace(str(root), PLACEHOLDER)
        return {"error": first}
    warnings = sorted(
        {
            f"{w.code}: {w.message}".replace(str(root), PLACEHOLDER)
            for w in result.warnings
            if w.code in WARNING_CODES
        }
    )
    return {
        "error": None,
        "warnings": warnings,
        "directives": [
            [
                _relative(d.location.path, root),
                d.location.line,
                [s.lower() for s in d.sections],
                d.name.lower(),
                _args(list(d.args), root),
            ]
            for d in result.directives
        ],
        "files": [_relative(path, root) for path in result.files_read],
        "defines": [f"{name}={value}" if value else name for name, value in result.defines],
    }


def all_cases() -> list[Path]:
    """Valid cases (directories under cases/), then failure modes: bad/*.conf, or a directory
    under bad/ when the failure needs more files than the main one."""
    bad = [p for p in BAD.iterdir() if p.suffix == ".conf" or p.is_dir()]
    return sorted(CASES.iterdir()) + sorted(bad, key=lambda p: p.stem)


def expected_path(source: Path) -> Path:
    return source / "expected.json" if source.is_dir() else source.with_suffix(".json")


def main() -> None:
    import tempfile

    binary = shutil.which("apache2") or "/usr/sbin/apache2"
    if not Path(binary).exists():
        raise SystemExit("apache2 is not installed")
    wanted = set(sys.argv[1:])
    for source in all_cases():
        if wanted and source.name not in wanted and source.stem not in wanted:
            continue
        with tempfile.TemporaryDirectory(prefix="cc") as tmp:
            root = Path(tmp)
            main_file = materialise(source, root)
            observed = observe_httpd(binary, main_file, root, case_defines(source))
        target = expected_path(source)
        if target.exists() and "httpd_skip" in json.loads(target.read_text()):
            print(f"{source.name}: kept (httpd cannot show this failure)")
            continue
        target.write_text(json.dumps(observed, indent=1) + "\n")
        print(f"{source.name}: {observed['error'] or 'ok'}")


if __name__ == "__main__":
    main()
