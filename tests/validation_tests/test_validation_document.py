"""Reading the file once: digests in one pass, objects no cross-reference section lists, damaged tails.

These are the validator's own low-level readings, checked here against plain
``hashlib`` and hand-written files; the verdicts they lead to are pinned in
``test_validation_verdicts.py`` on signed samples.
"""

from __future__ import annotations

import hashlib
import io
import random

import pytest
from pakat_testkit import pdf_bytes

from pakat import errors
from pakat.errors import InputError
from validation.document import RevisionFiles, digest_in_one_pass, loose_objects, open_document
from validation.signatures import new_digest


def _expected(data: bytes, name: str, ranges: tuple[tuple[int, int], ...]) -> bytes:
    h = hashlib.new({"shake256": "shake_256"}.get(name, name))
    for start, length in ranges:
        h.update(data[start : start + length])
    return h.digest(64) if name == "shake256" else h.digest()  # type: ignore[call-arg]


@pytest.mark.parametrize("seed", range(25))
def test_one_pass_digests_equal_separate_ones(seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.randrange(1, 3_000_000))
    size = len(data)
    requests = []
    for _ in range(rng.randrange(1, 6)):
        name = rng.choice(["sha256", "sha256", "sha384", "sha1", "sha3_256", "shake256"])
        hole = sorted(rng.randrange(0, size + 1) for _ in range(2))
        end = rng.randrange(hole[1], size + 1)
        requests.append((name, ((0, hole[0]), (hole[1], end - hole[1]))))
    requests.append(("no-such-digest", ((0, size),)))
    whole, found = digest_in_one_pass(io.BytesIO(data), size, requests, new_digest)
    assert whole == hashlib.sha256(data).hexdigest()
    for name, ranges in requests[:-1]:
        assert found[(name, ranges)] == _expected(data, name, ranges), (name, ranges)
    assert ("no-such-digest", ((0, size),)) not in found


def _with_update(base: bytes, update: bytes) -> bytes:
    return base + (b"" if base.endswith(b"\n") else b"\n") + update


def test_objects_no_section_lists_are_found_and_listed_ones_are_not() -> None:
    base = pdf_bytes("loose")
    data = _with_update(base, b"4 0 obj\n<< /Length 3 >>\nstream\nabc\nendstream\nendobj\n"
                              b"99 0 obj\n(new)\nendobj\n")
    stream = io.BytesIO(data)
    opened = open_document(stream, len(data))
    assert opened.damage is None
    found = loose_objects(opened, stream, len(base), len(data))
    assert [(o.number, o.shadows) for o in found] == [(4, True), (99, False)]
    assert loose_objects(opened, stream, 0, len(base)) == [], "the listed objects of the file itself"


def test_object_text_inside_a_listed_stream_is_not_an_object() -> None:
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.Root.Note = pdf.make_stream(b"1 0 obj\n<< /Fake true >>\nendobj\n")
    out = io.BytesIO()
    pdf.save(out, compress_streams=False, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    data = out.getvalue()
    opened = open_document(io.BytesIO(data), len(data))
    assert loose_objects(opened, io.BytesIO(data), 0, len(data)) == []


def test_a_damaged_tail_is_read_up_to_the_last_readable_revision() -> None:
    base = pdf_bytes("tail")
    data = _with_update(base, b"4 0 obj\n(forged)\nendobj\nxref\n0 0\ntrailer\n<< /Size 9 /Root 1 0 R >>\n"
                              b"startxref\n%d\n%%%%EOF\n" % (len(base) + 20))
    opened = open_document(io.BytesIO(data), len(data))
    assert opened.damage is not None
    assert base.rstrip().endswith(b"%%EOF") and opened.damage.readable_end <= len(base) + 1
    assert opened.damage.size == len(data)


def test_a_file_no_prefix_can_read_keeps_its_error() -> None:
    data = b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\ntrailer\n<< >>\n%%EOF\n"
    with pytest.raises(InputError) as caught:
        open_document(io.BytesIO(data), len(data))
    assert caught.value.kind is errors.PDF_UNPARSEABLE


def test_revision_files_are_prefixes_and_go_away(tmp_path: object) -> None:
    data = pdf_bytes("files")
    files = RevisionFiles(io.BytesIO(data), None)
    prefix, whole = files.prefix(100), files.whole()
    assert prefix.read_bytes() == data[:100] and whole.read_bytes() == data
    assert files.prefix(100) == prefix, "made once"
    files.close()
    assert not prefix.exists() and not whole.exists()
