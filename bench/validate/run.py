"""Command line of the validation suite.

`python -m bench.validate.run [--quick] [--cases NAME ...] [--duration S] [--write FILE]`
runs the cases (all, the quick subset, or those named) one after another against the real
apache2, prints predicted versus measured per case, and optionally writes the markdown report
(with `bench/validate/findings.md`, the hand-written analysis, appended). `--save DIR` keeps
the raw runs and `--load DIR` re-evaluates them against the current models without running
apache2 again (each with the duration it ran for; without `--cases`, every case it holds a run
of); `--duration` runs longer (or shorter) than
the case files say. Exit codes: 0 every
band holds, 1 a band failed or a run was invalid, 2 bad input (unknown case, bad case file).
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench.validate.casefile import CASE_DIR, MAX_ROUND_TRIP_S, Case, CaseError, all_cases
from bench.validate.compare import CaseResult, compare
from bench.validate.harness import RawRun, load_raw, read_somaxconn, run_case
from bench.validate.measure import measure
from bench.validate.predict import predict
from bench.validate.report import Host, markdown, terminal

FINDINGS = Path(__file__).parent / "findings.md"
# The HTTP/2 section, written by `python -m bench.validate.h2 --write`, kept on regeneration.
HTTP2_RESULTS = Path(__file__).with_name("http2-results.md")
# The PHP-FPM cases' last written section (`python -m bench.validate.fpm --write`), kept when the
# report is regenerated.
FPM_RESULTS = Path(__file__).parent / "fpm_results.md"


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


def as_run(case: Case, raw: RawRun) -> Case:
    """`case` as read now, with the duration, warm-up and clients' round trip the saved run
    `raw` had (runs saved before round trips existed had their clients on loopback)."""
    round_trip_s = getattr(raw.case.traffic, "round_trip_s", 0.0)
    timed = replace(case, duration_s=raw.case.duration_s, warmup_s=raw.case.warmup_s)
    return timed.with_round_trip(round_trip_s)


def saved_cases(cases: Sequence[Case], load: Path) -> tuple[tuple[Case, ...], list[str]]:
    """The cases `load` holds a saved run of, and the names of those it does not (a run saved
    before a case was added has none of it: `--load` without `--cases` re-evaluates the rest)."""
    held = tuple(c for c in cases if (load / f"{c.name}.pickle").is_file())
    return held, [c.name for c in cases if c not in held]


def run_one(
    case: Case, save: Path | None = None, load: Path | None = None
) -> tuple[CaseResult, str]:
    """Run (or load a saved run), measure and compare one case; also return httpd's version."""
    if load is not None:
        loaded = load_raw(load / f"{case.name}.pickle")
        if loaded is None:
            raise CaseError(f"{load / f'{case.name}.pickle'}: not a saved validation run")
        raw = loaded
        case = as_run(case, raw)
        raw = replace(raw, case=case)
    else:
        raw = run_case(case)
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        with (save / f"{case.name}.pickle").open("wb") as handle:
            pickle.dump(raw, handle)
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
    parser.add_argument("--save", type=Path, metavar="DIR", help="keep the raw runs (pickle)")
    parser.add_argument(
        "--load", type=Path, metavar="DIR", help="re-evaluate saved raw runs instead of running"
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="run each case this long instead of its duration_s (a saved run keeps its own)",
    )
    parser.add_argument(
        "--round-trip",
        type=float,
        metavar="SECONDS",
        help="put every case's clients this far away (its traffic's round_trip_s; a saved run "
        "keeps its own)",
    )
    args = parser.parse_args(argv)
    try:
        cases = select(all_cases(), args.quick, args.cases)
    except CaseError as exc:
        print(f"validate: error: {exc}", file=sys.stderr)
        return 2
    if args.load is not None and not args.cases:
        cases, left = saved_cases(cases, args.load)
        if left:
            print(f"not in {args.load}, left out: {', '.join(left)}", flush=True)
    if args.duration is not None:
        if not (math.isfinite(args.duration) and args.duration > max(c.warmup_s for c in cases)):
            print(
                "validate: error: --duration must be finite and exceed every case's warmup_s",
                file=sys.stderr,
            )
            return 2
        cases = tuple(replace(c, duration_s=args.duration) for c in cases)
    if args.round_trip is not None:
        if not 0.0 <= args.round_trip <= MAX_ROUND_TRIP_S:
            print(
                f"validate: error: --round-trip must be in [0, {MAX_ROUND_TRIP_S:g}] s",
                file=sys.stderr,
            )
            return 2
        cases = tuple(c.with_round_trip(args.round_trip) for c in cases)
    results = []
    version = ""
    for case in cases:
        print(f"{case.name} ({case.duration_s:g} s) ...", flush=True)
        try:
            result, version = run_one(case, args.save, args.load)
        except OSError as exc:
            print(f"validate: error: {case.name}: {exc}", file=sys.stderr)
            return 2
        results.append(result)
        print(terminal(result), flush=True)
    if args.write is not None:
        host = Host(version, read_somaxconn(), len(os.sched_getaffinity(0)))
        findings = FINDINGS.read_text() if FINDINGS.exists() else ""
        text = markdown(results, host, findings)
        if HTTP2_RESULTS.exists():
            text = text.rstrip("\n") + "\n\n" + HTTP2_RESULTS.read_text()
        if FPM_RESULTS.exists():
            text = text.rstrip("\n") + "\n\n" + FPM_RESULTS.read_text()
        tmp = args.write.with_suffix(args.write.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(args.write)
        print(f"wrote {args.write}")
    ok = all(r.valid and not r.failures for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
