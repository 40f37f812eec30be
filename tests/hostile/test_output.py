"""`--output FILE` behaves as the shell's `> FILE` for what is not a regular file and replaces
regular files atomically, keeping mode, owner and links; it never writes onto an input."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.hostile.harness import assert_error, run

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mknod and chown need root")


@root_only
def test_item13_a_copy_of_dev_null_stays_a_device(tmp_path: Path) -> None:
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    null.chmod(0o666)
    result = run(["schema", "-o", str(null)], cwd=tmp_path, seconds=10)
    assert result.code == 0, result.err
    assert stat.S_ISCHR(null.stat().st_mode)
    assert stat.S_IMODE(null.stat().st_mode) == 0o666
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]  # no temporary left


@root_only
def test_item13_a_copy_of_dev_full_fails_like_the_shell(tmp_path: Path) -> None:
    full = tmp_path / "full"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    result = run(["schema", "-o", str(full)], cwd=tmp_path, seconds=10)
    assert_error(result, 2, f"{full}: cannot write: No space left on device")
    assert stat.S_ISCHR(full.stat().st_mode)


def test_item13_a_fifo_without_reader_fails_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = run(["schema", "-o", str(fifo)], cwd=tmp_path, seconds=10)
    assert_error(result, 2, f"{fifo}: cannot write: No such device or address")
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_item14_a_symlink_is_written_through(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target.name)
    result = run(["schema", "-o", str(link)], cwd=tmp_path, seconds=10)
    assert result.code == 0, result.err
    assert link.is_symlink()
    assert target.read_text().startswith("{")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_item14_mode_and_hard_links_are_kept(tmp_path: Path) -> None:
    first = tmp_path / "a.json"
    first.write_text("old\n")
    first.chmod(0o604)
    second = tmp_path / "b.json"
    os.link(first, second)
    result = run(["schema", "-o", str(first)], cwd=tmp_path, seconds=10)
    assert result.code == 0, result.err
    assert first.stat().st_ino == second.stat().st_ino
    assert second.read_text().startswith("{")
    assert stat.S_IMODE(first.stat().st_mode) == 0o604


def test_item14_a_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    out = tmp_path / "new.json"
    result = run(["schema", "-o", str(out)], cwd=tmp_path, seconds=10)
    assert result.code == 0, result.err
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask


@root_only
def test_item14_another_users_read_only_file_keeps_its_owner(tmp_path: Path) -> None:
    out = tmp_path / "theirs.json"
    out.write_text("old\n")
    os.chown(out, 65534, 65534)
    out.chmod(0o444)
    result = run(["schema", "-o", str(out)], cwd=tmp_path, seconds=10)
    assert result.code == 0, result.err  # root may write it, as `>` may
    info = out.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o444)
    assert out.read_text().startswith("{")


def test_item14_profile_refuses_to_overwrite_its_log(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text('127.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 2326\n')
    before = log.read_bytes()
    result = run(["profile", str(log), "-o", str(log)], cwd=tmp_path, seconds=10)
    assert_error(result, 2, f"{log}: refusing to write onto {log}, an input of this run")
    assert log.read_bytes() == before


def test_item14_check_refuses_to_overwrite_its_config(tmp_path: Path) -> None:
    conf = tmp_path / "httpd.conf"
    conf.write_text("Listen 80\n")
    result = run(
        ["check", str(conf), "-p", "static-site", "-o", str(conf)], cwd=tmp_path, seconds=10
    )
    assert_error(result, 2, f"{conf}: refusing to write onto {conf}, an input of this run")
    assert conf.read_text() == "Listen 80\n"
