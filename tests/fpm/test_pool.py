"""capplan.fpm.pool against the real php-fpm: stock Debian and RHEL pools and the corners of its
INI dialect read the same values `php-fpm -tt` prints; the configs it refuses, refused alike."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from capplan.errors import CapplanError
from capplan.fpm.pool import FpmPool, php_size_bytes, read_fpm_config, time_seconds
from tests.fpm.phpfpm import tt_error, tt_values

DATA = Path(__file__).parent.parent / "data" / "fpm"


def _relocated(case: str, tmp: Path) -> Path:
    """The case's files under `tmp`, absolute /etc, /run and /var paths moved under it too, so
    php-fpm reads only them and writes nothing outside `tmp`."""
    root = tmp / "root"
    shutil.copytree(DATA / case, root)
    for path in root.rglob("*.conf"):
        text = path.read_text()
        for old, new in (
            ("/etc/php/8.2/fpm/", f"{root}/"),
            ("/etc/php-fpm.d/", f"{root}/php-fpm.d/"),
            ("/run/", f"{tmp}/run/"),
            ("/var/", f"{tmp}/var/"),
        ):
            text = text.replace(old, new)
        path.write_text(text)
    for sub in ("run/php", "run/php-fpm", "var/log/php-fpm", "root/run", "root/log"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    return root


def _as_tt(pool: FpmPool) -> dict[str, str]:
    """The pool's figures as `php-fpm -tt` prints them."""
    return {
        "pm": pool.pm,
        "pm.max_children": str(pool.max_children),
        "pm.start_servers": str(pool.start_servers),
        "pm.min_spare_servers": str(pool.min_spare_servers),
        "pm.max_spare_servers": str(pool.max_spare_servers),
        "pm.max_requests": str(pool.max_requests),
        "pm.process_idle_timeout": str(pool.process_idle_timeout_s),
        "listen": pool.listen,
        "listen.backlog": str(pool.listen_backlog),
        "request_terminate_timeout": f"{pool.request_terminate_timeout_s}s",
        "pm.status_path": pool.status_path or "undefined",
    }


@pytest.mark.parametrize(
    ("case", "main", "env"),
    [
        ("debian", "php-fpm.conf", {}),
        ("rhel", "php-fpm.conf", {}),
        ("tricky", "php-fpm.conf", {"SHOP_CHILDREN": "24"}),
    ],
    ids=["debian-stock", "rhel-stock", "includes-vars-units"],
)
def test_pools_read_as_php_fpm_reads_them(
    php_fpm: str, tmp_path: Path, case: str, main: str, env: dict[str, str]
) -> None:
    root = _relocated(case, tmp_path)
    if case == "rhel":
        # RHEL's pool runs as `apache`, a user Debian does not have; php-fpm -tt checks it.
        www = root / "php-fpm.d" / "www.conf"
        www.write_text(www.read_text().replace("= apache\n", "= www-data\n"))
    want = tt_values(php_fpm, root / main, root, env)
    got = read_fpm_config(str(root / main), prefix=str(root), env=env)
    assert [p.name for p in got.pools] == [name for name in want if name != "global"]
    for pool in got.pools:
        printed = want[pool.name]
        mine = _as_tt(pool)
        assert {k: printed[k] for k in mine} == mine, pool.name


def test_tricky_case_figures() -> None:
    """What the tricky case exercises, spelled out (the oracle test above checks it too)."""
    config = read_fpm_config(
        str(DATA / "tricky" / "php-fpm.conf"),
        prefix=str(DATA / "tricky"),
        env={"SHOP_CHILDREN": "24"},
    )
    shop, api, static = config.pools
    assert (shop.pm, shop.max_children, shop.start_servers) == ("dynamic", 24, 4)
    assert shop.listen == f"{DATA / 'tricky'}/run/shop.sock"
    assert shop.status_path == "/fpm-status-shop"
    assert shop.memory_limit_bytes == 256 << 20
    assert shop.request_terminate_timeout_s == 120
    assert shop.accept_queue_capacity(somaxconn=4096) == 129
    assert api.accept_queue_capacity(somaxconn=4096) == 4097
    assert (api.pm, api.process_idle_timeout_s, api.request_terminate_timeout_s) == (
        "ondemand",
        20,
        1,
    )
    assert api.memory_limit_bytes == 64 << 20
    assert (static.pm, static.request_terminate_timeout_s) == ("static", 3600)
    assert config.process_max == 64
    location = shop.source_of("pm.max_children")
    assert location is not None
    assert (Path(location.path).name, location.line) == ("10-shop.conf", 6)
    assert [Path(loc.path).name for loc in location.included_from] == ["php-fpm.conf"]


