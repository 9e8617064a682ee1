"""pakat.files: a file appears whole or not at all, and leaves no temp file behind; a file's SHA-256."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from pakat import files
from pakat.files import PRIVATE, SHARED, fsync_dir, open_atomic, sha256_file, write_atomically


class Boom(Exception):
    """What a writer raises halfway through."""


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(files.TEMP_PREFIX))


def test_write_atomically_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "out.pdf"
    write_atomically(target, b"first")
    assert target.read_bytes() == b"first"
    write_atomically(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert temp_files(tmp_path) == []


def test_the_old_file_stays_whole_until_the_new_one_replaces_it(tmp_path: Path) -> None:
    target = tmp_path / "out.pdf"
    target.write_bytes(b"old")
    old_inode = target.stat().st_ino
    with open_atomic(target) as out:
        out.file.write(b"new")
        out.file.flush()
        # Mid-write: the destination is still the old file; the new bytes sit in a temp file beside it.
        assert target.read_bytes() == b"old" and target.stat().st_ino == old_inode
        assert out.path.parent == tmp_path and out.path.read_bytes() == b"new"
        temp_inode = out.path.stat().st_ino
    # Renamed, not copied: the destination is now the very file that was written.
    assert target.read_bytes() == b"new" and target.stat().st_ino == temp_inode
    assert temp_files(tmp_path) == []


def test_a_failure_leaves_no_temp_file_and_the_destination_untouched(tmp_path: Path) -> None:
    target = tmp_path / "out.pdf"
    target.write_bytes(b"old")
    with pytest.raises(Boom), open_atomic(target) as out:
        out.file.write(b"half of it")
        raise Boom()
    assert target.read_bytes() == b"old"
    assert temp_files(tmp_path) == []


def test_a_failure_before_anything_existed_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.pdf"
    with pytest.raises(Boom), open_atomic(target) as out:
        out.file.write(b"x")
        raise Boom()
    assert list(tmp_path.iterdir()) == []


def test_a_failing_rename_removes_the_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "a-folder"
    target.mkdir()
    (target / "keep").write_bytes(b"")  # os.replace cannot put a file over a non-empty folder
    with pytest.raises(OSError):
        write_atomically(target, b"data")
    assert temp_files(tmp_path) == []
    assert (target / "keep").exists()


def test_the_sync_to_disk_runs_for_durable_writes_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", counting_fsync)
    write_atomically(tmp_path / "durable", b"x")
    assert len(synced) == 2  # the file, then its folder
    synced.clear()
    with open_atomic(tmp_path / "sent-and-deleted", durable=False) as out:
        out.file.write(b"x")
    assert synced == []
    assert (tmp_path / "sent-and-deleted").read_bytes() == b"x"


def test_permissions_are_asked_for_at_creation_and_the_umask_applies(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_atomically(tmp_path / "private", b"x")
        write_atomically(tmp_path / "shared", b"x", mode=SHARED)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == PRIVATE
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o644


def test_fsync_dir_accepts_a_folder_and_refuses_a_file(tmp_path: Path) -> None:
    fsync_dir(tmp_path)
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        fsync_dir(tmp_path / "f")


@pytest.mark.parametrize("size", [0, 1, 4095, 1 << 20, 3 * (1 << 20) + 17])
def test_sha256_file_equals_hashlib(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_sha256_file_of_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sha256_file(tmp_path / "missing")
