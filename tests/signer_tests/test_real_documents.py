"""Every real document is sealed and signed correctly, or refused with the code it deserves.

The documents (:mod:`real_documents`): the producers' fixtures, every sound
file of the conformance corpus, and documents other software signed first.
Each goes through

* ``pakat seal-batch`` (the command an organisation seals with) at every
  level, invisible and visible: eight real CLI runs over the whole folder;
* document upload and a signing session through the web app, signed with a
  dev-PKI person's SoftHSM token, raised to B-LTA (visible for every other
  document).

Each output is judged four ways: Pakat's validator (the new signature passes
at its level, every earlier signature keeps its verdict), pyHanko (the new
signature is intact, valid, trusted, at its level), poppler's pdfsig (valid
and trusted), and the pages as poppler draws them (unchanged, but for the
visible block's own rectangle). A document is refused only with the code
:func:`real_documents.expected_refusal` finds for it without Pakat's
signer, and any other refusal fails the test.
"""

from __future__ import annotations

import io
import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pakat_testkit import api_key, pakat_command, process_env
from PIL import Image, ImageChops
from real_documents import (
    RealDocument,
    document_names,
    expected_refusal,
    file_name,
    no_room_for_a_block,
    page_box,
    real_documents,
    shown_rect,
    shown_size,
)
from session_kit import Agent, Token, raise_level
from signing_checks import assert_signature_at_level, pdfsig
from validation_samples import samples_for

from hsm_config.deployment import load_deployment, validation_config
from signer.levels import PadesLevel
from validation.engine import Validator
from validation.model import DocumentReport, Indication

RUNS = [(level, visible) for level in PadesLevel for visible in (False, True)]
DPI = 30
LIMIT = 20 * 1024 * 1024
#: Refusals the committed corpus holds, pinned so that the independent judge cannot drift unnoticed.
KNOWN_REFUSALS = {
    "conformance-dss-AD-RB.pdf": "DOCUMENT_CERTIFIED_NO_CHANGES",
    "conformance-dss-annotation-and-visible-change.pdf": "DOCUMENT_CERTIFIED_NO_CHANGES",
    "conformance-dss-encrypted.pdf": "PDF_SIGNING_NOT_PERMITTED",
    "conformance-pyhanko-certified-with-indirect-refs-in-dir.pdf": "DOCUMENT_CERTIFIED_NO_CHANGES",
    "conformance-dss-pkcs7-no-message-digest.pdf": "DOCUMENT_CERTIFIED_NO_CHANGES",
    "producer-qpdf-qpdf_aes128_no_modify.pdf": "PDF_SIGNING_NOT_PERMITTED",
    "producer-qpdf-qpdf_aes128_annotate_only.pdf": "PDF_SIGNING_NOT_PERMITTED",
    "producer-qpdf-qpdf_user_password.pdf": "PDF_ENCRYPTED",
    "signed-certified-p1.pdf": "DOCUMENT_CERTIFIED_NO_CHANGES",
    "signed-field-locked.pdf": "DOCUMENT_FIELDS_LOCKED",
}


# -- the work, done once for the module -----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One document through one way of signing: the output, or the code it was refused with."""

    output: Path | None
    refused: str | None
    detail: str | None = None


@pytest.fixture(scope="module")
def documents(dev_env: Any) -> dict[str, RealDocument]:
    docs = real_documents(lambda: samples_for(dev_env))
    samples_for(dev_env).close()  # the samples are made: log out of the organisations' tokens
    assert [d.name for d in docs] == document_names()
    assert len({file_name(d.name) for d in docs}) == len(docs), "names must stay unique as file names"
    return {d.name: d for d in docs}


