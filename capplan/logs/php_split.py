"""PHP split stage: a `--php*` request and a compiled LogFormat → which column tells PHP requests.

Input: the rule the user asked for (`PhpRule`: a URL-path regex, a handler regex, or the
defaults) and the `CompiledFormat`. Output: a frozen `PhpSplit` naming the format field each
regex is matched against, which the scan plan carries to the block scanner; and, per block,
`php_rows`: a boolean mask of the rows that are PHP requests, one regex search per distinct
value (a block repeats its paths and handlers many times), never one Python step per line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from capplan.errors import CapplanError
from capplan.logs.logformat import CompiledFormat
from capplan.logs.stats import BoolArray

# A URL path ending in .php: what `<FilesMatch \.php$>` sends to FPM (Debian's php-fpm conf also
# sends .phar and .phtml, rare in URLs). The query string is not part of the path.
DEFAULT_URL_PATTERN = r"\.php$"
# %R is `r->handler`. SetHandler "proxy:unix:/run/php/php8.2-fpm.sock|fcgi://localhost" or
# "proxy:fcgi://127.0.0.1:9000" (mod_proxy_fcgi, Debian's and RHEL's php-fpm confs) is logged as
# written; mod_php's is application/x-httpd-php. Static files log "-" (ap_invoke_handler names
# the default handler only while it runs), ProxyPass/ProxyPassMatch proxy-server, whatever the
# backend.
DEFAULT_HANDLER_PATTERN = r"(?i)^proxy:.*fcgi://|php"
# What mod_rewrite sets as the handler of a request it redirects internally (per-directory
# rules, .htaccess front controllers): %R shows it, %>R the handler that finally ran.
REDIRECT_HANDLER = b"redirect-handler"


@dataclass(frozen=True, slots=True)
class PhpRule:
    """What `--php`, `--php-urls` and `--php-handlers` ask for (None: that flag not given).

    With neither regex, the split uses the handler when the log shows it, else the URL path,
    with the default patterns.
    """

    url_pattern: str | None = None
    handler_pattern: str | None = None


@dataclass(frozen=True, slots=True)
class PhpSplit:
    """The rule resolved against a format: field positions in `CompiledFormat.fields` and the
    regexes (bytes: log lines are bytes) searched in their values."""

    url_field: int | None
    url_in_request_line: bool  # the path is the second word of %r, before any "?"
    url_pattern: bytes | None
    handler_field: int | None
    handler_pattern: bytes | None
    description: str  # e.g. "handler (%>R) matches (?i)^proxy:.*fcgi://|php"
    original_handler: bool  # %R or %<R: internally redirected requests show redirect-handler


def compile_pattern(flag: str, pattern: str) -> bytes:
    """The regex as bytes, checked now so that a typo fails before the scan (CapplanError)."""
    source = pattern.encode("utf-8")
    try:
        re.compile(source)
    except re.error as exc:
        raise CapplanError(f"{flag} {pattern!r}: not a regular expression: {exc}") from None
    return source


def _url_field(fmt: CompiledFormat) -> tuple[int | None, str]:
    """The URL path's field: %>U (after internal redirects), %U, else the request line %r."""
    for key in (">U", "U", "<U"):
        index = fmt.index(key)
        if index is not None:
            return index, f"%{key}"
    index = fmt.find("r")
    return index, "%r"


def _handler_field(fmt: CompiledFormat) -> tuple[int | None, str]:
    """%>R (the handler that ran), else %R or %<R (the handler of the original request)."""
    for key in (">R", "R", "<R"):
        index = fmt.index(key)
        if index is not None:
            return index, f"%{key}"
    return None, ""


