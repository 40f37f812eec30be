"""The README's sample outputs, checked against (and regenerated from) the tool's real output.

A sample is a fenced block whose first line is `$ capplan …`, run from the repository root. Every
other line of the block must appear in the real output, in order: exactly, or as a prefix when the
README line ends with ` ...` (a cut line); a line that is only `...` stands for lines left out;
blank lines are ignored. Samples that need this machine's state are listed in `UNCHECKED`.

Regenerate after an intended change of the output (the README keeps its choice of lines):

    python -m tests.readme_samples --write
"""

from __future__ import annotations

import contextlib
import difflib
import io
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CUT = " ..."
WIDTH = 100  # a regenerated cut line is at most this long, ` ...` included

# Samples whose output depends on this machine or on files outside the repository.
UNCHECKED = {
    "capplan measure --format yaml": "needs a running httpd; its figures are this machine's",
    "capplan inspect /etc/apache2/apache2.conf": "illustrates a config this repository lacks",
}
_FENCE = re.compile(r"^```[a-z]*\n(\$ capplan [^\n]*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Sample:
    command: str  # without the leading `$ `
    lines: tuple[str, ...]
    start: int  # offset of the block's body in the README
    end: int


def samples(text: str) -> list[Sample]:
    return [
        Sample(m.group(1)[2:], tuple(m.group(2).splitlines()), m.start(2), m.end(2))
        for m in _FENCE.finditer(text)
    ]


def run(command: str) -> list[str]:
    """The command's output lines (stdout, then stderr), run in-process from the repository root."""
    from capplan.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        main(shlex.split(command)[1:])
    return (out.getvalue() + err.getvalue()).splitlines()


def _key(line: str) -> tuple[int, str]:
    """Indentation and first word (a rule of dashes is `-`, whatever its length): how a README line
    finds its counterpart when regenerated."""
    stripped = line.lstrip()
    word = stripped.split(" ", 1)[0] if stripped else ""
    return len(line) - len(stripped), "-" if word and set(word) == {"-"} else word


def _matches(readme_line: str, real: str) -> bool:
    if readme_line.endswith(CUT):
        return real.startswith(readme_line[: -len(CUT)])
    return real == readme_line


def mismatches(sample: Sample, output: list[str]) -> list[str]:
    """The README lines not found in order in `output` (empty when the sample is current)."""
    missing = []
    at = 0
    for line in sample.lines:
        if not line.strip() or line.strip() == "...":
            continue
        found = next((i for i in range(at, len(output)) if _matches(line, output[i])), None)
        if found is None:
            missing.append(line)
        else:
            at = found + 1
    return missing


def _cut(line: str, length: int) -> str:
    """`line` cut to `length` characters with ` ...` (whole, when it fits in WIDTH)."""
    if len(line) <= min(length, WIDTH):
        return line
    return line[: max(length, len(CUT) + 1) - len(CUT)].rstrip() + CUT


def _closest(line: str, candidates: list[tuple[int, str]]) -> int | None:
    """The index of the candidate most like `line` (difflib's ratio), None without candidates."""
    if not candidates:
        return None
    probe = line.removesuffix(CUT)
    return max(
        candidates,
        key=lambda c: difflib.SequenceMatcher(None, probe, c[1][: len(probe)]).ratio(),
    )[0]


def regenerate(sample: Sample, output: list[str]) -> list[str]:
    """The sample's lines replaced by their closest counterparts in `output`, in order: among the
    output lines with the same indentation and first word, the most similar one."""
    lines = []
    at = 0
    for line in sample.lines:
        if not line.strip() or line.strip() == "...":
            lines.append(line)
            continue
        key = _key(line)
        candidates = [(i, output[i]) for i in range(at, len(output)) if _key(output[i]) == key]
        if not candidates:  # a renamed line: the most similar one among those that follow
            candidates = [(i, output[i]) for i in range(at, len(output)) if output[i].strip()]
        found = _closest(line, candidates)
        if found is None:
            lines.append(line)
            continue
        at = found + 1
        lines.append(_cut(output[found], len(line)) if line.endswith(CUT) else output[found])
    return lines


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    stale = 0
    for sample in reversed(samples(text)):  # from the end, so offsets stay valid
        if sample.command in UNCHECKED:
            continue
        output = run(sample.command)
        if "--write" in argv:
            body = "\n".join(regenerate(sample, output)) + "\n"
            text = text[: sample.start] + body + text[sample.end :]
        for line in mismatches(sample, output):
            stale += 1
            print(f"{sample.command}: not in the output: {line}", file=sys.stderr)
    if "--write" in argv:
        README.write_text(text, encoding="utf-8")
    return 1 if stale and "--write" not in argv else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
