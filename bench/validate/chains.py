"""event's closed form and the library chain, judged side by side on saved httpd runs.

`python -m bench.validate.chains --load DIR... [--label TEXT...] [--cases NAME ...] [--write FILE]`
re-evaluates the event cases of each full run kept with `python -m bench.validate.run --save
DIR`, twice: with the default model (`predict`) and with the per-child chain and its shared
accept queue (`predict_chain`, what `--event-model chain` shows). Both go through the same bands
(`bench.validate.compare`), so a band the chain passes and the closed form fails is a miss the
chain mends. Prints one table per case and a tally per run; `--write` also writes them as
markdown. No httpd is started. Exit codes: 0 done, 2 bad input (unknown case, missing run, a
--label count that is not the --load count).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from bench.validate.casefile import Case, CaseError, all_cases
from bench.validate.compare import CaseResult, Check, compare
from bench.validate.harness import load_raw
from bench.validate.measure import measure
from bench.validate.predict import predict, predict_chain
from bench.validate.report import _UNITS, _num
from bench.validate.run import as_run, select

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SideBySide:
    """One case judged with both models; `chain_s` the chain's evaluation time."""

    closed: CaseResult
    chain: CaseResult
    chain_s: float


def judge_saved(case: Case, load: Path) -> tuple[CaseResult, int]:
    """The saved run of `case` in `load`, measured and judged with the closed form, and the
    somaxconn of the host it ran on; CaseError when the file is not a saved run."""
    path = load / f"{case.name}.pickle"
    raw = load_raw(path)
    if raw is None:
        raise CaseError(f"{path}: not a saved validation run")
    case = as_run(case, raw)
    measured = measure(replace(raw, case=case))
    return compare(case, measured, predict(case, measured.realized, raw.somaxconn)), raw.somaxconn


def judge_both(case: Case, load: Path) -> SideBySide:
    """Measure a saved run once and judge it with both models."""
    closed, somaxconn = judge_saved(case, load)
    measured = closed.measured
    start = time.perf_counter()
    metrics = predict_chain(closed.case, measured.realized, somaxconn)
    chain_s = time.perf_counter() - start
    return SideBySide(closed, compare(closed.case, measured, metrics), chain_s)


def _judged(check: Check) -> bool:
    return check.status in ("pass", "FAIL")


def rows(result: SideBySide) -> list[tuple[str, str, str, str, str, str]]:
    """(quantity, measured ± SE, closed form, its status, chain, its status) per band."""
    out: list[tuple[str, str, str, str, str, str]] = []
    for closed, chain in zip(result.closed.checks, result.chain.checks, strict=True):
        if closed.band.kind == "none":
            continue
        label, scale, unit = _UNITS.get(closed.quantity, (closed.quantity, 1.0, ""))
        est = closed.measured
        measured = f"{_num(est.value, scale)} ± {_num(est.se, scale)}{unit}"
        out.append(
            (
                label,
                measured,
                f"{_num(closed.predicted, scale)}{unit}",
                closed.status,
                f"{_num(chain.predicted, scale)}{unit}",
                chain.status,
            )
        )
    return out


def tally(results: Sequence[SideBySide]) -> tuple[int, int, int, int]:
    """Judged bands failed by the closed form and by the chain, and bands judged by each."""
    closed = [c for r in results for c in r.closed.checks if _judged(c)]
    chain = [c for r in results for c in r.chain.checks if _judged(c)]
    return (
        sum(1 for c in closed if c.status == "FAIL"),
        len(closed),
        sum(1 for c in chain if c.status == "FAIL"),
        len(chain),
    )


_TALLY_HEAD = "| run | closed form: judged bands failed | chain: judged bands failed |"


@dataclass(frozen=True, slots=True)
class Earlier:
    """The runs of an earlier page, as judged when it was written: its tally rows and its run
    sections (markdown lines)."""

    tally_rows: list[str]
    sections: list[str]

    @property
    def count(self) -> int:
        return len(self.tally_rows)


