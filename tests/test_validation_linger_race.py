"""The deferred-close race read from httpd's log: the listener's disables, re-enables and
kill'em-alls, which kills follow another, the race's chance, and the tool's input checks."""

from __future__ import annotations

import random

import pytest

from bench.validate.linger_race import Kill, followed, main, race_estimate, read_listener_log

# A single child's mpm_event trace1 log as the validation harness writes it (ErrorLogFormat
# "[%{cu}t] [%-m:%l] %M"): the listener finds no worker for a waiting connection and kills two
# connections; the worker that frees 12 ms later closes them and, while it does, a second kill
# takes the connection its own request left idle; the listener is enabled again with one worker
# idle. Later it is disabled for too many connections and enabled with two workers idle, and a
# kept-alive request finds no worker (a kill not for an accept, long after the first).
_OFF = "not accepting new conns in this process"
_KILL = "All workers are busy or dying, will shutdown {} keep-alive connections"
_ON = (
    "AH00457: Accepting new connections again: {} active conns "
    "({} lingering/0 clogged/0 suspended), {} idle workers"
)
_LINES = [
    ("00.000000", "notice", "AH00489: Apache/2.4.71 (Debian) configured"),
    ("01.000000", "debug", "Too many open connections (6), " + _OFF),
    ("01.000010", "trace1", "Idle workers: 0"),
    ("01.000020", "trace1", _KILL.format(2)),
    ("01.012000", "trace1", _KILL.format(1)),
    ("01.012100", "debug", _ON.format(4, 1, 1)),
    ("02.000000", "debug", "Too many open connections (11), " + _OFF),
    ("02.000010", "trace1", "Idle workers: 1"),
    ("02.100000", "debug", _ON.format(7, 0, 2)),
    ("03.000000", "trace1", _KILL.format(3)),
]
LOG = "".join(f"[2026-12-06 07:11:{at}] [mpm_event:{level}] {text}\n" for at, level, text in _LINES)
LOG += "[2026-12-06 07:11:04.000000] [core:notice] AH00094: Command line: '/usr/sbin/apache2'\n"


def test_the_listener_is_read_from_the_log() -> None:
    log = read_listener_log(LOG)
    # mpm_event lines from 07:11:00 to 07:11:03; disabled 12.1 ms and 100 ms of that (wall
    # clock seconds carry about 1e-7 s of rounding).
    assert log.span_s == pytest.approx(3.0, rel=1e-6)
    assert log.disabled_share == pytest.approx((0.0121 + 0.1) / 3.0, rel=1e-4)
    assert log.enables_per_s == pytest.approx(2 / 3.0, rel=1e-6)
    assert log.enables_one_idle == 0.5
    assert [(k.closed, k.for_accept) for k in log.kills] == [(2, True), (1, False), (3, False)]
    # Two disables: the first found no idle worker (and killed), the second stopped at the slot
    # limit with a worker idle.
    assert log.disables_per_s == pytest.approx(2 / 3.0, rel=1e-6)
    assert log.disables_no_worker == 0.5


def test_a_listener_that_found_the_workers_busy_first_counts_as_wanting_one() -> None:
    # A keep-alive request found no worker earlier in the listener's pass ("All workers busy",
    # no "Idle workers" line follows); a later "Too many open connections" whose next line is
    # not "Idle workers" is a slot stop.
    lines = [
        ("00.000000", "debug", "All workers busy, " + _OFF),
        ("00.000010", "trace1", _KILL.format(1)),
        ("01.000000", "debug", _ON.format(3, 0, 2)),
        ("02.000000", "debug", "Too many open connections (9), " + _OFF),
        ("02.000010", "trace1", _KILL.format(2)),
        ("02.000020", "trace1", "Idle workers: 0"),
    ]
    text = "".join(f"[2026-12-06 07:11:{at}] [mpm_event:{lvl}] {msg}\n" for at, lvl, msg in lines)
    log = read_listener_log(text)
    assert log.disables_per_s == pytest.approx(1.0, rel=1e-4)
    assert log.disables_no_worker == 0.5


def test_a_window_leaves_the_rest_of_the_log_out() -> None:
    whole = read_listener_log(LOG)
    start = whole.kills[0].at_s - 0.5
    log = read_listener_log(LOG, start, start + 1.0)
    assert [k.closed for k in log.kills] == [2, 1]
    assert log.enables_per_s == pytest.approx(1 / log.span_s, rel=1e-6)


def test_a_kill_is_followed_when_another_not_for_an_accept_comes_soon() -> None:
    kills = (
        Kill(0.0, 2, True),
        Kill(0.012, 1, False),  # the race's
        Kill(1.0, 3, True),
        Kill(1.5, 1, False),  # too late
        Kill(2.0, 1, True),
        Kill(2.001, 2, True),  # for an accept: not the race's
    )
    assert followed(kills, 0.06) == [(2, True), (3, False), (1, False), (2, False)]


def test_the_races_chance_is_found_from_the_kills_that_follow() -> None:
    rng = random.Random(7)
    b, p = 0.1, 0.4
    observed = []
    for _ in range(4000):
        n = rng.choice([1, 2, 2, 3, 5])
        follow = rng.random() < 1.0 - (1.0 - b) * (1.0 - p) ** (n - 1)
        observed.append((n, follow))
    found_b, found_p = race_estimate(observed)
    assert found_b == pytest.approx(b, abs=0.04)
    assert found_p == pytest.approx(p, abs=0.04)
    # No kill ever followed: no race, no other trigger.
    assert race_estimate([(2, False), (3, False)]) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--case", "no-such-case"], "unknown case 'no-such-case'"),
        (["--case", "event-ka-rho05"], "event-ka-rho05 is not a single-child event case"),
        (["--case", "worker-ka-rho07"], "worker-ka-rho07 is not a single-child event case"),
        (["--events", "1000"], "--events must be at least 50,000"),
        (["--count-lag", "1.5"], "--count-lag must be in [0, 1]"),
        (["--count-lag", "nan"], "--count-lag must be in [0, 1]"),
        (["--round-trip", "-0.01"], "--round-trip must be in [0, 1] s"),
        (["--round-trip", "nan"], "--round-trip must be in [0, 1] s"),
    ],
)
def test_bad_input_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("linger_race: error: ")
    assert message in err
    assert "\n" not in err
