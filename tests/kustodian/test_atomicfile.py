"""kustodian.atomicfile: a file is replaced whole or not at all, with the right mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from kustodian.atomicfile import write_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_file_is_0644_and_a_replaced_one_keeps_its_mode(tmp_path: Path) -> None:
    new = tmp_path / "new.txt"
    write_atomic(new, b"one")
    assert new.read_bytes() == b"one" and mode(new) == 0o644
    script = tmp_path / "run.sh"
    script.write_text("old")
    script.chmod(0o750)
    write_atomic(script, b"new", durable=True)
    assert script.read_bytes() == b"new" and mode(script) == 0o750
    write_atomic(script, b"private", mode=0o600)
    assert mode(script) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.txt", "run.sh"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()                   # a rename over a dir fails after the temp is written
    (target / "inside").write_text("kept")
    with pytest.raises(OSError):
        write_atomic(target, b"data", temp_prefix=".tmp-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert (target / "inside").read_text() == "kept"


def test_the_temp_file_is_beside_the_target_with_the_given_prefix(tmp_path: Path,
                                                                  monkeypatch) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str, dst: object) -> None:
        seen.append(src)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_atomic(tmp_path / "entry", b"x", temp_prefix=".tmp-")
    write_atomic(tmp_path / "report.json", b"{}")
    assert [Path(s).parent for s in seen] == [tmp_path, tmp_path]
    assert Path(seen[0]).name.startswith(".tmp-")
    assert Path(seen[1]).name.startswith(".report.json.")


def test_a_symlink_at_the_target_is_replaced_not_written_through(tmp_path: Path) -> None:
    """A link planted where kustodian writes (a report, a cache entry, a release file) is
    itself replaced: the file it points at is never written."""
    outside = tmp_path / "outside"
    outside.write_text("precious")
    link = tmp_path / "out" / "report.json"
    link.parent.mkdir()
    link.symlink_to(outside)
    write_atomic(link, b"{}")
    assert outside.read_text() == "precious"
    assert not link.is_symlink() and link.read_bytes() == b"{}"


def test_a_symlink_at_the_target_lends_no_permissions(tmp_path: Path) -> None:
    """The file that replaces a planted link gets the default permissions, not those of the
    file the link points at."""
    outside = tmp_path / "outside"
    outside.write_text("executable")
    outside.chmod(0o755)
    link = tmp_path / "report.json"
    link.symlink_to(outside)
    write_atomic(link, b"{}")
    assert not link.is_symlink() and mode(link) == 0o644
    assert mode(outside) == 0o755