def resolve_split(rule: PhpRule, fmt: CompiledFormat, sources: tuple[str, ...]) -> PhpSplit:
    """Which fields the rule reads in this format; CapplanError naming the logs when the format
    has none of them."""
    url_index, url_label = _url_field(fmt)
    handler_index, handler_label = _handler_field(fmt)
    logs = ", ".join(sources)
    url_pattern = handler_pattern = None
    if rule.url_pattern is None and rule.handler_pattern is None:
        if handler_index is not None:
            handler_pattern = DEFAULT_HANDLER_PATTERN
        elif url_index is not None:
            url_pattern = DEFAULT_URL_PATTERN
        else:
            raise CapplanError(
                f"{logs}: the log format has no handler (%R) and no URL (%U or %r) to tell PHP "
                f"requests from others ({fmt.source!r}); log %>R or %U, or drop --php"
            )
    else:
        url_pattern, handler_pattern = rule.url_pattern, rule.handler_pattern
    if url_pattern is not None and url_index is None:
        raise CapplanError(
            f"{logs}: --php-urls needs the URL path in the log format (%U or %r), and "
            f"{fmt.source!r} has neither"
        )
    if handler_pattern is not None and handler_index is None:
        raise CapplanError(
            f"{logs}: --php-handlers needs the handler in the log format (%R or %>R), and "
            f"{fmt.source!r} has none"
        )
    parts = []
    if handler_pattern is not None:
        parts.append(f"handler ({handler_label}) matches {handler_pattern}")
    if url_pattern is not None:
        where = "path in %r" if url_label == "%r" else f"URL path ({url_label})"
        parts.append(f"{where} matches {url_pattern}")
    return PhpSplit(
        url_field=url_index if url_pattern is not None else None,
        url_in_request_line=url_label == "%r",
        url_pattern=None if url_pattern is None else compile_pattern("--php-urls", url_pattern),
        handler_field=handler_index if handler_pattern is not None else None,
        handler_pattern=None
        if handler_pattern is None
        else compile_pattern("--php-handlers", handler_pattern),
        description=" or ".join(parts),
        original_handler=handler_pattern is not None and handler_label != "%>R",
    )


@lru_cache(maxsize=8)
def _search(pattern: bytes) -> re.Pattern[bytes]:
    return re.compile(pattern)


# The path in a request line: after the method and one space, up to a "?", a space or the end.
# Exactly one match per line of the joined column (every part may be empty, and no value holds a
# newline: the line regex stops at one), found in C.
_REQUEST_PATH = re.compile(rb"^(?:[^ \n]* )?([^ ?\n]*)[^\n]*$", re.M)


def request_paths(column: list[bytes]) -> list[bytes]:
    """The URL path of each %r request line (`GET /a.php?x=1 HTTP/1.1` → `/a.php`)."""
    found: list[bytes] = _REQUEST_PATH.findall(b"\n".join(column))
    return found


def matching_rows(
    column: list[bytes], pattern: bytes, *, in_request_line: bool = False
) -> BoolArray:
    """Mask of the values in which the regex is found (in the path, for request lines).

    A block repeats its handlers and URLs many times: the regex (and the path extraction) runs
    once per distinct value, and each row costs one hash lookup in C.
    """
    search = _search(pattern).search
    distinct = list(dict.fromkeys(column))
    subjects = request_paths(distinct) if in_request_line else distinct
    hits = {value for value, subject in zip(distinct, subjects, strict=True) if search(subject)}
    if not hits:
        return np.zeros(len(column), dtype=bool)
    if len(hits) == len(distinct):
        return np.ones(len(column), dtype=bool)
    return np.fromiter(map(hits.__contains__, column), dtype=bool, count=len(column))


def php_rows(split: PhpSplit, url: list[bytes] | None, handler: list[bytes] | None) -> BoolArray:
    """Mask of a block's PHP requests: the handler or the URL path matches its regex."""
    mask: BoolArray | None = None
    if split.handler_pattern is not None and handler is not None:
        mask = matching_rows(handler, split.handler_pattern)
    if split.url_pattern is not None and url is not None:
        by_url = matching_rows(url, split.url_pattern, in_request_line=split.url_in_request_line)
        mask = by_url if mask is None else mask | by_url
    assert mask is not None  # resolve_split gives at least one field
    return mask
