"""A seal key over its life, as an operator runs it: ``pakat seal-key generate|csr|install|list``, then a seal.

A throwaway SoftHSM token in the dev environment's SoftHSM, an organisation of
its own in a copy of the dev deployment, the dev PKI's CA issuing the
certificate from the request; the key then seals a document that validates
TOTAL_PASSED. Wrong certificates (another key, a wrong key usage, a foreign
chain) are refused with their codes and change nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pakat_testkit import assert_no_secret, pakat_command, pdf_bytes, process_env

from devkit import devpki
from devkit.devpki import DevPKI, SealSubject
from devkit.devsetup import DevEnvironment
from devkit.responders import STATE_POLL_SECONDS
from devkit.softhsm import SoftHSM
from envelopes.seal_keys import seal_certificate_expiry
from hsm_config.deployment import load_deployment, validation_config
from validation.engine import Validator
from validation.model import Indication

NATIONAL_ID = "14003456789"
ORG = "lifecycle-co"


@dataclass
class Lifecycle:
    """A token, a deployment naming it, and a home with a migrated database."""

    dev_env: DevEnvironment
    config: Path
    home: Path
    pin: str
    token_label: str
    certificate_path: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"PAKAT_HOME": str(self.home), "PAKAT_CONFIG": str(self.config)}
        result = subprocess.run(pakat_command(*args), env=process_env(env), capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=180, check=False)
        assert "Traceback" not in result.stderr, result.stderr
        assert_no_secret([result.stdout, result.stderr], [self.pin])
        return result

    def ok(self, *args: str) -> dict[str, Any]:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        answer: dict[str, Any] = json.loads(result.stdout)
        return answer

    def refused(self, *args: str) -> str:
        result = self.run(*args, "--json")
        assert result.returncode != 0, result.stdout
        code: str = json.loads(result.stdout)["error"]["code"]
        return code


@pytest.fixture
def lifecycle(dev_env: DevEnvironment, tmp_path: Path) -> Lifecycle:
    label = f"lifecycle-{secrets.token_hex(4)}"
    pin = f"{secrets.randbelow(10**8):08d}"
    so_pin = f"{secrets.randbelow(10**16):016d}"
    SoftHSM(dev_env.softhsm_conf, dev_env.softhsm_module).init_token(label, pin, so_pin)
    pin_file = tmp_path / "lifecycle.pin"
    pin_file.write_text(pin + "\n", encoding="utf-8")
    pin_file.chmod(0o600)
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    general = dev_env.ca_cert_paths[devpki.PROFILE_ISSUER[devpki.SEAL_PRIVATE]]
    raw["organisations"][ORG] = {
        "name_en": "Lifecycle Co", "name_fa": "شرکت چرخهٔ عمر",
        "seal": {"module": dev_env.softhsm_module, "module_env": dev_env.softhsm_env(), "token_label": label,
                 "key_label": "seal", "certificate": str(tmp_path / "certs" / "lifecycle-seal.pem"),
                 "chain": [str(general)], "pin_file": str(pin_file)},
    }
    config = dev_env.deployment_path.with_name(f"lifecycle-{label}.yaml")  # beside it: relative paths hold
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    home = tmp_path / "home"
    life = Lifecycle(dev_env, config, home, pin, label, tmp_path / "certs" / "lifecycle-seal.pem")
    result = life.run("db", "upgrade")
    assert result.returncode == 0, result.stderr
    return life


def issue(dev_env: DevEnvironment, csr: x509.CertificateSigningRequest, name: str) -> x509.Certificate:
    """What the CA does with the request: a seal certificate for its key, under the dev general CA."""
    subject = csr.subject
    organisation = subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    national_id = subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
    common_name = str(subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    public_key: Any = csr.public_key()
    return DevPKI.load(dev_env.directory / "devpki").issue(
        devpki.SEAL_PRIVATE,
        SealSubject(str(organisation), str(national_id), common_name.removesuffix(" [Stamp]")), public_key, name)


@pytest.mark.parametrize("algorithm", ["rsa-3072", "ec-p256"])
def test_generate_request_install_seal_validate(lifecycle: Lifecycle, algorithm: str, tmp_path: Path) -> None:
    generated = lifecycle.ok("seal-key", "generate", "--org", ORG, "--algorithm", algorithm)
    assert generated["algorithm"] == algorithm and generated["key_label"] == "seal"
    # A second key under the same label is refused: a seal key is never replaced in place.
    assert lifecycle.refused("seal-key", "generate", "--org", ORG) == "SEAL_KEY_EXISTS"

    csr_path = tmp_path / "seal.csr"
    lifecycle.ok("seal-key", "csr", "--org", ORG, "--national-id", NATIONAL_ID, "-o", str(csr_path))
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    public = csr.public_key()
    if algorithm == "rsa-3072":
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 3072
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    names = {a.oid: a.value for a in csr.subject}
    assert names == {NameOID.COUNTRY_NAME: "IR", NameOID.ORGANIZATION_NAME: "شرکت چرخهٔ عمر",
                     NameOID.SERIAL_NUMBER: NATIONAL_ID, NameOID.COMMON_NAME: "Lifecycle Co [Stamp]"}
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    certificate = issue(lifecycle.dev_env, csr, f"lifecycle-{lifecycle.token_label}")
    cert_file = tmp_path / "issued.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    assert seal_certificate_expiry(load_deployment(lifecycle.config))[ORG] is None  # no certificate yet
    installed = lifecycle.ok("seal-key", "install", str(cert_file), "--org", ORG)
    assert installed["serial"] == format(certificate.serial_number, "x") and installed["active"] is True
    assert lifecycle.certificate_path.read_bytes() == cert_file.read_bytes()
    # What the expiry warnings read (metrics, readiness, log): the installed certificate's end.
    expiry = seal_certificate_expiry(load_deployment(lifecycle.config))
    assert expiry[ORG] == certificate.not_valid_after_utc
    assert expiry["demo-co"] == lifecycle.dev_env.organisations["demo-co"].certificate().not_valid_after_utc

    (listed,) = lifecycle.ok("seal-key", "list", "--org", ORG)["seals"]
    assert listed["subject"] == certificate.subject.rfc4514_string()
    assert listed["serial"] == format(certificate.serial_number, "x")
    assert 728 <= listed["days_to_expiry"] <= 730
    assert listed["key"]["algorithm"] == algorithm and listed["key_matches_certificate"] is True

    time.sleep(STATE_POLL_SECONDS + 0.2)  # the responders see the new serial (OCSP for B-LT)
    source, sealed = tmp_path / "envelope.pdf", tmp_path / "sealed.pdf"
    source.write_bytes(pdf_bytes("Envelope sealed with a key born in the HSM"))
    result = lifecycle.run("seal", str(source), "-o", str(sealed), "--org", ORG, "--level", "B-LT")
    assert result.returncode == 0, result.stderr
    report = Validator(validation_config(load_deployment(lifecycle.config))).validate(sealed.read_bytes())
    assert report.indication is Indication.TOTAL_PASSED, report
    (signature,) = report.signatures
    assert signature.indication is Indication.TOTAL_PASSED
    sealed_cert = x509.load_der_x509_certificate(_signer_der(sealed.read_bytes()))
    assert sealed_cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == spki

    audit = lifecycle.run("audit", "show", "--json")
    actions = [entry["action"] for entry in json.loads(audit.stdout)]
    assert "seal_key.generated" in actions and "seal_key.installed" in actions


def _signer_der(data: bytes) -> bytes:
    """The signing certificate of the document's first signature."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    (embedded,) = PdfFileReader(io.BytesIO(data)).embedded_regular_signatures
    return bytes(embedded.signer_cert.dump())


