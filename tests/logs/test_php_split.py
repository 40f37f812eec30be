"""`capplan profile --php`: PHP requests told apart by their handler (%R) or URL path (%U, %r),
counted and timed in every scan path (one process, worker processes, the line-by-line fallback,
a real Dask cluster), written as a php: section that `check` and `recommend` load."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.errors import CapplanError
from capplan.logs.derive import LogProfile, checked_profile_yaml, render_profile_yaml
from capplan.logs.logformat import compile_format
from capplan.logs.parse import make_plan, scan_block
from capplan.logs.php_split import (
    DEFAULT_HANDLER_PATTERN,
    PhpRule,
    matching_rows,
    request_paths,
    resolve_split,
)
from capplan.logs.pipeline import ProfileRequest, profile_logs
from capplan.logs.scan import ScanOptions
from capplan.profile import load_profile
from tests.test_fpm_plan import _setup as fpm_setup

FPM = "proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost"
WITH_HANDLER = '%h %l %u %t "%r" %>s %b "%{User-Agent}i" %D %>R'
WITH_URL = '%h %l %u %t "%m %U%q %H" %>s %b "%{User-Agent}i" %D'
REQUEST_LINE_ONLY = '%h %l %u %t "%r" %>s %b "%{User-Agent}i" %D'


@dataclass(frozen=True, slots=True)
class Row:
    path: str  # with the query string, as the client sent it
    handler: str
    duration_us: int

    @property
    def php(self) -> bool:
        return self.handler == FPM


def mix(n: int) -> list[Row]:
    """n requests, 2 in 7 of them PHP, with durations spread by multiplicative hashing: PHP
    20-70 ms, the others 0.2-3.2 ms; one PHP page is `/` (DirectoryIndex index.php)."""
    rows = []
    for i in range(n):
        if i % 7 in (0, 3):
            path = "/" if i % 5 == 0 else f"/shop/cart.php?item={i}"
            rows.append(Row(path, FPM, 20_000 + (i * 7919) % 50_000))
        else:
            static = ("/static/app.css", "/img/logo.png", "/api/items")[i % 3]
            handler = ("-", "-", "proxy-server")[i % 3]  # files; a ProxyPass to an API
            rows.append(Row(static, handler, 200 + (i * 104_729) % 3_000))
    return rows


def write_log(path: Path, rows: list[Row], fmt: str, *, bad_every: int = 0) -> None:
    """The rows as httpd writes them in `fmt` (one of the formats above), ten a second."""
    lines = []
    for i, row in enumerate(rows):
        second = i // 10
        stamp = f"[01/May/2024:10:{second // 60 % 60:02d}:{second % 60:02d} +0000]"
        url, _, query = row.path.partition("?")
        head = f"192.0.2.{i % 50} - - {stamp}"
        if fmt == WITH_URL:
            request = f"GET {url}{'?' + query if query else ''} HTTP/1.1"
            lines.append(f'{head} "{request}" 200 512 "ua" {row.duration_us}\n')
        else:
            tail = f" {row.handler}" if fmt == WITH_HANDLER else ""
            line = f'{head} "GET {row.path} HTTP/1.1" 200 512 "ua" {row.duration_us}{tail}\n'
            lines.append(line)
        if bad_every and i % bad_every == bad_every - 1:
            lines.append("not a log line\n")
    path.write_text("".join(lines))


def expected(rows: list[Row], is_php: list[bool]) -> tuple[float, float, float]:
    """(share, mean seconds, SCV) of the PHP rows, computed directly from the rows."""
    durations = [r.duration_us * 1e-6 for r, p in zip(rows, is_php, strict=True) if p]
    mean = statistics.fmean(durations)
    return len(durations) / len(rows), mean, statistics.pvariance(durations) / mean**2


def assert_exact(profile: LogProfile, rows: list[Row]) -> None:
    """The profile's PHP share and mean time are those of the rows served by FPM."""
    share, mean_s, _ = expected(rows, [r.php for r in rows])
    assert profile.php is not None
    assert profile.php.service is not None
    assert profile.php.share == share
    assert profile.php.service.mean_s == pytest.approx(mean_s, rel=1e-12)