def earlier_page(path: Path) -> Earlier:
    """The tally rows and run sections of a page this module wrote; CaseError when it is not
    one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CaseError(f"{path}: {exc.strerror or exc}") from exc
    try:
        head = lines.index(_TALLY_HEAD)
    except ValueError:
        raise CaseError(f"{path}: no tally of runs (not a page of bench.validate.chains)") from None
    rows: list[str] = []
    for line in lines[head + 2 :]:
        if not line.startswith("| "):
            break
        rows.append(line)
    first = next((i for i, line in enumerate(lines) if line.startswith("## Run ")), None)
    if not rows or first is None:
        raise CaseError(f"{path}: no runs")
    return Earlier(rows, lines[first:])


def markdown(
    runs: Sequence[tuple[str, Sequence[SideBySide]]], earlier: Earlier | None = None
) -> str:
    """The markdown page: a tally per run, then every case's bands, run by run; the runs of an
    `earlier` page first, as they were judged then."""
    kept = earlier.count if earlier is not None else 0
    lines = [
        "# event: the closed form and the chain against the same httpd runs",
        "",
        "Generated by `python -m bench.validate.chains --load DIR... --label TEXT... "
        "[--earlier FILE] --write FILE`; do not edit by hand. Measurements and bands are those "
        "of docs/validation.md's method. The closed form is event's default model "
        "(`capplan.models.event.evaluate`); the chain is what `check`, `compare` and "
        "`recommend` show with `--event-model chain` (`capplan.models.event.evaluate_by_chain`: "
        "the per-child chain with the shared accept queue, docs/derivations.md §4.6 to §4.8), "
        "at the same realized inputs. Quantities "
        "without a band (information only) are left out.",
        "",
    ]
    if earlier is not None:
        lines += [
            f"Runs 1 to {kept} are kept as they were judged when written (`--earlier`), by the "
            "models of that time; their raw runs are not at hand to judge them again. The "
            "later runs are judged by the models of this page's writing.",
            "",
        ]
    lines += [_TALLY_HEAD, "|---|---|---|"]
    if earlier is not None:
        lines += earlier.tally_rows
    for label, results in runs:
        closed_fail, closed_n, chain_fail, chain_n = tally(results)
        lines.append(f"| {label} | {closed_fail} of {closed_n} | {chain_fail} of {chain_n} |")
    lines.append("")
    if earlier is not None:
        lines += [*earlier.sections, ""]
    for number, (label, results) in enumerate(runs, start=kept + 1):
        lines += [f"## Run {number}: {label}", ""]
        for result in results:
            lines += [
                f"### {result.closed.case.name} (run {number})",
                "",
                f"Chain evaluated in {result.chain_s:.1f} s.",
                "",
                "| quantity | measured ± SE | closed form | status | chain | status |",
                "|---|---|---|---|---|---|",
            ]
            lines += [
                "| " + " | ".join(cell if cell != "FAIL" else "**FAIL**" for cell in row) + " |"
                for row in rows(result)
            ]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def terminal(result: SideBySide) -> str:
    lines = [f"{result.closed.case.name} (chain {result.chain_s:.1f} s)"]
    lines += [
        f"  {q:<42} {m:>22}  {cf:>12} {cs:<5} {ch:>12} {hs:<5}"
        for q, m, cf, cs, ch, hs in rows(result)
    ]
    return "\n".join(lines)


def event_cases(load: Path, names: Sequence[str]) -> list[Case]:
    """The event cases named, each with a saved run in `load`; with no names, every event case
    `load` holds a run of (a run of one case, made longer with `run --duration`, is a run)."""
    cases = [c for c in select(all_cases(), False, names) if c.server.mpm == "event"]
    saved = [c for c in cases if (load / f"{c.name}.pickle").is_file()]
    missing = [c.name for c in cases if c not in saved]
    if (names and missing) or not saved:
        raise CaseError(f"{load}: no saved run of {', '.join(missing)}")
    return saved


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """--load, --cases, --write and --label, shared with `bench.validate.simulated`."""
    parser.add_argument(
        "--load", type=Path, nargs="+", required=True, metavar="DIR", help="saved runs, one per DIR"
    )
    parser.add_argument("--cases", nargs="+", default=[], metavar="NAME", help="event cases")
    parser.add_argument("--write", type=Path, metavar="FILE", help="write the markdown tables")
    parser.add_argument(
        "--label",
        nargs="+",
        default=[],
        metavar="TEXT",
        help="which run each DIR holds, for the markdown (default: the directory's name)",
    )


def judge_runs(
    args: argparse.Namespace, judge_case: Callable[[Case, Path], T], show: Callable[[T], str]
) -> list[tuple[str, list[T]]]:
    """Every event case of every --load directory judged by `judge_case`, shown as it comes,
    with its run's --label; CaseError for a --label count that is not the --load count, or a
    missing run."""
    if args.label and len(args.label) != len(args.load):
        raise CaseError("give one --label per --load directory")
    labels = args.label or [f"the saved runs in {d.name}/" for d in args.load]
    runs = []
    for load, label in zip(args.load, labels, strict=True):
        results = []
        for case in event_cases(load, args.cases):
            results.append(judge_case(case, load))
            print(show(results[-1]), flush=True)
        runs.append((label, results))
    return runs


def write_page(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all (through a temporary file beside it)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.validate.chains",
        description="Judge event's closed form and chain side by side on saved httpd runs.",
    )
    add_run_arguments(parser)
    parser.add_argument(
        "--earlier",
        type=Path,
        metavar="FILE",
        help="a page this wrote before: keep its runs, as judged then, ahead of the new ones",
    )
    args = parser.parse_args(argv)
    try:
        earlier = earlier_page(args.earlier) if args.earlier is not None else None
        runs = judge_runs(args, judge_both, terminal)
    except CaseError as exc:
        print(f"chains: error: {exc}", file=sys.stderr)
        return 2
    for label, results in runs:
        closed_fail, closed_n, chain_fail, chain_n = tally(results)
        print(
            f"{label}: judged bands failed: closed form {closed_fail} of {closed_n}, "
            f"chain {chain_fail} of {chain_n}"
        )
    if args.write is not None:
        write_page(args.write, markdown(runs, earlier))
    return 0


if __name__ == "__main__":
    sys.exit(main())
