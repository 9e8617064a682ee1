"""What one uploaded document can make the validator do: bounded CPU, bounded time, bounded requests.

Anyone may ask ``POST /api/v1/validate``, so each multiplier a document
controls is capped or shared:

* one signature value shown in a thousand fields is judged once (and reported
  as suspicious), in bounded CPU time;
* documents over the configured limits (signatures, fields, revisions, DSS
  entries, certificates in one signature) are refused with PDF_TOO_COMPLEX;
* a document slow to draw runs into the validation's time budget:
  VALIDATION_TIME_EXCEEDED over the API (its HTTP status) and the CLI (its exit
  code), never a verdict;
* a certificate naming 150 OCSP and 150 CRL addresses under the allow-listed
  prefix makes a handful of requests when its chain reaches the pinned root,
  and none when it does not (counted at a loopback responder started here);
* a slow responder does not hold up another validation in the same process.

The hostile documents are made here from the dev PKI (:mod:`validation_samples`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import io
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from pakat_testkit import free_port, pakat_app, tidy_client
from validation_samples import (
    SampleFactory,
    SoftSigner,
    Update,
    _array_text,
    _dict_text,
    document,
    samples_for,
)

from commands import main
from devkit import devpki
from devkit.devpki import DevPKI
from devkit.devsetup import DevEnvironment
from hsm_config.deployment import load_deployment, validation_config
from pakat import errors
from pakat.errors import AccessError, InputError
from signer.levels import PadesLevel
from validation.config import ValidationConfig, ValidationLimits
from validation.engine import Validator
from validation.model import Indication, Severity, SubIndication

FIELDS = 1000  # the finding: 1,000 signature fields showing one signature value
URLS = 150  # the finding: 150 OCSP and 150 CRL addresses in one certificate


@pytest.fixture(scope="module")
def samples(dev_env: DevEnvironment) -> SampleFactory:
    return samples_for(dev_env)


@pytest.fixture(scope="module")
def dev_config(dev_env: DevEnvironment) -> ValidationConfig:
    return validation_config(load_deployment(dev_env.deployment_path))


# -- hostile documents ----------------------------------------------------------------------------


def _value_body(data: bytes, number: int) -> bytes:
    """The text of object ``number`` 0 (its last definition) in ``data``."""
    start = list(re.finditer(rb"(?<![0-9])%d 0 obj" % number, data))[-1].end()
    return data[start:data.index(b"endobj", start)].strip()


def _with_copied_value(base: bytes, copies: int) -> bytes:
    """``base`` plus ``copies`` signature fields, each with its own dictionary copying the signature's value.

    The copies carry the first signature's /ByteRange and /Contents byte for
    byte: to a validator that judges each dictionary, ``copies`` more signatures.
    """
    with pikepdf.open(io.BytesIO(base)) as pdf:
        value_number = pdf.Root.AcroForm.Fields[0].V.objgen[0]
    body = _value_body(base, value_number)
    update = Update(base)
    refs = []
    for n in range(copies):
        value = update.add(body)
        refs.append(b"%d 0 R" % update.add(b"<< /FT /Sig /T (copy%d) /V %d 0 R >>" % (n, value)))
    acroform = update.pdf.Root.AcroForm
    fields_ = acroform.Fields
    if fields_.is_indirect:
        update.put(fields_, _array_text(fields_, *refs))
    elif acroform.is_indirect:
        update.put(acroform, _dict_text(acroform, {"/Fields": _array_text(fields_, *refs)}))
    else:
        form = _dict_text(acroform, {"/Fields": _array_text(fields_, *refs)})
        update.put(update.pdf.Root, _dict_text(update.pdf.Root, {"/AcroForm": form}))
    return update.write()


def _slow_to_draw(samples: SampleFactory) -> bytes:
    """A signed page of a million tiny squares (26 KB; seconds for poppler), then changed on that page.

    The change is one no rule allows, so the validator draws the page before
    and after to see whether it shows.
    """
    pdf = pikepdf.new()
    content = pdf.make_stream(b"0 0 3 3 re f\n" * 1_000_000)
    pdf.pages.append(pikepdf.Page(pikepdf.Dictionary(
        Type=pikepdf.Name.Page, MediaBox=[0, 0, 595, 842], Contents=content, Resources=pikepdf.Dictionary(),
    )))
    out = io.BytesIO()
    pdf.save(out, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    signed = samples.pyhanko_sign(out.getvalue(), samples.soft_signer("pyhanko"), field="Signature1")
    update = Update(signed)
    page = update.page(0)
    update.put(page, _dict_text(page, {"/MediaBox": b"[0 0 595 843]"}))
    return update.write()


# -- 1. one value, a thousand fields --------------------------------------------------------------


def test_one_value_in_a_thousand_fields_is_judged_once(
    samples: SampleFactory, dev_config: ValidationConfig
) -> None:
    data = _with_copied_value(samples.base(), FIELDS - 1)
    validator = Validator(dev_config)
    validator.validate(samples.base())  # chains and revocation answers in the cache: only the copies are timed
    start = time.process_time()
    report = validator.validate(data)
    spent = time.process_time() - start
    assert len(report.signatures) == 1, "the copies are one signature"
    signature = report.signatures[0]
    # Copies of one value claim the same bytes: they overlap, as each copy judged alone would show.
    assert signature.indication is Indication.TOTAL_FAILED
    assert signature.sub_indication is SubIndication.FORMAT_FAILURE
    assert "SIGNATURES_OVERLAP" in [f.code for f in signature.findings]
    shared = [f for f in signature.findings if f.code == "SIGNATURE_IN_SEVERAL_FIELDS"]
    assert len(shared) == 1
    assert shared[0].severity is Severity.WARNING  # suspicious: no signing software does this
    assert f"{FIELDS - 1} other field(s)" in shared[0].text.en
    assert "مشکوک" in shared[0].text.fa
    # Judging every copy costs seconds; judging one, a fraction of that (generously bounded).
    assert spent < 3.0, f"{spent:.1f} s of CPU for one signature shown in {FIELDS} fields"


# -- 2. caps ----------------------------------------------------------------------------------------


def _refused(validator: Validator, data: bytes) -> InputError:
    with pytest.raises(InputError) as caught:
        validator.validate(data)
    return caught.value


def test_documents_over_the_limits_are_refused_with_a_code(
    samples: SampleFactory, dev_config: ValidationConfig
) -> None:
    too_many_fields = _refused(Validator(dev_config), _with_copied_value(samples.base(), FIELDS))
    assert too_many_fields.kind is errors.PDF_TOO_COMPLEX
    assert "1000" in (too_many_fields.detail or "")

    lta = samples.base(PadesLevel.B_LTA)  # a signature, a document timestamp, a DSS, three revisions
    assert Validator(dev_config).validate(lta).indication is Indication.TOTAL_PASSED

    def capped(**limits: int) -> Validator:
        return Validator(replace(dev_config, limits=ValidationLimits(**limits)))

    for limits, words in [
        ({"max_signatures": 1}, "2 signatures"),
        ({"max_revisions": 2}, "revisions"),
        ({"max_dss_entries": 2}, "DSS entries"),
        ({"max_certificates_per_signature": 1}, "certificates"),
        ({"max_timestamps_per_signature": 0}, "timestamps on one signature"),
    ]:
        error = _refused(capped(**limits), lta)
        assert error.kind is errors.PDF_TOO_COMPLEX, limits
        assert words in (error.detail or ""), (limits, error.detail)
    assert errors.PDF_TOO_COMPLEX.http_status == 422 and errors.PDF_TOO_COMPLEX.exit_code == 3


def test_limits_come_from_the_deployment(dev_env: DevEnvironment, tmp_path: Path) -> None:
    raw = yaml.safe_load(dev_env.deployment_path.read_text())
    raw.setdefault("limits", {}).update(max_signatures=7, max_revisions=9)
    config = dev_env.deployment_path.parent / f"limits-{tmp_path.name}.yaml"  # beside it: its paths resolve
    config.write_text(yaml.safe_dump(raw, allow_unicode=True))
    try:
        limits = validation_config(load_deployment(config)).limits
        assert (limits.max_signatures, limits.max_revisions) == (7, 9)
        assert limits.max_signature_fields == ValidationLimits().max_signature_fields
        raw["limits"]["max_signatures"] = 0
        config.write_text(yaml.safe_dump(raw, allow_unicode=True))
        with pytest.raises(AccessError) as caught:
            load_deployment(config)
        assert caught.value.kind is errors.CONFIG_INVALID
    finally:
        config.unlink()


# -- 3. the time budget -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_document(samples: SampleFactory) -> bytes:
    return _slow_to_draw(samples)


def test_time_budget_ends_a_validation_with_its_code(
    slow_document: bytes, samples: SampleFactory, dev_config: ValidationConfig
) -> None:
    validator = Validator(dev_config)
    start = time.monotonic()
    with pytest.raises(InputError) as caught:
        validator.validate(slow_document, time_limit=1.0)
    assert caught.value.kind is errors.VALIDATION_TIME_EXCEEDED
    assert time.monotonic() - start < 6, "the budget stops poppler too"
    # The same validator, without a budget, still judges other documents (nothing was left half done).
    assert validator.validate(samples.base()).indication is Indication.TOTAL_PASSED


def test_time_budget_over_the_api(
    dev_env: DevEnvironment, redis_url: str, slow_document: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("budget-home")
    with pakat_app(dev_env.deployment_path, home, 1_000_000, redis_url=redis_url, queue="validation-limits",
                   validation_seconds=1) as app, tidy_client(app) as client:
        start = time.monotonic()
        response = client.post("/api/v1/validate", data={"file": (io.BytesIO(slow_document), "slow.pdf")},
                               content_type="multipart/form-data")
        assert time.monotonic() - start < 8
        assert response.status_code == errors.VALIDATION_TIME_EXCEEDED.http_status, response.get_data(as_text=True)
        body = response.get_json()["error"]
        assert body["code"] == "VALIDATION_TIME_EXCEEDED"
        assert body["message_fa"] and body["message_en"]


def test_time_budget_in_the_cli(dev_env: DevEnvironment, slow_document: bytes, tmp_path: Path) -> None:
    source = tmp_path / "slow.pdf"
    source.write_bytes(slow_document)
    env = {"PAKAT_HOME": str(tmp_path), "PAKAT_CONFIG": str(dev_env.deployment_path)}
    result = CliRunner().invoke(main, ["validate", str(source), "--format", "json", "--time-limit", "1"], env=env,
                                catch_exceptions=False)
    assert result.exit_code == errors.VALIDATION_TIME_EXCEEDED.exit_code, result.output
    assert "VALIDATION_TIME_EXCEEDED" in result.output
    assert "Traceback" not in result.output


# -- 4. fetch amplification -----------------------------------------------------------------------------


@dataclass
class Responder:
    """A loopback HTTP server that counts the requests it gets and answers each with 404 after ``delay``."""

    url: str
    requests: list[str]
    delay: float = 0.0


@contextlib.contextmanager
def counting_responder() -> Iterator[Responder]:
    """A :class:`Responder` on a free loopback port, stopped afterwards."""
    port = free_port()
    state = Responder(f"http://127.0.0.1:{port}/", [])

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            state.requests.append(f"{self.command} {self.path}")
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            time.sleep(state.delay)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def responder() -> Iterator[Responder]:
    with counting_responder() as state:
        yield state


def _many_addresses(base_url: str, issuer: x509.Certificate, issuer_key: rsa.RSAPrivateKey) -> SoftSigner:
    """A signer whose certificate names :data:`URLS` OCSP and :data:`URLS` CRL addresses under ``base_url``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "IR"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, "Many Addresses")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                   x509.UniformResourceIdentifier(f"{base_url}ocsp/{n}"))
            for n in range(URLS)
        ]), critical=False)
        .add_extension(x509.CRLDistributionPoints([
            x509.DistributionPoint([x509.UniformResourceIdentifier(f"{base_url}crl/{n}.crl")], None, None, None)
            for n in range(URLS)
        ]), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    return SoftSigner(key, cert, (issuer,))


def _throwaway_root() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Stranger Root")])
    now = dt.datetime.now(dt.UTC)
    root = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return root, key


def _signed_by(samples: SampleFactory, signer: SoftSigner) -> bytes:
    return samples.pyhanko_sign(document(), signer, field="Signature1")


def _online(dev_config: ValidationConfig, *prefixes: str) -> ValidationConfig:
    policy = replace(dev_config.policy, fetch_timeout=0.5)
    return replace(dev_config, revocation_url_prefixes=prefixes, policy=policy)


def test_an_anchored_certificate_with_300_addresses_makes_a_handful_of_requests(
    samples: SampleFactory, dev_config: ValidationConfig, responder: Responder
) -> None:
    ca = DevPKI.load(samples.pki_dir).ca(devpki.GENERAL)
    data = _signed_by(samples, _many_addresses(responder.url, ca.certificate, ca.key))
    validator = Validator(_online(dev_config, responder.url))
    report = validator.validate(data)
    assert report.signatures[0].indication is Indication.INDETERMINATE  # no answer from any address
    first = len(responder.requests)
    assert 1 <= first <= 4, responder.requests  # 2 OCSP + 2 CRL addresses at most
    validator.validate(data)
    assert len(responder.requests) == first, "a failed responder is not asked again at once"


def test_a_chain_that_reaches_no_pinned_root_makes_no_request(
    samples: SampleFactory, dev_config: ValidationConfig, responder: Responder
) -> None:
    root, root_key = _throwaway_root()
    data = _signed_by(samples, _many_addresses(responder.url, root, root_key))
    report = Validator(_online(dev_config, responder.url)).validate(data)
    assert report.signatures[0].indication is Indication.INDETERMINATE
    assert responder.requests == []


def test_a_slow_responder_does_not_hold_up_other_validations(
    samples: SampleFactory, dev_config: ValidationConfig, dev_env: DevEnvironment, responder: Responder
) -> None:
    ca = DevPKI.load(samples.pki_dir).ca(devpki.GENERAL)
    slow = _signed_by(samples, _many_addresses(responder.url, ca.certificate, ca.key))
    ordinary = samples.base()  # its revocation data comes from the dev responders, fetched online
    dev_prefixes = tuple(dev_config.revocation_url_prefixes)
    assert dev_prefixes, "the dev deployment allow-lists its responders"

    # The baseline, in this process: the ordinary document alone, with a validator of its own.
    start = time.monotonic()
    alone = Validator(_online(dev_config, *dev_prefixes, responder.url)).validate(ordinary)
    baseline = time.monotonic() - start
    assert alone.indication is Indication.TOTAL_PASSED

    responder.delay = 1.0  # longer than the fetch timeout: every request waits it out
    shared = Validator(_online(dev_config, *dev_prefixes, responder.url))
    hostile = threading.Thread(target=shared.validate, args=(slow,), daemon=True)
    hostile.start()
    deadline = time.monotonic() + 10
    while not responder.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert responder.requests, "the hostile validation is waiting on the slow responder"
    done: list[float] = []

    def ordinary_validation() -> None:
        began = time.monotonic()
        assert shared.validate(ordinary).indication is Indication.TOTAL_PASSED
        done.append(time.monotonic() - began)

    other = threading.Thread(target=ordinary_validation, daemon=True)
    other.start()
    other.join(timeout=baseline + 10)
    assert done, f"the ordinary validation waited on the slow responder (alone it took {baseline:.2f} s)"
    assert done[0] < baseline + 5, (done[0], baseline)
    hostile.join(timeout=30)
    assert not hostile.is_alive()
