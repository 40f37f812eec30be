"""Load an HTML file in headless chromium, offline: its console, its network requests, its DOM
and a screenshot.

chromium runs with a proxy that points nowhere (nothing could be fetched anyway), a net log that
records every request the page starts (a page's requests carry its `file://` isolation key, which
tells them from chromium's own background traffic), `--enable-logging=stderr` for console
messages, and its own profile directory. Each run is bounded in time and stopped, with its
children, by its process group.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 90
FLAGS = (
    "--headless",
    "--disable-gpu",
    "--no-sandbox",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--proxy-server=127.0.0.1:9",  # discard: a request the page made could go nowhere
    "--enable-logging=stderr",
    "--v=0",
)


@dataclass(frozen=True)
class Load:
    console: tuple[str, ...]  # console messages and CSP refusals
    requests: tuple[str, ...]  # URLs the page asked for (not file:, data:, about:)
    dom: str
    screenshot: bytes


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        # chromium leaves helper processes behind when its main process is killed: stop the
        # whole group this run started (and only it).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def _page_requests(netlog: Path) -> tuple[str, ...]:
    """URLs of requests whose isolation key is the page's (`file://`), other than local ones."""
    text = netlog.read_text(encoding="utf-8", errors="replace").rstrip().rstrip(",")
    if not text.endswith("}"):
        text += "]}"  # chromium may not close the log when killed at the end
    events = json.loads(text).get("events", [])
    urls = []
    for event in events:
        params = event.get("params") or {}
        url = params.get("url")
        key = str(params.get("network_isolation_key", ""))
        if url and key.startswith("file://") and not url.startswith(("file:", "data:", "about:")):
            urls.append(url)
    return tuple(dict.fromkeys(urls))


def _console(stderr: str) -> tuple[str, ...]:
    return tuple(
        line
        for line in stderr.splitlines()
        if ":CONSOLE" in line or "Refused to" in line or "Uncaught" in line
    )


def load(
    chromium: str, page: Path, workdir: Path, *, width: int = 1280, height: int = 4000
) -> Load:
    """Open `page` twice (screenshot with logs, then the DOM after loading)."""
    workdir.mkdir(parents=True, exist_ok=True)
    netlog = workdir / "netlog.json"
    png = workdir / "screenshot.png"
    url = page.resolve().as_uri()
    common = [chromium, *FLAGS, f"--user-data-dir={workdir / 'profile'}"]
    shot = _run(
        [*common, f"--log-net-log={netlog}", f"--window-size={width},{height}",
         f"--screenshot={png}", url]
    )  # fmt: skip
    dom = _run([*common, "--dump-dom", url])
    assert png.exists(), f"no screenshot: {shot.stderr[-2000:]}"
    return Load(
        console=_console(shot.stderr) + _console(dom.stderr),
        requests=_page_requests(netlog),
        dom=dom.stdout,
        screenshot=png.read_bytes(),
    )


def colours(png: bytes) -> dict[tuple[int, int, int], int]:
    """Pixel count per RGB colour of a PNG."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
        found = rgb.getcolors(maxcolors=1 << 24) or []
    return {(int(c[0]), int(c[1]), int(c[2])): count for count, c in found if isinstance(c, tuple)}
