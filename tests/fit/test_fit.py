"""`capplan fit` against an independent computation: MaxRequestWorkers N fits and N + 1 does not.

The independent worst case is written out here from the memory model's statement (docs/models.md,
"Memory"; docs/derivations.md §6): parent + shared, the parent's restart overhead, and what each
active process adds at worst — prefork one child; worker two process bases per slot (the
quiescing child and its successor) and the threads once; event the active processes plus one
finishing generation (ServerLimit leaves that room), each with its threads, and one connection's
memory for every slot the processes can hold; with a measured spread between children, 1.645 x
spread x sqrt(N) for the N processes of the worst case. Each case checks the figures the command
prints.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from capplan.cli import main
from capplan.fit import largest_fitting
from tests.recommend.examples import EXAMPLE_NAMES, prepare

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = {"debian": ROOT / "examples/debian/apache2/apache2.conf"}
GIB = 1 << 30
MIB = 1 << 20


def run_fit(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["fit", *args, "--format", "json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def per_process_bytes(mpm: str, tpc: int, factor: int, memory: dict[str, int]) -> int:
    """The worst-case memory one more active process adds."""
    if mpm == "prefork":
        return memory["prefork_process_bytes"]
    base, threads = memory["threaded_process_bytes"], tpc * memory["thread_bytes"]
    if mpm == "worker":
        return 2 * base + threads
    return 2 * (base + threads) + memory["connection_bytes"] * tpc * (1 + factor)


def fixed_bytes(memory: dict[str, int]) -> int:
    """parent + shared, and the parent's restart overhead: on a graceful restart it re-reads its
    configuration while old children finish (two more copies of its memory and 1 MiB)."""
    return 3 * memory["parent_bytes"] + memory["shared_bytes"] + MIB


def independent_worst(
    mpm: str, processes: int, tpc: int, factor: int, memory: dict[str, int]
) -> int:
    worst_processes = processes if mpm == "prefork" else 2 * processes
    spread = math.ceil(1.645 * memory["process_spread_bytes"] * math.sqrt(worst_processes))
    return fixed_bytes(memory) + processes * per_process_bytes(mpm, tpc, factor, memory) + spread


def check_document(document: dict[str, Any]) -> None:
    """Every MPM's N fits the printed available memory, N + 1 (one process more) does not."""
    available = document["available_bytes"]
    ram = document["ram_bytes"] - document["reserve"]["bytes"]
    assert available == int(ram * document["max_memory_fraction"])
    memory = document["memory"]
    for mpm, fit in document["mpms"].items():
        tpc = fit["threads_per_child"]
        factor = int(fit["directives"].get("AsyncRequestWorkerFactor", 0))
        free = available - fixed_bytes(memory)
        expected = max(0, free // per_process_bytes(mpm, tpc, factor, memory))
        while expected > 0 and independent_worst(mpm, expected, tpc, factor, memory) > available:
            expected -= 1
        assert fit["processes"] == expected, mpm
        assert fit["max_request_workers"] == expected * tpc
        worst = independent_worst(mpm, expected, tpc, factor, memory)
        following = independent_worst(mpm, expected + 1, tpc, factor, memory)
        assert fit["memory_worst_bytes"] == worst <= available
        assert fit["next"] == {
            "max_request_workers": (expected + 1) * tpc,
            "memory_worst_bytes": following,
        }
        assert following > available
        directives = fit["directives"]
        assert directives["MaxRequestWorkers"] == expected * tpc
        restart_room = expected if mpm == "event" else 0
        assert directives["ServerLimit"] == expected + restart_room
        if mpm != "prefork":
            assert directives["ThreadsPerChild"] == directives["ThreadLimit"] == tpc


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(("--ram", "1GiB"), id="1GiB"),
        pytest.param(("--ram", "8GiB"), id="8GiB"),
        pytest.param(("--ram", "64GiB", "--reserve", "6GiB"), id="64GiB-reserve"),
        pytest.param(("--ram", "8GiB", "-p", "wordpress-prefork"), id="profile-memory"),
        pytest.param(("-p", "php-fpm-event"), id="profile-ram"),
    ],
)
def test_fit_matches_the_independent_computation(
    example: str, extra: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, conf, _ = prepare(example, tmp_path)
    document = run_fit(capsys, str(conf), *extra)
    check_document(document)
    assert set(document["mpms"]) <= {"prefork", "worker", "event"}


def test_sources_say_where_each_figure_came_from(capsys: pytest.CaptureFixture[str]) -> None:
    defaults = run_fit(capsys, str(EXAMPLES["debian"]), "--ram", "8GiB")
    assert defaults["sources"]["memory.prefork_process"] == "default"
    assert defaults["sources"]["memory.ram"] == "flag"
    assert defaults["sources"]["targets.max_memory_fraction"] == "default"
    assert defaults["sources"]["reserve"] == "none"
    profiled = run_fit(capsys, str(EXAMPLES["debian"]), "-p", "wordpress-prefork")
    assert profiled["sources"]["memory.prefork_process"] == "profile"
    assert profiled["sources"]["memory.connection"] == "default"
    assert profiled["sources"]["memory.ram"] == "profile"
    assert profiled["ram_bytes"] == 4 * GIB
    for fit in profiled["mpms"].values():
        assert fit["sustains"]["profile_rate_per_s"] == 60


def test_a_profile_shows_what_the_maximum_sustains(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(EXAMPLES["debian"]), "-p", "wordpress-prefork"]) == 0
    out = capsys.readouterr().out
    assert "With profile wordpress-prefork:" in out
    assert "prefork: sustains" in out


