"""capplan.fpm.handlers and capplan.fpm.locate: where an httpd config sends PHP, and the pool
that listens there; `inspect` showing both with file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.config.evaluator import evaluate_config
from capplan.fpm.handlers import FcgiBackend, fcgi_backends, parse_fcgi_url
from capplan.fpm.locate import find_fpm_side, serves
from capplan.fpm.pool import read_fpm_config
from capplan.location import Location

DATA = Path(__file__).parent.parent / "data" / "fpm"


@pytest.mark.parametrize(
    ("url", "want"),
    [
        (
            "proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost",
            ("unix", "/run/php/php8.2-fpm.sock"),
        ),
        ("proxy:fcgi://127.0.0.1:9000", ("tcp", "127.0.0.1:9000")),
        ("fcgi://127.0.0.1:9000/var/www/$1", ("tcp", "127.0.0.1:9000")),
        ("unix:/run/php-fpm/www.sock|fcgi://localhost/var/www/", ("unix", "/run/php-fpm/www.sock")),
        ("fcgi://backend/", ("tcp", "backend:8000")),
        ("fcgi://[::1]:9000/", ("tcp", "[::1]:9000")),
        ("http://127.0.0.1:8080/", None),
        ("application/x-httpd-php", None),
        ("unix:/run/x.sock|http://localhost", None),
    ],
)
def test_parse_fcgi_url(url: str, want: tuple[str, str] | None) -> None:
    assert parse_fcgi_url(url) == want


def _evaluated(tmp_path: Path, body: str) -> list[FcgiBackend]:
    conf = tmp_path / "httpd.conf"
    (tmp_path / "modules").mkdir()
    for module in ("mpm_event", "proxy", "proxy_fcgi"):
        (tmp_path / "modules" / f"mod_{module}.so").touch()
    conf.write_text(
        f"ServerRoot {tmp_path}\nLoadModule mpm_event_module modules/mod_mpm_event.so\n"
        "LoadModule proxy_module modules/mod_proxy.so\n"
        f"LoadModule proxy_fcgi_module modules/mod_proxy_fcgi.so\n{body}\n"
    )
    return list(fcgi_backends(evaluate_config(str(conf)).directives))


def test_backends_from_sethandler_and_proxy_block(tmp_path: Path) -> None:
    backends = _evaluated(
        tmp_path,
        '<FilesMatch "\\.php$">\n'
        '    SetHandler "proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost"\n'
        "</FilesMatch>\n"
        '<Proxy "unix:/run/php/php8.2-fpm.sock|fcgi://localhost">\n'
        "    ProxySet max=10\n"
        "</Proxy>\n"
        'ProxyPassMatch "^/api/(.*\\.php)$" "fcgi://127.0.0.1:9001/srv/api/$1" max=4',
    )
    assert [(b.kind, b.address, b.directive, b.location.line) for b in backends] == [
        ("unix", "/run/php/php8.2-fpm.sock", "SetHandler", 6),
        ("tcp", "127.0.0.1:9001", "ProxyPassMatch", 11),
    ]
    assert [(b.max_connections, b.max_location and b.max_location.line) for b in backends] == [
        (10, 9),
        (4, 11),
    ]


def test_no_backend_without_fcgi(tmp_path: Path) -> None:
    assert _evaluated(tmp_path, "SetHandler server-status\nProxyPass /x http://127.0.0.1:81/") == []


def _backend(kind: str, address: str) -> FcgiBackend:
    return FcgiBackend(kind, address, "SetHandler", Location("httpd.conf", 1))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("listen_line", "backend", "match"),
    [
        ("/run/php/php8.2-fpm.sock", ("unix", "/var/run/php/php8.2-fpm.sock"), True),
        ("/run/php/php8.2-fpm.sock", ("unix", "/run/php/other.sock"), False),
        ("127.0.0.1:9000", ("tcp", "localhost:9000"), True),
        ("9000", ("tcp", "10.0.0.5:9000"), True),
        ("[::]:9000", ("tcp", "127.0.0.1:9000"), True),
        ("127.0.0.1:9000", ("tcp", "127.0.0.1:9001"), False),
        ("127.0.0.1:9000", ("unix", "/run/php.sock"), False),
    ],
)
def test_serves(tmp_path: Path, listen_line: str, backend: tuple[str, str], match: bool) -> None:
    (tmp_path / "p.conf").write_text(
        f"[w]\nlisten = {listen_line}\npm = static\npm.max_children = 2\n"
    )
    pool = read_fpm_config(str(tmp_path / "p.conf")).pools[0]
    assert serves(pool, _backend(*backend)) is match


def _fixture_glob(pattern: str) -> list[str]:
    """The default locations mapped onto the fixtures (the machine's /etc is never read)."""
    import glob

    for prefix, case in (("/etc/php/", "debian"), ("/etc/php-fpm", "rhel")):
        if pattern.startswith(prefix):
            return sorted(glob.glob(str(DATA / case / "php-fpm.conf")))
    return []


def test_default_locations_find_the_serving_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    import capplan.fpm.pool as pool_module

    real_glob = pool_module._default_glob

    def included(pattern: str) -> list[str]:
        pattern = pattern.replace("/etc/php/8.2/fpm/", f"{DATA}/debian/")
        return real_glob(pattern.replace("/etc/php-fpm.d/", f"{DATA}/rhel/php-fpm.d/"))

    monkeypatch.setattr(pool_module, "_default_glob", included)
    side = find_fpm_side([_backend("unix", "/run/php-fpm/www.sock")], glob=_fixture_glob)
    assert side is not None
    assert (side.pool.name, side.pool.max_children) == ("www", 50)
    assert side.config.path.endswith("rhel/php-fpm.conf")
    debian = find_fpm_side([_backend("unix", "/run/php/php8.2-fpm.sock")], glob=_fixture_glob)
    assert debian is not None
    assert debian.pool.max_children == 5
    assert find_fpm_side([_backend("tcp", "127.0.0.1:9000")], glob=_fixture_glob) is None
    assert find_fpm_side([], glob=_fixture_glob) is None


def test_inspect_shows_backend_and_pool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pool = tmp_path / "www.conf"
    pool.write_text(
        "[www]\nlisten = /run/php/php8.2-fpm.sock\npm = ondemand\npm.max_children = 12\n"
        "php_admin_value[memory_limit] = 192M\n"
    )
    conf = tmp_path / "httpd.conf"
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "mod_mpm_event.so").touch()
    conf.write_text(
        f"ServerRoot {tmp_path}\nLoadModule mpm_event_module modules/mod_mpm_event.so\n"
        'SetHandler "proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost"\n'
    )
    assert main(["inspect", str(conf), "--fpm-pool", str(pool)]) == 0
    out = capsys.readouterr().out
    assert f"SetHandler → unix:/run/php/php8.2-fpm.sock ({conf}:3)" in out
    assert f"pm.max_children            12                        {pool}:4" in out
    assert "192 MiB" in out
    assert main(["inspect", str(conf), "--fpm-pool", str(pool), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    fpm = document["php_fpm"]
    assert fpm["pool"]["effective"]["pm.max_children"] == 12
    assert fpm["pool"]["provenance"]["pm"] == f"{pool}:3"
    assert fpm["backends"][0]["location"] == f"{conf}:3"


def test_inspect_bad_pool_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = tmp_path / "www.conf"
    pool.write_text("[www]\nlisten = /s\npm = static\npm.max_children = lots\n")
    conf = tmp_path / "httpd.conf"
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "mod_mpm_event.so").touch()
    conf.write_text(
        f"ServerRoot {tmp_path}\nLoadModule mpm_event_module modules/mod_mpm_event.so\n"
    )
    assert main(["inspect", str(conf), "--fpm-pool", str(pool)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{pool}:4: unable to parse value for entry 'pm.max_children'")
    assert "pm.max_children = lots" in err


def test_inspect_without_fcgi_has_no_php_fpm_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "httpd.conf"
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "mod_mpm_event.so").touch()
    conf.write_text(
        f"ServerRoot {tmp_path}\nLoadModule mpm_event_module modules/mod_mpm_event.so\n"
    )
    assert main(["inspect", str(conf), "--format", "json"]) == 0
    assert "php_fpm" not in json.loads(capsys.readouterr().out)
