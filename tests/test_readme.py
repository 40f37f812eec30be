"""The README's sample outputs are the tool's real output (regenerate: tests/readme_samples.py)."""

from __future__ import annotations

import pytest

from tests.readme_samples import README, UNCHECKED, Sample, mismatches, regenerate, run, samples

SAMPLES = [s for s in samples(README.read_text(encoding="utf-8")) if s.command not in UNCHECKED]


def test_the_readme_has_samples_to_check() -> None:
    commands = [s.command.split()[1] for s in SAMPLES]
    for command in ("recommend", "inspect", "queue", "check", "fit"):
        assert command in commands


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.command for s in SAMPLES])
def test_sample_is_the_real_output(sample: Sample) -> None:
    missing = mismatches(sample, run(sample.command))
    assert not missing, (
        f"README sample of `{sample.command}` is stale; run `python -m tests.readme_samples "
        f"--write` after checking the change. Lines not in the output: {missing}"
    )


OUTPUT = [
    "title",
    "",
    "prefork  74   0.92",
    "worker   256  1e-10",
    "  - first reason, long text",
    "  - second reason, other text",
]


@pytest.mark.parametrize(
    ("lines", "stale", "fixed"),
    [
        pytest.param(
            ("prefork  74   0.56", "..."),
            ["prefork  74   0.56"],
            ["prefork  74   0.92", "..."],
            id="changed-figure",
        ),
        pytest.param(
            ("  - second reason, old ...",),
            ["  - second reason, old ..."],
            ["  - second reason, oth ..."],
            id="cut-line-keeps-its-length",
        ),
        pytest.param(
            ("title", "worker   256  1e-10"), [], ["title", "worker   256  1e-10"], id="current"
        ),
        pytest.param(
            ("titles", "worker   256  1e-10"),
            ["titles"],
            ["title", "worker   256  1e-10"],
            id="renamed-line",
        ),
    ],
)
def test_regenerate_repairs_a_stale_sample(
    lines: tuple[str, ...], stale: list[str], fixed: list[str]
) -> None:
    sample = Sample("capplan x", lines, 0, 0)
    assert mismatches(sample, OUTPUT) == stale
    repaired = regenerate(sample, OUTPUT)
    assert repaired == fixed
    assert mismatches(Sample("capplan x", tuple(repaired), 0, 0), OUTPUT) == []