def test_wrong_certificates_are_refused(lifecycle: Lifecycle, dev_env: DevEnvironment, tmp_path: Path) -> None:
    lifecycle.ok("seal-key", "generate", "--org", ORG, "--algorithm", "ec-p256")
    csr = x509.load_pem_x509_csr(lifecycle.ok("seal-key", "csr", "--org", ORG, "--national-id", NATIONAL_ID)
                                 ["csr"].encode("ascii"))
    subject = csr.subject
    now = dt.datetime.now(dt.UTC)
    general = x509.load_pem_x509_certificate(
        dev_env.ca_cert_paths[devpki.PROFILE_ISSUER[devpki.SEAL_PRIVATE]].read_bytes())
    pki = DevPKI.load(dev_env.directory / "devpki")
    ca_key = pki.authorities[devpki.PROFILE_ISSUER[devpki.SEAL_PRIVATE]].key

    def made(public_key: Any, issuer_name: x509.Name, signing_key: Any, usage: x509.KeyUsage) -> Path:
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(usage, critical=True).sign(signing_key, hashes.SHA256()))
        path = tmp_path / f"cert-{secrets.token_hex(4)}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    seal_usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    tls_usage = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
    other_key = ec.generate_private_key(ec.SECP256R1())
    stranger = ec.generate_private_key(ec.SECP256R1())
    right_key = csr.public_key()
    elsewhere = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Elsewhere CA")])
    cases = {
        "SEAL_CERT_NOT_FOR_KEY": made(other_key.public_key(), general.subject, ca_key, seal_usage),
        "SEAL_CERT_USAGE_REFUSED": made(right_key, general.subject, ca_key, tls_usage),
        "SEAL_CERT_CHAIN_REFUSED": made(right_key, elsewhere, stranger, seal_usage),
    }
    for code, path in cases.items():
        assert lifecycle.refused("seal-key", "install", str(path), "--org", ORG) == code, code
        assert not lifecycle.certificate_path.exists(), f"{code}: nothing may be installed"
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a certificate")
    assert lifecycle.refused("seal-key", "install", str(garbage), "--org", ORG) == "SEAL_CERT_UNREADABLE"
    assert lifecycle.refused("seal-key", "csr", "--org", ORG, "--national-id", "12") == "SEAL_SUBJECT_INVALID"
    assert lifecycle.refused("seal-key", "csr", "--org", ORG, "--national-id", NATIONAL_ID,
                             "--common-name", "شرکت") == "SEAL_SUBJECT_INVALID"
    (listed,) = lifecycle.ok("seal-key", "list", "--org", ORG)["seals"]
    assert listed["certificate_error"] == "SEAL_CERT_UNREADABLE" and listed["key"]["algorithm"] == "ec-p256"