def _profile(path: Path, fmt: str, rule: PhpRule, **options: object) -> LogProfile:
    request = ProfileRequest(
        paths=(str(path),),
        log_format=fmt,
        php=rule,
        options=ScanOptions(**options),  # type: ignore[arg-type]
    )
    return profile_logs(request)


# ------------------------------------------------------------------------------------------------
# Which field, which rule


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("GET /index.php HTTP/1.1", "/index.php"),
        ("GET /a.php?x=1&y=.css HTTP/1.1", "/a.php"),
        ("POST /wp-admin/admin-ajax.php HTTP/2.0", "/wp-admin/admin-ajax.php"),
        ("GET /old", "/old"),  # HTTP/0.9: no protocol
        ("-", "-"),  # no request line (a 408 before it arrived)
        ("", ""),
        ("\\x16\\x03\\x01", "\\x16\\x03\\x01"),  # TLS spoken to the plain port, escaped
    ],
    ids=["plain", "query", "http2", "http09", "dash", "empty", "garbage"],
)
def test_request_paths(line: str, path: str) -> None:
    column = [b"GET /x HTTP/1.1", line.encode(), b""]
    assert request_paths(column) == [b"/x", path.encode(), b""]


@pytest.mark.parametrize(
    ("handler", "php"),
    [
        (FPM, True),  # Debian's php8.2-fpm.conf
        ("proxy:fcgi://127.0.0.1:9000", True),
        ("proxy:unix:/run/php-fpm/www.sock|fcgi://localhost", True),  # RHEL's php.conf
        ("application/x-httpd-php", True),  # mod_php
        ("php-fpm", True),
        ("proxy:http://127.0.0.1:8080/", False),  # a reverse proxy to HTTP
        ("proxy-server", False),  # ProxyPass: the handler does not say where to
        ("redirect-handler", False),  # mod_rewrite's internal redirect
        ("-", False),  # a static file (the default handler is named only while it runs)
        ("text/html", False),  # a handler named by a content type (AddType)
    ],
)
def test_default_handler_rule(handler: str, php: bool) -> None:
    pattern = DEFAULT_HANDLER_PATTERN.encode()
    assert matching_rows([handler.encode()], pattern).tolist() == [php]


@pytest.mark.parametrize(
    ("fmt", "rule", "description"),
    [
        (WITH_HANDLER, PhpRule(), f"handler (%>R) matches {DEFAULT_HANDLER_PATTERN}"),
        ("%t %U %R %D", PhpRule(), f"handler (%R) matches {DEFAULT_HANDLER_PATTERN}"),
        (WITH_URL, PhpRule(), r"URL path (%U) matches \.php$"),
        ("%t %U %>U %D", PhpRule(), r"URL path (%>U) matches \.php$"),
        (REQUEST_LINE_ONLY, PhpRule(), r"path in %r matches \.php$"),
        (WITH_HANDLER, PhpRule(url_pattern="^/api/"), "path in %r matches ^/api/"),
        (
            WITH_HANDLER,
            PhpRule(url_pattern="^/$", handler_pattern="fcgi"),
            "handler (%>R) matches fcgi or path in %r matches ^/$",
        ),
    ],
    ids=["handler", "original-handler", "url", "final-url", "request-line", "url-regex", "both"],
)
def test_the_rule_reads_the_best_field(fmt: str, rule: PhpRule, description: str) -> None:
    split = resolve_split(rule, compile_format(fmt), ("a.log",))
    assert split.description == description
    assert split.original_handler == ("%R)" in description)


