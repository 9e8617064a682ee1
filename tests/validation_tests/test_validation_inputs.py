"""Hostile and unusable input: stable error codes, bounded time and memory, no stray fetches."""

from __future__ import annotations

import io
import resource
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pakat_testkit import encrypted_pdf_bytes, pdf_bytes, truncated_pdf_bytes
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from validation_samples import throwaway_ca

from devkit.devsetup import DevEnvironment
from hsm_config.deployment import load_deployment, validation_config
from pakat import errors
from pakat.errors import InputError
from validation.config import ValidationConfig
from validation.engine import Validator
from validation.model import Indication, SubIndication


@pytest.fixture(scope="module")
def dev_config(dev_env: DevEnvironment) -> ValidationConfig:
    return validation_config(load_deployment(dev_env.deployment_path))


def _code(validator: Validator, data: bytes) -> str:
    with pytest.raises(InputError) as caught:
        validator.validate(data)
    return caught.value.kind.code


def test_unusable_input_gets_a_stable_code(dev_config: ValidationConfig) -> None:
    validator = Validator(dev_config)
    assert _code(validator, b"GIF89a not a pdf at all") == errors.NOT_A_PDF.code
    assert _code(validator, b"") == errors.NOT_A_PDF.code
    assert _code(validator, pdf_bytes("unsigned")) == errors.NO_SIGNATURES.code
    assert _code(validator, encrypted_pdf_bytes()) == errors.PDF_ENCRYPTED.code
    assert _code(validator, truncated_pdf_bytes()) == errors.PDF_TRUNCATED.code
    small = Validator(ValidationConfig(trust_roots=dev_config.trust_roots, max_pdf_bytes=1000))
    assert _code(small, pdf_bytes("big", pad_to=5000)) == errors.PDF_TOO_LARGE.code


def test_missing_file_is_reported(dev_config: ValidationConfig, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        Validator(dev_config).validate(tmp_path / "absent.pdf")
    assert caught.value.kind is errors.PDF_MISSING


def _xref_stream_bomb(base: bytes, decoded_size: int) -> bytes:
    """``base`` plus an update whose cross-reference stream inflates to ``decoded_size`` bytes."""
    packer = zlib.compressobj(9)
    chunk = b"\x00" * (1024 * 1024)
    payload = b"".join(packer.compress(chunk) for _ in range(decoded_size // len(chunk))) + packer.flush()
    offset = len(base)
    obj = (
        b"\n99 0 obj\n<< /Type /XRef /Size 100 /W [1 2 1] /Filter /FlateDecode /Length "
        + str(len(payload)).encode()
        + b" >>\nstream\n"
        + payload
        + b"\nendstream\nendobj\n"
    )
    return base + obj + b"startxref\n" + str(offset + 1).encode() + b"\n%%EOF\n"


def test_decompression_bomb_is_refused_in_bounded_memory(dev_config: ValidationConfig) -> None:
    bomb = _xref_stream_bomb(pdf_bytes("bomb"), 256 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    code = _code(Validator(dev_config), bomb)
    assert time.perf_counter() - start < 10
    assert code == errors.PDF_UNPARSEABLE.code
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grown < 64 * 1024 * 1024, f"peak memory grew by {grown // 2**20} MiB for a 256 MiB bomb"


# -- certificates that point at addresses we must not contact --------------------------------


@pytest.fixture()
def tripwire() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback listener standing in for a hostile responder; records every connection."""
    hits: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                hits.append(conn.recv(1024))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/", hits
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_hostile_certificate_urls_are_never_fetched(
    dev_config: ValidationConfig, tripwire: tuple[str, list[bytes]]
) -> None:
    url, hits = tripwire
    signer, root = throwaway_ca(revocation_url=url)
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf_bytes("hostile"))),
        signers.PdfSignatureMetadata(field_name="Sig1", subfilter=fields.SigSeedSubFilter.PADES),
        signer=signer.pyhanko(),
        output=out,
    )
    # Trust the throwaway root for this run, as `--trust` would: revocation is then required and
    # the only addresses on offer are the certificate's own, which are not allow-listed.
    report = Validator(dev_config.with_extra_anchors([root])).validate(out.getvalue())
    sig = report.signatures[0]
    assert sig.indication is Indication.INDETERMINATE
    assert sig.sub_indication is SubIndication.TRY_LATER
    assert hits == [], "a certificate's own address was contacted"
