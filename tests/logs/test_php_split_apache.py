"""What a real apache2 logs as the handler (%R, %>R) and URL (%U, %>U) of PHP and static
requests, and the PHP split `capplan profile --php` makes of it: a .php file sent to FPM with
SetHandler, `/` through DirectoryIndex index.php, a front controller reached through mod_rewrite
in .htaccess, and a static file. No FPM listens: the PHP requests end in 503, which is logged
with the same handler."""

from __future__ import annotations

import http.client
import re
import time
from pathlib import Path

import pytest

from capplan.cli import main
from tests.httpd import base_config, free_port, prepare_root, running_server

pytestmark = pytest.mark.apache
FORMAT = '%t "%r" %>s %D "%R" "%>R" "%U" "%>U"'
PATHS = ("/style.css", "/shop/cart.php", "/", "/blog/2024/05/post/")


@pytest.fixture(scope="module")
def logged(apache2: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The access log of one request to each of PATHS."""
    root = tmp_path_factory.mktemp("php") / "srv"
    prepare_root(root)
    (root / "htdocs" / "style.css").write_text("body {}\n")
    (root / "htdocs" / "index.php").write_text("<?php echo 1;\n")
    (root / "htdocs" / "shop").mkdir()
    (root / "htdocs" / "shop" / "cart.php").write_text("<?php echo 2;\n")
    (root / "htdocs" / "blog").mkdir()
    (root / "htdocs" / "blog" / ".htaccess").write_text(
        "RewriteEngine On\nRewriteCond %{REQUEST_FILENAME} !-f\nRewriteRule ^ /index.php [L]\n"
    )
    port = free_port()
    conf = root / "conf" / "httpd.conf"
    escaped = FORMAT.replace('"', '\\"')
    conf.write_text(
        base_config(root, "event", port, extra_modules=("dir", "rewrite", "proxy", "proxy_fcgi"))
        + f'LogFormat "{escaped}" php\nCustomLog "{root}/logs/access.log" php\n'
        + "DirectoryIndex index.php index.html\n"
        + f'<Directory "{root}/htdocs">\n    AllowOverride All\n    Require all granted\n'
        + "</Directory>\n"
        + '<FilesMatch "\\.php$">\n'
        + f'    SetHandler "proxy:unix:{root}/run/fpm.sock|fcgi://localhost"\n'
        + "</FilesMatch>\n"
    )
    statuses = []
    with running_server(root, conf, port):
        for path in PATHS:
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            client.request("GET", path)
            response = client.getresponse()
            response.read()
            statuses.append(response.status)
            client.close()
        log = root / "logs" / "access.log"
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and len(log.read_text().splitlines()) < len(PATHS):
            time.sleep(0.05)  # the log is written when each request ends
    assert statuses == [200, 503, 503, 503]  # no FPM behind the socket
    return log


def test_what_httpd_logs_as_handler_and_url(logged: Path) -> None:
    text = logged.read_text()
    # keyed by the path of the request line: a busy machine may log two requests out of order
    fields = {
        quoted[0].split(" ")[1]: quoted[1:]
        for quoted in (re.findall(r'"([^"]*)"', line) for line in text.splitlines())
    }
    fpm = fields["/shop/cart.php"][0]
    assert re.fullmatch(r"proxy:unix:.*/run/fpm\.sock\|fcgi://localhost", fpm), text
    assert fields == {
        # a static file: the default handler, which httpd names only while it runs
        "/style.css": ["-", "-", "/style.css", "/style.css"],
        "/shop/cart.php": [fpm, fpm, "/shop/cart.php", "/shop/cart.php"],
        # DirectoryIndex: mod_dir's fast redirect rewrites the request itself
        "/": [fpm, fpm, "/index.php", "/index.php"],
        # mod_rewrite in .htaccess: an internal redirect, %R and %U show the original request
        "/blog/2024/05/post/": ["redirect-handler", fpm, "/blog/2024/05/post/", "/index.php"],
    }, text


@pytest.mark.parametrize(
    ("fmt", "share", "warning"),
    [
        ('%t "%r" %>s %D "%R" "%>R" "%U" "%>U"', "0.75", None),
        ('%t "%r" %>s %D "%R" "%{x}i" "%U" "%{y}i"', "0.5", "1 requests were redirected"),
        ('%t "%r" %>s %D "%{a}i" "%{b}i" "%{c}i" "%>U"', "0.75", None),
        ('%t "%r" %>s %D "%{a}i" "%{b}i" "%U" "%{d}i"', "0.5", None),
    ],
    ids=["final-handler", "original-handler", "final-url", "original-url"],
)
def test_the_split_of_a_real_log(
    *,
    logged: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
    share: str,
    warning: str | None,
) -> None:
    out = tmp_path / "profile.yaml"
    assert main(["profile", str(logged), "-f", fmt, "--php", "-o", str(out)]) == 0
    assert f"\n  share: {share}\n" in out.read_text()
    err = capsys.readouterr().err
    assert (warning in err) if warning else ("redirected" not in err)