@pytest.mark.parametrize(
    ("fmt", "args", "message"),
    [
        (
            "%h %t %>s %D",
            ["--php"],
            "the log format has no handler (%R) and no URL (%U or %r) to tell PHP requests "
            "from others",
        ),
        ("%h %t %>s %D %R", ["--php-urls", "x"], "--php-urls needs the URL path"),
        (WITH_URL, ["--php-handlers", "x"], "--php-handlers needs the handler"),
    ],
    ids=["neither", "no-url", "no-handler"],
)
def test_a_format_without_the_field_exits_2_naming_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, args: list[str], message: str
) -> None:
    log = tmp_path / "access.log"
    log.write_text("192.0.2.1 [01/May/2024:10:00:00 +0000] 200 100 fcgi\n")
    out = tmp_path / "profile.yaml"
    assert main(["profile", str(log), "-f", fmt, *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"{log}: {message}")
    assert not out.exists()


@pytest.mark.parametrize("flag", ["--php-urls", "--php-handlers"])
def test_a_bad_regex_exits_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    log = tmp_path / "access.log"
    write_log(log, mix(20), WITH_HANDLER)
    out = tmp_path / "profile.yaml"
    assert main(["profile", str(log), "-f", WITH_HANDLER, flag, "(x", "-o", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{flag} '(x': not a regular expression: missing ), unterminated subpattern at position 0"
    ]
    assert not out.exists()


# ------------------------------------------------------------------------------------------------
# Share and time in PHP, exactly, in every scan path


@pytest.mark.parametrize(
    ("fmt", "rule", "is_php"),
    [
        (WITH_HANDLER, PhpRule(), lambda r: r.php),
        (WITH_URL, PhpRule(), lambda r: r.path.split("?")[0].endswith(".php")),
        (REQUEST_LINE_ONLY, PhpRule(), lambda r: r.path.split("?")[0].endswith(".php")),
        (REQUEST_LINE_ONLY, PhpRule(url_pattern=r"\.php$|^/$"), lambda r: r.php),
        (
            WITH_HANDLER,
            PhpRule(url_pattern="^/$", handler_pattern="^proxy-server$"),
            lambda r: r.path == "/" or r.handler == "proxy-server",
        ),
    ],
    ids=["handler", "url", "request-line", "url-regex", "either-regex"],
)
def test_share_and_time_in_php(
    tmp_path: Path, fmt: str, rule: PhpRule, is_php: Callable[[Row], bool]
) -> None:
    rows = mix(700)
    wanted = [is_php(r) for r in rows]
    log = tmp_path / "access.log"
    write_log(log, rows, fmt)
    php = _profile(log, fmt, rule, jobs=1).php
    share, mean_s, scv = expected(rows, wanted)
    assert php is not None
    assert php.service is not None
    assert php.requests == sum(wanted)
    assert php.share == share
    assert php.service.mean_s == pytest.approx(mean_s, rel=1e-12)
    assert php.service.scv == pytest.approx(scv, rel=1e-9)


def _scan_paths() -> Iterator[tuple[str, dict[str, object], int]]:
    yield "one-process", {"jobs": 1}, 0
    yield "two-processes", {"jobs": 2, "block_bytes": 16 << 10}, 0
    yield "line-by-line", {"jobs": 2, "block_bytes": 16 << 10}, 97  # a bad line in each block


@pytest.mark.parametrize(
    ("options", "bad_every"),
    [(o, b) for _, o, b in _scan_paths()],
    ids=[name for name, _, _ in _scan_paths()],
)
def test_every_scan_path_counts_the_same(
    tmp_path: Path, options: dict[str, object], bad_every: int
) -> None:
    rows = mix(6000)  # about 600 kB: dozens of 16 kB blocks
    log = tmp_path / "access.log"
    write_log(log, rows, WITH_HANDLER, bad_every=bad_every)
    profile = _profile(log, WITH_HANDLER, PhpRule(), **options)
    assert profile.skipped == (len(rows) // bad_every if bad_every else 0)
    assert_exact(profile, rows)
    serial = _profile(log, WITH_HANDLER, PhpRule(), jobs=1)
    assert render_profile_yaml(profile) == render_profile_yaml(serial)


def test_dask_cluster_counts_the_same(tmp_path: Path, scheduler: str) -> None:
    rows = mix(6000)
    log = tmp_path / "access.log"
    write_log(log, rows, WITH_HANDLER, bad_every=211)
    request = ProfileRequest(
        paths=(str(log),),
        log_format=WITH_HANDLER,
        php=PhpRule(),
        options=ScanOptions(block_bytes=16 << 10),
        dask=scheduler,
    )
    on_dask = profile_logs(request)
    assert_exact(on_dask, rows)
    local = _profile(log, WITH_HANDLER, PhpRule(), jobs=1)
    assert render_profile_yaml(on_dask) == render_profile_yaml(local)


# ------------------------------------------------------------------------------------------------
# The written profile


def test_without_php_the_blocks_carry_no_second_histogram(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write_log(log, mix(50), WITH_HANDLER)
    fmt = compile_format(WITH_HANDLER)
    plain = scan_block(make_plan(fmt, window_s=1.0, visit_gap_s=300.0), log.read_bytes())
    assert (plain.php_lines, plain.php_service) == (0, None)
    split = resolve_split(PhpRule(), fmt, (str(log),))
    with_php = make_plan(fmt, window_s=1.0, visit_gap_s=300.0, php=split)
    counted = scan_block(with_php, log.read_bytes())
    assert counted.php_service is not None
    assert counted.php_lines == counted.php_service.count == sum(r.php for r in mix(50))
    profile = profile_logs(ProfileRequest(paths=(str(log),), log_format=WITH_HANDLER))
    assert profile.php is None
    assert "\nphp:" not in render_profile_yaml(profile)


def test_no_match_writes_no_php_section_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "access.log"
    write_log(log, [r for r in mix(70) if not r.php], WITH_URL)
    out = tmp_path / "profile.yaml"
    assert main(["profile", str(log), "-f", WITH_URL, "--php", "-o", str(out)]) == 0
    warning = (
        r"--php: no request matched (URL path (%U) matches \.php$), so the profile has no php: "
        "section"
    )
    assert f"capplan profile: warning: {warning}" in capsys.readouterr().err.splitlines()
    assert f"# WARNING: {warning}" in out.read_text()
    assert load_profile(out).php is None


def test_redirected_requests_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """%R is the original request's handler: a front controller reached through mod_rewrite
    in .htaccess shows redirect-handler there, and only %>R shows FPM."""
    rows = [Row(r.path, "redirect-handler", r.duration_us) if r.path == "/" else r for r in mix(70)]
    fmt = WITH_HANDLER.replace("%>R", "%R")
    log = tmp_path / "access.log"
    write_log(log, rows, WITH_HANDLER)
    assert main(["profile", str(log), "-f", fmt, "--php", "-o", str(tmp_path / "p.yaml")]) == 0
    redirected = sum(r.handler == "redirect-handler" for r in rows)
    assert redirected > 0
    assert (
        f"capplan profile: warning: {redirected} requests were redirected internally (%R shows "
        "mod_rewrite's redirect-handler), so the PHP split cannot see what served them; log "
        "%>R, the handler of the final request"
    ) in capsys.readouterr().err.splitlines()


def test_rounding_never_makes_php_exceed_the_service_time(tmp_path: Path) -> None:
    """Whole-second %T: static requests log 0, so share × service_time equals the traffic's
    service time, and 1/3 × 4 s rounded would not: the written profile must still load."""
    fmt = '%h %t "%r" %>s %T %>R'
    lines = [
        f'192.0.2.1 [01/May/2024:10:00:0{i} +0000] "GET /{name} HTTP/1.1" 200 {t} {handler}\n'
        for i, (name, t, handler) in enumerate(
            [("a.php", 4, FPM), ("a.css", 0, "text/css"), ("b.css", 0, "text/css")]
        )
    ]
    log = tmp_path / "access.log"
    log.write_text("".join(lines))
    profile = _profile(log, fmt, PhpRule(), jobs=1)
    text = checked_profile_yaml(profile)
    assert "  share: 0.3333\n" in text
    assert "  service_time: 3.999s\n" in text  # 4 s would be 1.3332 s > 1.333 s
    assert "  service_time: 1.333s\n" in text


def test_without_durations_only_the_share_is_written(tmp_path: Path) -> None:
    fmt = '%h %t "%r" %>s %>R'
    rows = mix(70)
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f'192.0.2.1 [01/May/2024:10:00:{i % 60:02d} +0000] "GET {r.path} HTTP/1.1" 200 '
            f"{r.handler}\n"
            for i, r in enumerate(rows)
        )
    )
    request = ProfileRequest(paths=(str(log),), log_format=fmt, php=PhpRule(), service_time_s=0.05)
    text = checked_profile_yaml(profile_logs(request))
    out = tmp_path / "p.yaml"
    out.write_text(text)
    php = load_profile(out).php
    assert php is not None
    assert php.share == pytest.approx(sum(r.php for r in rows) / len(rows), rel=1e-3)
    assert php.service_time_s is None
    assert "service_time defaults to traffic.service_time" in text


@pytest.mark.parametrize("command", ["check", "recommend"])
def test_the_written_profile_drives_check_and_recommend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    conf, pool, _ = fpm_setup(tmp_path, children=5)  # httpd sends PHP to FPM's socket
    rows = mix(700)
    log = tmp_path / "access.log"
    write_log(log, rows, WITH_HANDLER)
    profile = tmp_path / "profile.yaml"
    assert main(["profile", str(log), "-f", WITH_HANDLER, "--php", "-o", str(profile)]) == 0
    code = main(
        [command, str(conf), "-p", str(profile), "--fpm-pool", str(pool), "--format", "json"]
    )
    document = json.loads(capsys.readouterr().out)
    assert code in (0, 1)  # a verdict, not a profile error
    share, mean_s, _ = expected(rows, [r.php for r in rows])
    assert document["profile"]["php"]["share"] == pytest.approx(share, rel=1e-3)
    assert document["profile"]["php"]["service_time"] == pytest.approx(mean_s, rel=1e-3)
    assert document["php_fpm"]["pool"] == "www"
    written = load_profile(profile)
    assert written.php is not None
    assert written.php.process_bytes == 64 << 20  # not in access logs: the default


def test_a_regex_is_searched_not_anchored(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    rows = mix(70)
    write_log(log, rows, REQUEST_LINE_ONLY)
    php = _profile(log, REQUEST_LINE_ONLY, PhpRule(url_pattern="cart"), jobs=1).php
    assert php is not None
    assert php.requests == sum("cart" in r.path for r in rows)


def test_resolve_split_error_is_a_capplan_error() -> None:
    with pytest.raises(CapplanError, match=r"^x.log, y.log: the log format has no handler"):
        resolve_split(PhpRule(), compile_format("%t %D"), ("x.log", "y.log"))


def test_a_php_request_without_duration_counts_in_the_share_not_the_time(tmp_path: Path) -> None:
    rows = mix(700)
    log = tmp_path / "access.log"
    write_log(log, rows, WITH_HANDLER)
    # "-" for %D on every third PHP request (a conditional %!200D, say)
    unknown = {i for i, r in enumerate(rows) if r.php and i % 3 == 0}
    lines = log.read_text().splitlines(keepends=True)
    for i in unknown:
        head, duration, handler = lines[i].rsplit(" ", 2)
        assert int(duration) == rows[i].duration_us
        lines[i] = f"{head} - {handler}"
    log.write_text("".join(lines))
    php = _profile(log, WITH_HANDLER, PhpRule(), jobs=1).php
    assert php is not None
    assert php.service is not None
    timed = [r.php and i not in unknown for i, r in enumerate(rows)]
    assert php.share == sum(r.php for r in rows) / len(rows)
    assert php.service.count == sum(timed)
    assert php.service.mean_s == pytest.approx(expected(rows, timed)[1], rel=1e-12)
