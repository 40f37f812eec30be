"""httpd side of PHP-FPM: the evaluated directives → where httpd sends PHP requests.

Input: the directives of an evaluated httpd config. Output: `FcgiBackend`s, one per distinct
FastCGI address named by `SetHandler "proxy:…fcgi://…"`, `ProxyPass`/`ProxyPassMatch … fcgi://`
or a `<Proxy>` block, with mod_proxy's `max=` connection pool when it is set, each with file:line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from capplan.config.types import Directive
from capplan.errors import CapplanError
from capplan.location import Location

# Directive keys that can name a FastCGI backend; `mpm.effective_config` imports this module only
# when one of them mentions fcgi://.
Target = tuple[Literal["unix", "tcp"], str]
BACKEND_KEYS = ("sethandler", "proxypass", "proxypassmatch", "<proxy", "proxyset", "balancermember")


@dataclass(frozen=True, slots=True)
class FcgiBackend:
    """A FastCGI address httpd forwards to: a unix socket path or `host:port`.

    `max_connections`: mod_proxy's `max=` for this worker (connections per httpd child; unset,
    mod_proxy allows ThreadsPerChild, one per thread).
    """

    kind: Literal["unix", "tcp"]
    address: str
    directive: str
    location: Location
    max_connections: int | None = None
    max_location: Location | None = None

    def __str__(self) -> str:
        return f"unix:{self.address}" if self.kind == "unix" else self.address


def is_fcgi_directive(directive: Directive) -> bool:
    """Cheap pre-check: a directive that could name a FastCGI backend."""
    return directive.key in BACKEND_KEYS and any("fcgi://" in a.lower() for a in directive.args)


def parse_fcgi_url(url: str) -> Target | None:
    """`unix:/run/php.sock|fcgi://localhost/…` → ("unix", "/run/php.sock");
    `fcgi://127.0.0.1:9000/…` → ("tcp", "127.0.0.1:9000"); anything else → None.

    NOTE: mod_proxy takes the socket path before `|` and ignores the host after it
    (`ap_proxy_de_socketfy()`); a FastCGI URL without a port means mod_proxy_fcgi's default,
    8000 (`ap_proxy_port_of_scheme()`), not php-fpm's customary 9000.
    """
    text = url.strip()
    if text.lower().startswith("proxy:"):
        text = text[6:]
    if text.lower().startswith("unix:"):
        path, bar, rest = text[5:].partition("|")
        if not bar or not rest.lower().startswith("fcgi://"):
            return None
        return "unix", path
    if not text.lower().startswith("fcgi://"):
        return None
    authority = text[7:].split("/", 1)[0]
    if not authority:
        return None
    if authority.startswith("["):
        host, _, port = authority[1:].partition("]")
        port = port.lstrip(":")
        host = f"[{host}]"
    else:
        host, _, port = authority.partition(":")
    return "tcp", f"{host}:{port or '8000'}"


def _params(args: Sequence[str], location: Location) -> int | None:
    """mod_proxy's `max=N` among `key=value` worker parameters (None when not given)."""
    for arg in args:
        key, eq, value = arg.partition("=")
        if eq and key.lower() == "max":
            if not value.isdigit():
                raise CapplanError(f"ProxyPass max={value}: must be a number", location)
            return int(value)
    return None


def fcgi_backends(directives: Sequence[Directive]) -> tuple[FcgiBackend, ...]:
    """Every distinct FastCGI address the config sends requests to, first mention first; a later
    `max=` (ProxyPass parameter, ProxySet in `<Proxy>` or naming the URL) is attached to it."""
    found: dict[Target, FcgiBackend] = {}
    maxes: list[tuple[Target, int, Location]] = []
    proxy_url: Target | None = None
    target: Target | None
    for d in directives:
        key = d.key
        if key == "<proxy":
            proxy_url = parse_fcgi_url(d.args[0]) if d.args else None
            continue
        if key == "sethandler" and d.args:
            target = parse_fcgi_url(d.args[0])
            if target is not None:
                found.setdefault(target, FcgiBackend(*target, "SetHandler", d.location))
        elif key in ("proxypass", "proxypassmatch") and len(d.args) >= 2:
            target = parse_fcgi_url(d.args[1])
            if target is not None:
                name = "ProxyPassMatch" if key == "proxypassmatch" else "ProxyPass"
                found.setdefault(target, FcgiBackend(*target, name, d.location))
                limit = _params(d.args[2:], d.location)
                if limit is not None:
                    maxes.append((target, limit, d.location))
        elif key == "proxyset" and d.args:
            target = parse_fcgi_url(d.args[0])
            params = d.args[1:] if target is not None else d.args
            if target is None and "Proxy" in d.sections:
                target = proxy_url
            limit = _params(params, d.location)
            if target is not None and limit is not None:
                maxes.append((target, limit, d.location))
    for target, limit, location in maxes:
        if target in found:
            found[target] = replace(found[target], max_connections=limit, max_location=location)
    return tuple(found.values())
