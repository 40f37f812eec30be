"""Bad input end to end: very long lines, and every failure mode through `capplan inspect`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.config.evaluator import evaluate_config
from capplan.config.lexer import MAX_LINE_BYTES
from capplan.errors import CapplanError
from tests.data.config import regen
from tests.httpd import configtest

HEAD_CASE = regen.BAD / "invalid-command.conf"


def _long_line_config(root: Path, length_bytes: int) -> Path:
    """The common header, then one `ServerAdmin aaa…` line of `length_bytes` (without LF)."""
    main = regen.materialise(HEAD_CASE, root)
    head = main.read_text().removesuffix("MaxRequestWorker 5\n")
    prefix = "ServerAdmin "
    main.write_text(head + prefix + "a" * (length_bytes - len(prefix)) + "\nTimeout 5\n")
    return main


@pytest.mark.parametrize(
    ("length_bytes", "error"),
    [
        pytest.param(10 * 1000 * 1000, None, id="10MB-line-is-read"),
        pytest.param(MAX_LINE_BYTES - 1, None, id="longest-line-httpd-reads"),
        pytest.param(MAX_LINE_BYTES, "Line too long", id="16MiB-line-is-refused"),
    ],
)
def test_long_lines(tmp_path: Path, length_bytes: int, error: str | None) -> None:
    main = _long_line_config(tmp_path, length_bytes)
    if error is None:
        result = evaluate_config(main, environ={})
        admin = [d for d in result.directives if d.key == "serveradmin"]
        assert len(admin[0].args[0]) == length_bytes - len("ServerAdmin ")
        assert [d.location.line for d in result.directives][-1] == 10
    else:
        with pytest.raises(CapplanError) as caught:
            evaluate_config(main, environ={})
        assert caught.value.render().splitlines()[0] == (
            f"{main}:9: Error reading {main} at line 9: {error}"
        )


@pytest.mark.apache
@pytest.mark.usefixtures("apache2")
@pytest.mark.parametrize(
    ("length_bytes", "accepted"),
    [
        pytest.param(MAX_LINE_BYTES - 1, True, id="longest-line-httpd-reads"),
        pytest.param(MAX_LINE_BYTES, False, id="16MiB-line-is-refused"),
    ],
)
def test_long_line_limit_is_httpds(tmp_path: Path, length_bytes: int, accepted: bool) -> None:
    main = _long_line_config(tmp_path, length_bytes)
    code, output = configtest(main, extra_args=("-d", str(tmp_path)))
    assert (code == 0) is accepted, output
    if not accepted:
        assert f"Error reading {main} at line 9: Line too long" in output


FAILURES = [
    source
    for source in regen.all_cases()
    if source.parent == regen.BAD
    if json.loads(regen.expected_path(source).read_text())["error"] is not None
    and source.name != "unreadable.conf"  # needs an injected file system, see test_corpus
]


@pytest.mark.parametrize("source", sorted(FAILURES), ids=lambda s: s.stem)
def test_inspect_reports_the_first_error_line(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    config = regen.materialise(source, root)
    expected = json.loads(regen.expected_path(source).read_text())["error"]
    code = main(["inspect", str(config)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert captured.err.splitlines()[0] == expected.replace(regen.PLACEHOLDER, str(root))


def _deep_tree(root: Path, depth: int) -> Path:
    main = regen.materialise(HEAD_CASE, root)
    main.write_text(main.read_text().removesuffix("MaxRequestWorker 5\n") + "Include deep\n")
    leaf = root.joinpath("deep", *(["d"] * depth))
    leaf.mkdir(parents=True)
    (leaf / "x.conf").write_text("ServerAdmin bottom\n")
    return main


@pytest.mark.parametrize(
    ("depth", "error"),
    [
        pytest.param(127, None, id="127-levels-read"),
        pytest.param(128, "exceeds", id="128-levels-refused"),
    ],
)
def test_directory_include_nesting_limit(tmp_path: Path, depth: int, error: str | None) -> None:
    main = _deep_tree(tmp_path, depth)
    if error is None:
        result = evaluate_config(main, environ={})
        assert result.directives[-1].args == ("bottom",)
        return
    with pytest.raises(CapplanError) as caught:
        evaluate_config(main, environ={})
    nested = tmp_path.joinpath("deep", *(["d"] * 128))
    assert caught.value.render().splitlines()[0] == (
        f"{main}:9: Include/IncludeOptional: Directory '{nested}' exceeds the maximum include "
        "directory nesting level of 128. You have probably a recursion somewhere."
    )


@pytest.mark.apache
@pytest.mark.usefixtures("apache2")
@pytest.mark.parametrize("depth", [127, 128], ids=["127-levels-read", "128-levels-refused"])
def test_directory_nesting_limit_is_httpds(tmp_path: Path, depth: int) -> None:
    main = _deep_tree(tmp_path, depth)
    code, output = configtest(main, extra_args=("-d", str(tmp_path)))
    assert (code == 0) is (depth == 127), output
    if depth == 128:
        assert "exceeds the maximum include directory nesting level of 128" in output
