"""The output check catches a writer that goes wrong, and nothing is handed out or left behind.

Each test plants one bug in the signer's writer (the kind a change to
``signer/pdf.py`` could bring) and seals a real producer's document: the seal
must end in OUTPUT_CHECK_FAILED and leave no file. Without the check every one
of these would return a broken, or subtly tampered, signed PDF.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from envelopes.sealing import SealService
from hsm_config.deployment import load_deployment
from pakat import errors
from pakat.errors import PakatError
from signer import pdf as signer_pdf
from signer.levels import PadesLevel
from signer.pdf import RawArray, Revision, Role, Update

HERE = Path(__file__).resolve().parents[1]  # the tests folder, with its corpora
FORM = HERE / "producers/files/libreoffice/lo_form.pdf"  # an AcroForm, widgets on the page, indirect /Length
DSS_ARRAYS = HERE / "conformance/files/pyhanko/pades-lta-dss-indirect-arrs-test.pdf"


@pytest.fixture(scope="module")
def service(dev_env: Any) -> Iterator[SealService]:
    sealer = SealService(load_deployment(dev_env.deployment_path))
    yield sealer
    sealer.close()  # logged out, so no later test finds the token already logged in


def _after_field(change: Callable[[Update], None]) -> contextlib.AbstractContextManager[Any]:
    """Run ``change`` on the update right after the signature field was added to it."""
    original = Update.add_signature_field

    def planted(self: Update, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        change(self)

    return mock.patch.object(Update, "add_signature_field", planted)


def _page_gains_rotate(update: Update) -> None:
    update.edit_dict(update.source.first_page, Role.PAGE).entries[b"/Rotate"] = b"90"


def _annots_lose_an_entry(update: Update) -> None:
    entries = update.source.dict_at(update.source.first_page).entries
    annots = entries[b"/Annots"]
    target = signer_pdf.parse_ref(annots) if isinstance(annots, bytes) else None
    items = update.edit_array(target, Role.ANNOTS).items if target else annots.items  # type: ignore[union-attr]
    del items[0]


def _orphan(update: Update) -> None:
    update.add(b"<</Type/Annot/Subtype/Text/Contents(never reached)>>")


def _catalog_gains_open_action(update: Update) -> None:
    update.edit_dict(update.source.root, Role.CATALOG).entries[b"/OpenAction"] = b"[1 0 R /Fit]"


def _fields_point_elsewhere(update: Update) -> None:
    catalog = update.source.dict_at(update.source.root)
    form = signer_pdf.parse_ref(catalog.entries[b"/AcroForm"])  # type: ignore[arg-type]
    fields = update.source.dict_at(form).entries[b"/Fields"]
    assert isinstance(fields, RawArray)
    fields.items[0] = fields.items[1]


@pytest.mark.parametrize("bug", [
    _page_gains_rotate, _annots_lose_an_entry, _orphan, _catalog_gains_open_action, _fields_point_elsewhere,
])
def test_a_writer_that_changes_what_it_should_not(
    service: SealService, tmp_path: Path, bug: Callable[[Update], None]
) -> None:
    out = tmp_path / "out.pdf"
    with _after_field(bug), pytest.raises(PakatError) as caught:
        service.seal("demo-co", FORM, out, PadesLevel.B_B)
    assert caught.value.kind is errors.OUTPUT_CHECK_FAILED, caught.value
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def _filled_then(change: Callable[[Revision], None]) -> Iterator[None]:
    original = Revision.fill

    def planted(self: Revision, hole: Any, der: bytes) -> None:
        original(self, hole, der)
        change(self)

    with mock.patch.object(Revision, "fill", planted):
        yield


def _contents_digit_flipped(revision: Revision) -> None:
    (hole,) = revision.holes
    at = hole.start + 1 - revision.base + 40
    revision.data[at] = ord("0") if revision.data[at] != ord("0") else ord("1")


def _byte_range_off_by_one(revision: Revision) -> None:
    at = revision.data.find(b"/ByteRange [0 ") + len(b"/ByteRange [0 ")
    end = revision.data.index(b" ", at)
    number = int(revision.data[at:end]) - 1
    revision.data[at:end] = str(number).encode().rjust(end - at)


@pytest.mark.parametrize("bug", [_contents_digit_flipped, _byte_range_off_by_one])
def test_a_signature_that_is_not_what_was_made(
    service: SealService, tmp_path: Path, bug: Callable[[Revision], None]
) -> None:
    out = tmp_path / "out.pdf"
    with _filled_then(bug), pytest.raises(PakatError) as caught:
        service.seal("demo-co", FORM, out, PadesLevel.B_B)
    assert caught.value.kind is errors.OUTPUT_CHECK_FAILED, caught.value
    assert list(tmp_path.iterdir()) == []


def test_a_signature_over_other_bytes(service: SealService, tmp_path: Path) -> None:
    """The CMS signs a digest that is not the digest of the covered bytes."""
    from signer.cms import SignerTemplate

    original = SignerTemplate.signed_attributes

    def wrong(self: SignerTemplate, digest: bytes) -> bytes:
        return original(self, bytes(len(digest)))

    out = tmp_path / "out.pdf"
    with mock.patch.object(SignerTemplate, "signed_attributes", wrong), pytest.raises(PakatError) as caught:
        service.seal("demo-co", FORM, out, PadesLevel.B_B)
    assert caught.value.kind is errors.OUTPUT_CHECK_FAILED, caught.value
    assert list(tmp_path.iterdir()) == []


def test_dss_arrays_that_lose_what_they_held(service: SealService, tmp_path: Path) -> None:
    """An existing DSS's indirect arrays are copied into the DSS: dropping their old items is caught."""
    original = Update.add_dss

    def lossy(self: Update, certs: list[bytes], ocsps: list[bytes], crls: list[bytes]) -> None:
        original(self, certs, ocsps, crls)
        root = self.source.dict_at(self.source.root)
        dss = signer_pdf.parse_ref(root.entries[b"/DSS"])  # type: ignore[arg-type]
        certs_array = self.source.dict_at(dss).entries[b"/Certs"]  # type: ignore[arg-type]
        assert isinstance(certs_array, RawArray)
        del certs_array.items[0]

    out = tmp_path / "out.pdf"
    with mock.patch.object(Update, "add_dss", lossy), pytest.raises(PakatError) as caught:
        service.seal("demo-co", DSS_ARRAYS, out, PadesLevel.B_LT)
    assert caught.value.kind is errors.OUTPUT_CHECK_FAILED, caught.value
    assert list(tmp_path.iterdir()) == []


def test_an_owned_file_is_cut_back_when_the_check_fails(service: SealService, tmp_path: Path) -> None:
    """Sealing in place (the API's upload): a rejected output leaves the file as it was."""
    owned = tmp_path / "upload.pdf"
    owned.write_bytes(FORM.read_bytes())
    with _after_field(_orphan), pytest.raises(PakatError) as caught:
        service.seal("demo-co", owned, owned, PadesLevel.B_B, in_place=True)
    assert caught.value.kind is errors.OUTPUT_CHECK_FAILED
    assert owned.read_bytes() == FORM.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upload.pdf"]


def test_the_same_seals_pass_without_the_bug(service: SealService, tmp_path: Path) -> None:
    """The control: each document above seals cleanly at every level when nothing is planted."""
    for source in (FORM, DSS_ARRAYS):
        for level in PadesLevel:
            out = tmp_path / f"{source.stem}-{level.value}.pdf"
            service.seal("demo-co", source, out, level)
            assert out.read_bytes().startswith(source.read_bytes())
