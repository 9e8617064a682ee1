"""Uploaded zips are hostile: unsafe names, bombs, lies and non-PDFs are refused before anything is stored."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest
from pakat_testkit import pdf_bytes, sha256

from envelopes.archives import BatchLimits, read_files, read_zip, safe_name
from envelopes.blobs import DocumentStore
from pakat.errors import InputError


def make_zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> DocumentStore:
    return DocumentStore(tmp_path / "documents")


def refused(store: DocumentStore, archive: bytes, tmp_path: Path, limits: BatchLimits | None = None) -> str:
    path = tmp_path / "upload.zip"
    path.write_bytes(archive)
    with pytest.raises(InputError) as caught:
        read_zip(path, store, limits or BatchLimits())
    # Nothing half-extracted stays behind, and nothing reached the store proper.
    assert list(store.incoming_dir.iterdir()) == []
    assert [p for p in store.root.rglob("*") if p.is_file()] == []
    return caught.value.code


def test_a_zip_of_pdfs_gives_each_pdf_hashed_under_its_path(store: DocumentStore, tmp_path: Path) -> None:
    members = {"a.pdf": pdf_bytes("a"), "folder/b.PDF": pdf_bytes("b"), "folder/": b""}
    path = tmp_path / "in.zip"
    path.write_bytes(make_zip(members))
    inputs = read_zip(path, store, BatchLimits())
    assert [(i.name, i.sha256, i.size) for i in inputs] == [
        ("a.pdf", sha256(members["a.pdf"]), len(members["a.pdf"])),
        ("folder/b.PDF", sha256(members["folder/b.PDF"]), len(members["folder/b.PDF"])),
    ]
    assert all(i.temp_path.read_bytes().startswith(b"%PDF-") for i in inputs)


def test_macos_resource_forks_are_ignored(store: DocumentStore, tmp_path: Path) -> None:
    path = tmp_path / "in.zip"
    path.write_bytes(make_zip({"a.pdf": pdf_bytes(), "__MACOSX/._a.pdf": b"\x00\x05\x16\x07"}))
    assert [i.name for i in read_zip(path, store, BatchLimits())] == ["a.pdf"]


@pytest.mark.parametrize("name", [
    "../escape.pdf", "a/../../escape.pdf", "/etc/passwd.pdf", "C:/windows/x.pdf", "a\\..\\b.pdf", "./a.pdf",
    "a//b.pdf", "tab\there.pdf",
])
def test_unsafe_member_names_are_refused(store: DocumentStore, tmp_path: Path, name: str) -> None:
    archive = make_zip({"fine.pdf": pdf_bytes(), name: pdf_bytes()})
    assert refused(store, archive, tmp_path) == "ARCHIVE_UNSAFE_PATH"


def test_a_symbolic_link_member_is_refused(store: DocumentStore, tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        info = zipfile.ZipInfo("link.pdf")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/shadow")
    assert refused(store, out.getvalue(), tmp_path) == "ARCHIVE_UNSAFE_PATH"


def test_names_that_differ_only_in_case_are_refused(store: DocumentStore, tmp_path: Path) -> None:
    archive = make_zip({"Bid.pdf": pdf_bytes("1"), "bid.pdf": pdf_bytes("2")})
    assert refused(store, archive, tmp_path) == "ARCHIVE_UNSAFE_PATH"


def test_a_member_that_is_not_named_pdf_is_refused(store: DocumentStore, tmp_path: Path) -> None:
    archive = make_zip({"a.pdf": pdf_bytes(), "notes.txt": b"hello"})
    assert refused(store, archive, tmp_path) == "ARCHIVE_MEMBER_NOT_PDF"


def test_a_member_named_pdf_that_is_not_one_is_refused(store: DocumentStore, tmp_path: Path) -> None:
    archive = make_zip({"a.pdf": pdf_bytes(), "b.pdf": b"MZ\x90\x00 an executable in disguise"})
    assert refused(store, archive, tmp_path) == "ARCHIVE_MEMBER_NOT_PDF"


def test_a_compression_bomb_is_refused_without_inflating_it(store: DocumentStore, tmp_path: Path) -> None:
    # 200 MB of zeros deflate to about 200 KB: the ratio alone condemns it.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf, \
            zf.open(zipfile.ZipInfo("bomb.pdf"), "w", force_zip64=True) as member:
        member.write(b"%PDF-1.7\n")
        block = bytes(1 << 20)
        for _ in range(200):
            member.write(block)
    assert refused(store, out.getvalue(), tmp_path) == "ARCHIVE_TOO_LARGE"


def test_more_bytes_than_the_limits_allow_are_refused(store: DocumentStore, tmp_path: Path) -> None:
    archive = make_zip({f"{n}.pdf": pdf_bytes(str(n)) for n in range(3)})
    assert refused(store, archive, tmp_path, BatchLimits(max_items=2)) == "ARCHIVE_TOO_LARGE"
    assert refused(store, archive, tmp_path, BatchLimits(max_item_bytes=100)) == "ARCHIVE_TOO_LARGE"
    total = 2 * len(pdf_bytes("0"))
    assert refused(store, archive, tmp_path, BatchLimits(max_total_bytes=total)) == "ARCHIVE_TOO_LARGE"


def test_a_member_that_inflates_past_its_declared_size_is_refused(store: DocumentStore, tmp_path: Path) -> None:
    """Headers can lie: declare 2 KB for a member that inflates to 1 MB, in both headers."""
    real = b"%PDF-1.7\n" + bytes(1 << 20)
    archive = bytearray(make_zip({"liar.pdf": real}))
    declared = 2048
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = archive.find(signature)
        archive[at + size_at: at + size_at + 4] = struct.pack("<I", declared)
    code = refused(store, bytes(archive), tmp_path)
    assert code in ("ARCHIVE_INVALID", "ARCHIVE_TOO_LARGE")


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04 truncated"])
def test_what_is_not_a_zip_is_refused(store: DocumentStore, tmp_path: Path, data: bytes) -> None:
    assert refused(store, data, tmp_path) == "ARCHIVE_INVALID"


def test_an_empty_zip_is_batch_empty(store: DocumentStore, tmp_path: Path) -> None:
    assert refused(store, make_zip({"folder/": b""}), tmp_path) == "BATCH_EMPTY"


def test_an_encrypted_member_is_refused(store: DocumentStore, tmp_path: Path) -> None:
    archive = bytearray(make_zip({"a.pdf": pdf_bytes()}))
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = archive.find(signature)
        archive[at + flags_at] |= 0x1
    assert refused(store, bytes(archive), tmp_path) == "ARCHIVE_INVALID"


def test_uploaded_files_are_checked_the_same_way(store: DocumentStore, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good.write_bytes(pdf_bytes())
    bad.write_bytes(b"plain text")
    with pytest.raises(InputError) as caught:
        read_files([("good.pdf", good), ("bad.pdf", bad)], store, BatchLimits())
    assert caught.value.code == "ARCHIVE_MEMBER_NOT_PDF"
    assert list(store.incoming_dir.iterdir()) == []
    with pytest.raises(InputError) as caught:
        read_files([("../good.pdf", good)], store, BatchLimits())
    assert caught.value.code == "ARCHIVE_UNSAFE_PATH"
    inputs = read_files([("good.pdf", good)], store, BatchLimits())
    assert inputs[0].sha256 == sha256(good.read_bytes())


def test_safe_names_keep_their_folders() -> None:
    assert safe_name("tender-12/envelope A/bid.pdf") == "tender-12/envelope A/bid.pdf"
    assert safe_name("پاکت الف.pdf") == "پاکت الف.pdf"


def written_bytes() -> int:
    """Bytes this process has written through write(2) so far (``wchar`` of /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("/proc/self/io has no wchar line")


def many_small_members(count: int, member_bytes: int) -> bytes:
    """A zip of ``count`` PDFs of ``member_bytes`` each, every one just under the per-member ratio check."""
    body = b"%PDF-1.7\n" + bytes(member_bytes - 9)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for n in range(count):
            zf.writestr(f"{n:04d}.pdf", body)
    return out.getvalue()


def test_hundreds_of_small_compressible_members_are_refused_with_writes_bounded(
    store: DocumentStore, tmp_path: Path
) -> None:
    """The finding: each member ≤ 1 MiB slipped past the per-member ratio; the archive as a whole may not."""
    archive = many_small_members(300, 1 << 20)  # 300 MiB from about 300 KB
    limits = BatchLimits()
    assert len(archive) < 1 << 20
    allowance = limits.inflate_allowance(len(archive))
    before = written_bytes()
    assert refused(store, archive, tmp_path, limits) == "ARCHIVE_TOO_LARGE"
    # What was written while inflating (then removed) stays within the archive's allowance, not 300 MiB.
    assert written_bytes() - before <= allowance + (1 << 20) + len(archive)
    assert allowance <= 40 * 1024 * 1024


def test_the_inflated_total_is_counted_not_declared(store: DocumentStore, tmp_path: Path) -> None:
    """Members that declare tiny sizes in both headers still count the bytes they really inflate to."""
    body = b"%PDF-1.7\n" + bytes(600 * 1024)
    archive = bytearray(many_small_members(80, len(body)))
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = archive.find(signature)
        while at >= 0:
            archive[at + size_at: at + size_at + 4] = struct.pack("<I", 100)
            at = archive.find(signature, at + 4)
    code = refused(store, bytes(archive), tmp_path, BatchLimits(inflate_floor=1 << 20))
    assert code in ("ARCHIVE_INVALID", "ARCHIVE_TOO_LARGE")


def test_a_large_declared_size_does_not_buy_a_larger_budget(store: DocumentStore, tmp_path: Path) -> None:
    limits = BatchLimits(inflate_floor=4 << 20, max_expansion=10)
    archive = many_small_members(8, 1 << 20)  # 8 MiB from a few KB: past 4 MiB, each member alone is fine
    assert refused(store, archive, tmp_path, limits) == "ARCHIVE_TOO_LARGE"
    # The same members, fewer of them, fit.
    path = tmp_path / "fits.zip"
    path.write_bytes(many_small_members(3, 1 << 20))
    assert len(read_zip(path, store, limits)) == 3


def test_entries_are_counted_before_the_directory_is_read(store: DocumentStore, tmp_path: Path) -> None:
    """Folders are skipped as members, but every entry costs memory: the end record's count is checked first."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for n in range(60):
            zf.writestr(zipfile.ZipInfo(f"folder-{n}/"), b"")
        zf.writestr("a.pdf", pdf_bytes())
    assert refused(store, out.getvalue(), tmp_path, BatchLimits(max_items=10, max_entries=50)) == \
        "ARCHIVE_TOO_LARGE"


def test_uploaded_files_share_one_total(store: DocumentStore, tmp_path: Path) -> None:
    files = []
    for n in range(3):
        path = tmp_path / f"{n}.pdf"
        path.write_bytes(pdf_bytes(str(n)))
        files.append((f"{n}.pdf", path))
    total = sum(p.stat().st_size for _, p in files)
    with pytest.raises(InputError) as caught:
        read_files(files, store, BatchLimits(max_total_bytes=total - 1))
    assert caught.value.code == "ARCHIVE_TOO_LARGE"
    assert list(store.incoming_dir.iterdir()) == []