BAD = [
    (
        "pm = static\npm.max_children = abc",
        8,
        "unable to parse value for entry 'pm.max_children': is not a valid number "
        "(greater or equal than zero)",
    ),
    ("pm = static\npm.max_children = 5\nbogus = 1", 9, "unknown entry 'bogus'"),
    ("pm = static\npm.max_children = 0", 8, "[pool w] pm.max_children must be a positive value"),
    # A value that is not set points at the pool's section header.
    (
        "pm = dynamic\npm.max_children = 10",
        4,
        "[pool w] pm.min_spare_servers(0) must be a positive value",
    ),
    (
        "pm = dynamic\npm.max_children = 5\npm.min_spare_servers = 1\npm.max_spare_servers = 3\n"
        "pm.start_servers = 4",
        11,
        "[pool w] pm.start_servers(4) must not be less than pm.min_spare_servers(1) and not "
        "greater than pm.max_spare_servers(3)",
    ),
    (
        "pm = dynamic\npm.max_children = 5\npm.min_spare_servers = 1\npm.max_spare_servers = 8",
        10,
        "[pool w] pm.min_spare_servers(1) and pm.max_spare_servers(8) cannot be greater than "
        "pm.max_children(5)",
    ),
    (
        "pm = sometimes\npm.max_children = 5",
        7,
        "unable to parse value for entry 'pm': invalid process manager (static, dynamic or "
        "ondemand)",
    ),
    (
        "pm = static\npm.max_children = 5\nrequest_terminate_timeout = 10x",
        9,
        "unable to parse value for entry 'request_terminate_timeout': unknown suffix used in "
        "time value",
    ),
    (
        "pm = static\npm.max_children = 5\n# a hash is no comment",
        9,
        "value is NULL for a ZEND_INI_PARSER_ENTRY",
    ),
]


@pytest.mark.parametrize(
    ("body", "line", "message"),
    BAD,
    ids=[m.split("'")[1] if "'" in m else m[9:40] for _, _, m in BAD],
)
def test_refused_like_php_fpm(
    php_fpm: str, tmp_path: Path, body: str, line: int, message: str
) -> None:
    config = tmp_path / "c.conf"
    config.write_text(
        f"[global]\npid = {tmp_path}/p\nerror_log = {tmp_path}/l\n[w]\nuser = nobody\n"
        f"listen = {tmp_path}/s\n{body}\n"
    )
    assert message in tt_error(php_fpm, config, tmp_path)
    with pytest.raises(CapplanError) as caught:
        read_fpm_config(str(config), prefix=str(tmp_path), env={})
    assert caught.value.message == message
    assert caught.value.location is not None
    assert caught.value.location.line == line


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30), ("30s", 30), ("2m", 120), ("1h", 3600), ("1d", 86400), ("1.5", 1), ("0", 0)],
)
def test_time_seconds(text: str, seconds: int) -> None:
    assert time_seconds(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [("128M", 128 << 20), ("1G", 1 << 30), ("512k", 512 << 10), ("-1", -1), ("1000", 1000)],
)
def test_php_size_bytes(text: str, size: int) -> None:
    assert php_size_bytes(text) == size


def test_missing_include_is_a_warning_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "main.conf").write_text(
        "include = nothing/*.conf\n[w]\nlisten = /s\npm = static\npm.max_children = 2\n"
    )
    config = read_fpm_config(str(tmp_path / "main.conf"), prefix=str(tmp_path))
    assert len(config.warnings) == 1
    assert "Nothing matches the include pattern" in config.warnings[0]


def test_no_pool_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "main.conf").write_text("[global]\npid = /x\n")
    with pytest.raises(CapplanError, match="at least one pool section"):
        read_fpm_config(str(tmp_path / "main.conf"))
