"""Differential fuzzing: random, mostly valid configs read by capplan and by apache2 -t.

Each config mixes conditionals, defines, includes, quoting, continuation and common
directives; capplan's directive stream, files, defines and warnings (or its first error line)
must equal httpd's. Seeds are fixed, so a failure names a reproducible config.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest

from tests.data.config import regen

HEAD = (regen.CASES / "basic" / "httpd.conf").read_text().split("Timeout 30")[0]
# Plain lines; sections are generated balanced (mostly) by `_block`.
LINES = [
    "ServerAdmin {word}",
    "Timeout {number}",
    "KeepAliveTimeout {number}",
    "KeepAlive {flag}",
    "Define {var} {word}",
    "Define {var}",
    "UnDefine {var}",
    "ServerAdmin ${{{var}}}",
    "ServerAdmin ${{{any_var}}}",
    "ServerAlias {word} {word}",
    "Require all granted",
    "MaxRequestWorkers {number}",
    "ThreadsPerChild 25",
    "# comment {word}",
    'ServerAdmin "{word} {word}"',
    "ServerAdmin '{word}'",
    "ServerAdmin {word}\\",
    "Include inc/{file}",
    "IncludeOptional inc/*.{ext}",
    "LoadModule status_module /usr/lib/apache2/modules/mod_status.so",
    "ExtendedStatus {flag}",
    "",
    "  ServerAdmin   indented   ",
    "ServerAdmin x\\\\",
    "Protocols {word} {word}",
    "Include inc/*",
    "Include inc",
    "IncludeOptional inc/[ab].conf",
    "IncludeOptional inc/?.conf",
    "Include inc/sub/*.conf",
    "IncludeOptional */x.conf",
    'Define S "{word} {word}"',
    "Protocols ${{S}}",
    "ServerAdmin ${{S}}",
    'ServerAdmin "${{S}}"',
    "UnDefine S",
    "Define S",
    "Protocols '{word}'\"{word}\"",
    'ServerAdmin "unterminated {word}',
    'ServerAdmin \\"{word}',
    "ServerAdmin {word}#x",
    "Protocols {word}\t\t{word}",
    "ServerAdmin ${{}}",
    "ServerAdmin ${{a:b}}",
    "ServerAdmin $ {{A}}",
    'KeepAlive "On"',
    "KeepAlive ''",
    'Timeout ""',
    'ServerAdmin "" x',
    "Options None",
    "AllowOverride None",
]
SECTIONS = [
    ("<IfModule {module}>", "</IfModule>"),
    ("<IfModule !{module}>", "</ifmodule>"),
    ("<IfDefine {var}>", "</IfDefine>"),
    ("<IfDefine !{var}>", "</IfDefine>"),
    ("<IfVersion {op} {version}>", "</IfVersion>"),
    ("<IfDirective {directive}>", "</IfDirective>"),
    ("<IfSection {section}>", "</IfSection>"),
    ("<IfFile {file}>", "</IfFile>"),
    ("<VirtualHost *:80>", "</VirtualHost>"),
    ("<Directory /tmp>", "</Directory>"),
    ("<Location />", "</Location>"),
    ("<Files x>", "</Files>"),
    ("<IfVersion ~ ^2\\.4>", "</IfVersion>"),
    ("<IfVersion /^2/>", "</IfVersion>"),
    ('<IfModule "mod_status.c">', "</IfModule>"),
    ("<IfModule ! mod_status.c>", "</IfModule>"),
    ("<IfDefine S>", "</IfDefine>"),
    ('<IfVersion >= "2.4.10">', "</IfVersion>"),
    ("<IfFile inc/a.conf>", "</IfFile>"),
    ("<IfFile !inc>", "</IfFile>"),
    ('<Directory "/tmp">', "</directory>"),
    ('<LocationMatch "^/x">', "</LocationMatch>"),
    ('<If "true">', "</If>"),
    ("<FilesMatch \\.x$>", "</FilesMatch>"),
    ("<Limit GET>", "</Limit>"),
]
CHOICES = {
    "word": ["a", "b", "c.d", "e@f"],
    "number": ["1", "5", "25", "0"],
    "flag": ["On", "off", "On", "maybe"],
    "var": ["A", "B", "a"],
    "any_var": ["A", "b", "NOPE", "CAPPLAN_CASE_VAR"],
    "module": ["event.c", "mpm_event_module", "mod_status.c", "status_module", "prefork.c"],
    "op": ["=", "<", ">=", "!=", "~"],
    "version": ["2.4", "2.4.71", "3", "^2"],
    "directive": ["ExtendedStatus", "MaxRequestWorkers", "SSLEngine"],
    "section": ["VirtualHost", "Proxy", "Directory"],
    "file": ["a.conf", "b.conf", "nope.conf"],
    "ext": ["conf", "x"],
}
SEEDS = range(150)


def _fill(rng: random.Random, template: str) -> str:
    return template.format(**{k: rng.choice(v) for k, v in CHOICES.items()})


def _block(rng: random.Random, depth: int) -> list[str]:
    """Some lines and sections; one section in twenty is left unclosed."""
    lines: list[str] = []
    for _ in range(rng.randint(1, 5)):
        if depth < 3 and rng.random() < 0.3:
            opener, closer = rng.choice(SECTIONS)
            lines.append(_fill(rng, opener))
            lines += _block(rng, depth + 1)
            if rng.random() > 0.05:
                lines.append(closer)
        else:
            lines.append(_fill(rng, rng.choice(LINES)))
    return lines


def _write_case(root: Path, seed: int) -> Path:
    rng = random.Random(seed)
    main = root / "httpd.conf"
    body = _block(rng, 0)
    included = _block(rng, 1)
    main.write_text(HEAD.replace(regen.PLACEHOLDER, str(root)) + "\n".join(body) + "\n")
    for sub in ("inc", "run", "logs"):
        (root / sub).mkdir()
    (root / "inc" / "a.conf").write_text("\n".join(included) + "\n")
    (root / "inc" / "b.conf").write_text("ServerAdmin from-b\n")
    (root / "inc" / "sub").mkdir()
    (root / "inc" / "sub" / "c.conf").write_text("ServerAdmin sub-c\n")
    (root / "inc" / ".hidden.conf").write_text("ServerAdmin hidden\n")
    (root / "inc" / "z.txt").write_text("\n".join(_block(rng, 2)) + "\n")
    return main


@pytest.mark.apache
@pytest.mark.parametrize("seed", SEEDS, ids=lambda seed: f"seed-{seed}")
def test_random_config_reads_as_httpd_reads_it(seed: int, apache2: str) -> None:
    with tempfile.TemporaryDirectory(prefix="cc") as tmp:
        root = Path(tmp)
        main = _write_case(root, seed)
        httpd = regen.observe_httpd(apache2, main, root, {})
        capplan = regen.observe_capplan(main, root, {})
        text = main.read_text()
    if httpd["error"] is None:
        assert capplan == httpd, text
    else:
        assert capplan["error"] == httpd["error"], text