@pytest.fixture(scope="module")
def inputs(documents: dict[str, RealDocument], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("real-in")
    for doc in documents.values():
        (folder / file_name(doc.name)).write_bytes(doc.data)
    return folder


@pytest.fixture(scope="module")
def sealed(dev_env: Any, inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[Any, dict[str, Outcome]]:
    """``pakat seal-batch`` over the whole folder, once per level and visibility."""
    home = tmp_path_factory.mktemp("real-home")
    results: dict[Any, dict[str, Outcome]] = {}
    for level, visible in RUNS:
        out = tmp_path_factory.mktemp(f"real-{level.value}-{'visible' if visible else 'invisible'}")
        args = [str(inputs), "--org", "demo-co", "--level", level.value, "-o", str(out), "--force",
                "--threads", "2", "--json", *(["--visible"] if visible else [])]
        env = process_env({"PAKAT_HOME": str(home), "PAKAT_CONFIG": str(dev_env.deployment_path)})
        done = subprocess.run(pakat_command("seal-batch", *args), capture_output=True, timeout=900, check=False,
                              env=env)
        assert done.returncode in (0, 3), done.stderr.decode()[-2000:]
        assert b"Traceback" not in done.stderr
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        outcomes = {}
        for item in manifest["items"]:
            error = item.get("error") or {}
            output = out / item["name"] if item["status"] == "sealed" else None
            outcomes[item["name"]] = Outcome(output, error.get("code"), error.get("detail"))
        results[(level, visible)] = outcomes
    return results


@pytest.fixture(scope="module")
def validator(dev_env: Any) -> Validator:
    return Validator(validation_config(load_deployment(dev_env.deployment_path)))


@pytest.fixture(scope="module")
def nss(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("real-nss")


# -- judges ------------------------------------------------------------------------------------------------


def verdicts(report: DocumentReport) -> dict[str, tuple[str, str | None]]:
    return {s.field_name: (s.indication.value, s.sub_indication.value if s.sub_indication else None)
            for s in report.signatures}


def judge_output(
    data: bytes, output: Path, level: PadesLevel, before: DocumentReport | None, validator: Validator,
    dev_env: Any, nss: Path,
) -> str:
    """Assert the output is sound; returns the new signature's field name."""
    assert data and output.read_bytes().startswith(data), "the original bytes come first, untouched"
    after = validator.validate(output)
    old = verdicts(before) if before is not None else {}
    new = verdicts(after)
    added = [name for name in new if name not in old]
    assert len(added) == 1, f"one new signature, got {added}"
    (ours,) = added
    mine = next(s for s in after.signatures if s.field_name == ours)
    assert mine.indication is Indication.TOTAL_PASSED, (mine.sub_indication, [f.code for f in mine.findings])
    assert mine.pades_level == level.value, mine.pades_level
    for name, verdict in old.items():
        assert new.get(name) == verdict, f"{name!r} was {verdict}, now {new.get(name)}"
    assert_signature_at_level(output.read_bytes(), level, dev_env.root_cert_path, ours)
    assert_pdfsig_accepts(output, ours, dev_env, nss)
    return ours


def assert_pdfsig_accepts(path: Path, field_name: str, dev_env: Any, nss: Path) -> None:
    root = dev_env.root_cert_path
    cas = [p for p in dev_env.ca_cert_paths.values() if p.read_bytes() != root.read_bytes()]
    report = pdfsig(path, root, nss, cas)
    for block in report.split("Signature #")[1:]:
        if f"Signature Field Name: {field_name}\n" in block:
            assert "Signature Validation: Signature is Valid." in block, block
            assert "Certificate Validation: Certificate is Trusted." in block, block
            return
    raise AssertionError(f"pdfsig does not list {field_name!r}:\n{report[-1500:]}")


def render(path: Path, work: Path) -> list[Image.Image]:
    """Every page as poppler's pdftoppm draws it, in grey."""
    stem = work / f"page-{uuid.uuid4().hex[:8]}"
    subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", str(path), str(stem)], check=True, capture_output=True,
                   timeout=120)
    pages = sorted(work.glob(f"{stem.name}-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    images = [Image.open(p).copy() for p in pages]
    for p in pages:
        p.unlink()
    return images


def assert_pages_unchanged(before: list[Image.Image], after: list[Image.Image],
                           block: tuple[int, tuple[int, int, int, int]] | None) -> None:
    """Every page draws the same, except inside the visible block (page index, pixel box) which shows ink."""
    assert len(after) == len(before), "the page count changed"
    for index, (a, b) in enumerate(zip(before, after, strict=True)):
        assert a.size == b.size, f"page {index + 1} changed size"
        diff = ImageChops.difference(a, b)
        if block is not None and block[0] == index:
            x0, y0, x1, y1 = block[1]
            inside = diff.crop((x0, y0, x1, y1)).getbbox()
            assert inside is not None, f"no ink in the visible block on page {index + 1}"
            diff.paste(0, (x0, y0, x1, y1))
        changed = diff.getbbox()
        assert changed is None, f"page {index + 1} changed at {changed} (pixels at {DPI} dpi)"


def reference(data: bytes, visible: bool, work: Path) -> Path:
    """The input as the output must draw it: as it is, or, under a visible signature, by its own appearances.

    A document whose form asks viewers to redraw its fields (/NeedAppearances)
    loses that flag to a visible signature (viewers would redraw the block away
    too): its fields are then drawn from the appearance streams the document
    holds, so that is what the output is compared with.
    """
    path = work / f"reference-{uuid.uuid4().hex[:8]}.pdf"
    path.write_bytes(data)
    if not visible:
        return path
    with pikepdf.open(io.BytesIO(data), attempt_recovery=False) as pdf:
        form = pdf.Root.get("/AcroForm")
        if not isinstance(form, pikepdf.Dictionary) or not form.get("/NeedAppearances", False):
            return path
        del form["/NeedAppearances"]
        pdf.save(path)
    return path


def block_on_page(data: bytes, field_name: str) -> tuple[int, tuple[int, int, int, int]]:
    """Where the visible block of ``field_name`` is drawn: page index and pixel box, as pdftoppm shows it."""
    with pikepdf.open(io.BytesIO(data), attempt_recovery=False) as pdf:
        for index, page in enumerate(pdf.pages):
            for annot in page.obj.get("/Annots", pikepdf.Array()):
                if isinstance(annot, pikepdf.Dictionary) and str(annot.get("/T", "")) == field_name:
                    box, rotate = page_box(page.obj)
                    x0, y0, x1, y1 = (float(v) for v in annot.Rect)
                    u0, v0, u1, v1 = shown_rect((x0, y0, x1, y1), box, rotate)
                    height = shown_size(box, rotate)[1]
                    scale, margin = DPI / 72, 2  # pixels of anti-aliasing at the block's edge
                    return index, (int(u0 * scale) - margin, int((height - v1) * scale) - margin,
                                   int(u1 * scale + 1) + margin, int((height - v0) * scale + 1) + margin)
    raise AssertionError(f"no widget {field_name!r}")


def expected(doc: RealDocument) -> str | None:
    code = expected_refusal(doc.data)
    if doc.promised is not None:  # the producer's manifest and the independent judge agree
        assert code == (doc.promised or None), (doc.name, code, doc.promised)
    return code


def validate_input(validator: Validator, doc: RealDocument) -> DocumentReport | None:
    from pakat.errors import InputError

    try:
        return validator.validate(doc.data)
    except InputError as exc:
        assert exc.code == "NO_SIGNATURES", (doc.name, exc.code, exc.detail)
        return None


# -- the tests -------------------------------------------------------------------------------------------


def test_the_refusals_are_the_known_ones(documents: dict[str, RealDocument]) -> None:
    """The independent judge refuses exactly the documents the corpus is known to hold unsignable."""
    found = {name: code for name, doc in documents.items() if (code := expected(doc))}
    assert found == {name: code for name, code in KNOWN_REFUSALS.items() if name in documents}


@pytest.mark.parametrize("name", document_names())
def test_sealed_at_every_level_visible_and_not(
    name: str, documents: dict[str, RealDocument], sealed: dict[Any, dict[str, Outcome]], validator: Validator,
    dev_env: Any, nss: Path, tmp_path: Path,
) -> None:
    doc = documents[name]
    refusal = expected(doc)
    if refusal is not None:
        for level, visible in RUNS:
            assert sealed[(level, visible)][file_name(name)].refused == refusal, (level, visible)
        return
    before = validate_input(validator, doc)
    pages_before: dict[bool, list[Image.Image]] = {}
    crowded = no_room_for_a_block(doc.data)
    for level, visible in RUNS:
        outcome = sealed[(level, visible)][file_name(name)]
        where = f"{level.value} {'visible' if visible else 'invisible'}"
        if visible and crowded:
            assert outcome.refused == "APPEARANCE_NO_ROOM", (where, outcome)
            continue
        assert outcome.output is not None, (where, outcome.refused, outcome.detail)
        ours = judge_output(doc.data, outcome.output, level, before, validator, dev_env, nss)
        if level in (PadesLevel.B_B, PadesLevel.B_LTA):  # the other levels add nothing a page could show
            if visible not in pages_before:
                pages_before[visible] = render(reference(doc.data, visible, tmp_path), tmp_path)
            block = block_on_page(outcome.output.read_bytes(), ours) if visible else None
            assert_pages_unchanged(pages_before[visible], render(outcome.output, tmp_path), block)


@pytest.mark.parametrize("name", document_names())
def test_signed_through_a_session(
    name: str, documents: dict[str, RealDocument], app: Flask, token: Token, validator: Validator,
    dev_env: Any, nss: Path, tmp_path: Path,
) -> None:
    """Upload, a signing session, the person's token, then B-LTA: as a bidder signs an envelope."""
    doc = documents[name]
    client: FlaskClient = app.test_client()
    headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    visible = document_names().index(name) % 2 == 1
    refusal = expected(doc)
    if refusal is None and visible and no_room_for_a_block(doc.data):
        refusal = "APPEARANCE_NO_ROOM"
    form = {"pdf": (io.BytesIO(doc.data), "envelope.pdf")}
    upload = client.post("/api/v1/documents", headers=headers, data=form)
    if refusal in ("PDF_ENCRYPTED", "PDF_UNPARSEABLE"):
        assert upload.status_code == 422 and upload.json["error"]["code"] == refusal, upload.json
        return
    assert upload.status_code == 201, upload.json
    body: dict[str, Any] = {"level": "B-LTA", **({"visible": True} if visible else {})}
    created = client.post(f"/api/v1/documents/{upload.json['id']}/signing-sessions", headers=headers, json=body)
    if refusal is not None:
        assert created.status_code == 422 and created.json["error"]["code"] == refusal, created.json
        return
    assert created.status_code == 201, created.json
    agent = Agent(client, created.json)
    answer = agent.certificate(token.certificate_b64)
    assert answer.status_code == 200, answer.json
    reply = agent.signature(token.sign(answer.json), token.certificate_b64)
    assert reply.status_code == 202, reply.json
    done = raise_level(app, created.json["id"])
    assert done["state"] == "completed", done
    pdf = client.get(f"/api/v1/documents/{upload.json['id']}/pdf", headers=headers)
    output = tmp_path / "signed.pdf"
    output.write_bytes(pdf.data)
    before = validate_input(validator, doc)
    ours = judge_output(doc.data, output, PadesLevel.B_LTA, before, validator, dev_env, nss)
    block = block_on_page(pdf.data, ours) if visible else None
    drawn = render(reference(doc.data, visible, tmp_path), tmp_path)
    assert_pages_unchanged(drawn, render(output, tmp_path), block)