def test_the_machines_memory_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    document = run_fit(capsys, str(EXAMPLES["debian"]))
    assert document["sources"]["memory.ram"] == "machine"
    mem_total = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    assert 0 < document["ram_bytes"] <= mem_total
    check_document(document)


def test_a_huge_machine_stops_at_httpds_server_limit(capsys: pytest.CaptureFixture[str]) -> None:
    document = run_fit(capsys, str(EXAMPLES["debian"]), "--ram", "100000TiB")
    prefork = document["mpms"]["prefork"]
    assert prefork["limited_by"] == "ServerLimit"
    assert prefork["processes"] == 200000
    assert prefork["next"] is None
    assert document["mpms"]["worker"]["processes"] == 20000
    # event keeps a generation of ServerLimit room for restarts: 10000 active, ServerLimit 20000.
    assert document["mpms"]["event"]["processes"] == 10000
    assert document["mpms"]["event"]["directives"]["ServerLimit"] == 20000


def test_nothing_fits(capsys: pytest.CaptureFixture[str]) -> None:
    document = run_fit(capsys, str(EXAMPLES["debian"]), "--ram", "100MiB")
    prefork = document["mpms"]["prefork"]
    assert prefork["max_request_workers"] == 0
    assert prefork["next"]["max_request_workers"] == 1
    assert prefork["directives"] == {}


def test_mod_php_leaves_only_prefork(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "httpd.conf"
    module = tmp_path / "libphp.so"
    module.write_bytes(b"")
    conf.write_text(
        "LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so\n"
        f"LoadModule php_module {module}\n"
    )
    document = run_fit(capsys, str(conf), "--ram", "4GiB")
    assert list(document["mpms"]) == ["prefork"]
    assert any("not thread-safe" in note for note in document["notes"])


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_text_formats(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(EXAMPLES["debian"]), "--ram", "8GiB", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "Largest MaxRequestWorkers that fits, per MPM" in out
    assert "prefork: ServerLimit 120, MaxRequestWorkers 120" in out
    assert "* a default" in out
    if fmt == "markdown":
        assert "| prefork |" in out.replace("  ", " ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--ram", "1GiB", "--reserve", "1GiB"],
            "nothing is left for httpd",
            id="reserve-too-large",
        ),
        pytest.param(
            ["--ram", "8GiB", "--reserve", "1GiB", "--reserve-measured"],
            "not both",
            id="both-reserves",
        ),
        pytest.param(["--ram", "lots"], "invalid size", id="bad-ram"),
        pytest.param(
            ["--ram", "8GiB", "-p", "no-such-profile"], "no such profile file", id="bad-profile"
        ),
    ],
)
def test_bad_input_is_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.json"
    assert main(["fit", str(EXAMPLES["debian"]), *args, "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert not output.exists()


def test_reserve_measured_lists_the_other_processes(capsys: pytest.CaptureFixture[str]) -> None:
    document = run_fit(capsys, str(EXAMPLES["debian"]), "--ram", "64GiB", "--reserve-measured")
    reserve = document["reserve"]
    assert reserve["source"] == "measured"
    assert reserve["bytes"] == sum(p["pss_bytes"] for p in reserve["processes"]) > 0
    assert not any(p["name"] in ("apache2", "httpd") for p in reserve["processes"])
    check_document(document)


@pytest.mark.parametrize(
    ("limit", "ceiling", "expected"),
    [(10, 100, 10), (1, 100, 1), (0, 100, 0), (100, 100, 100), (500, 100, 100), (64, 200000, 64)],
)
def test_largest_fitting(limit: int, ceiling: int, expected: int) -> None:
    calls: list[int] = []

    def fits(n: int) -> bool:
        calls.append(n)
        return n <= limit

    assert largest_fitting(fits, ceiling) == expected
    assert max(calls) <= ceiling
    assert len(calls) <= 2 * ceiling.bit_length() + 2
