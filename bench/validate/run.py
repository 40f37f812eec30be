"""Command line of the validation suite.

`python -m bench.validate.run [--quick] [--cases NAME ...] [--write docs/validation.md]`
runs the cases (all, the quick subset, or those named) one after another against the real
apache2, prints predicted versus measured per case, and optionally writes the markdown report
(with `bench/validate/findings.md`, the hand-written analysis, appended). Exit codes: 0 every
band holds, 1 a band failed or a run was invalid, 2 bad input (unknown case, bad case file).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.validate.casefile import CASE_DIR, Case, CaseError, all_cases
from bench.validate.compare import CaseResult, compare
from bench.validate.harness import read_somaxconn, run_case
from bench.validate.measure import measure
from bench.validate.predict import predict
from bench.validate.report import Host, markdown, terminal

FINDINGS = Path(__file__).parent / "findings.md"


def select(cases: Sequence[Case], quick: bool, names: Sequence[str]) -> tuple[Case, ...]:
    """The cases to run: those named, else the quick subset, else all."""
    if names:
        by_name = {c.name: c for c in cases}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            known = ", ".join(sorted(by_name))
            raise CaseError(f"{CASE_DIR}: no case named {', '.join(unknown)} (known: {known})")
        return tuple(by_name[n] for n in names)
    if quick:
        return tuple(c for c in cases if c.quick)
    return tuple(cases)


def run_one(case: Case) -> tuple[CaseResult, str]:
    """Run, measure and compare one case; also return the httpd version string."""
    raw = run_case(case)
    measured = measure(raw)
    metrics = predict(case, measured.realized, raw.somaxconn)
    return compare(case, measured, metrics), raw.httpd_version


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.validate.run",
        description="Validate capplan's models against the real apache2 on 127.0.0.1.",
    )
    parser.add_argument("--quick", action="store_true", help="run only the quick subset")
    parser.add_argument("--cases", nargs="+", default=[], metavar="NAME", help="cases to run")
    parser.add_argument("--write", type=Path, metavar="FILE", help="write the markdown report")
    args = parser.parse_args(argv)
    try:
        cases = select(all_cases(), args.quick, args.cases)
    except CaseError as exc:
        print(f"validate: error: {exc}", file=sys.stderr)
        return 2
    results = []
    version = ""
    for case in cases:
        print(f"running {case.name} ({case.duration_s:g} s) ...", flush=True)
        result, version = run_one(case)
        results.append(result)
        print(terminal(result), flush=True)
    if args.write is not None:
        host = Host(version, read_somaxconn(), len(os.sched_getaffinity(0)))
        findings = FINDINGS.read_text() if FINDINGS.exists() else ""
        text = markdown(results, host, findings)
        tmp = args.write.with_suffix(args.write.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(args.write)
        print(f"wrote {args.write}")
    ok = all(r.valid and not r.failures for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
