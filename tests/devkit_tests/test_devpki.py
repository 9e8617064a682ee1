"""The development PKI, its SoftHSM tokens and its live OCSP/CRL/TSA responders, over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pkcs11
import pytest
import requests
from asn1crypto import cms, core, tsp
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import ExpiredError, RevokedError
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

from devkit import devpki
from devkit.cli import devpki as devpki_cli
from devkit.devpki import DevPKI, DevPKIError, SealSubject
from devkit.devsetup import DevEnvironment, init_dev_environment
from hsm_config.deployment import load_certificate, load_deployment, national_anchor

REPO = Path(__file__).resolve().parents[2]


def _cert(path: Path) -> x509.Certificate:
    return load_certificate(path)


def _ocsp_query(env: DevEnvironment, cert: x509.Certificate, issuer_slug: str, *, nonce: bytes | None) -> bytes:
    issuer = _cert(env.ca_cert_paths[issuer_slug])
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _ocsp(env: DevEnvironment, cert: x509.Certificate, issuer_slug: str) -> ocsp.OCSPResponse:
    """POST an OCSP request with a nonce; check the answer is signed by the CA and echoes the nonce."""
    nonce = os.urandom(16)
    reply = requests.post(
        env.ocsp_url(issuer_slug),
        data=_ocsp_query(env, cert, issuer_slug, nonce=nonce),
        headers={"Content-Type": "application/ocsp-request"},
        timeout=10,
    )
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/ocsp-response"
    resp = ocsp.load_der_ocsp_response(reply.content)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    issuer = _cert(env.ca_cert_paths[issuer_slug])
    public_key = issuer.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert resp.signature_hash_algorithm is not None
    # Raises InvalidSignature unless the issuing CA signed it.
    public_key.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), resp.signature_hash_algorithm)
    assert (
        resp.responder_key_hash
        == issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    )
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert resp.serial_number == cert.serial_number
    assert resp.next_update_utc is not None
    assert resp.next_update_utc - resp.this_update_utc == dt.timedelta(hours=1)
    assert abs(resp.this_update_utc - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    return resp


def _validation_context(env: DevEnvironment, mode: str = "hard-fail") -> ValidationContext:
    # hard-fail: a path only validates if the live OCSP or CRL answered.
    return ValidationContext(
        trust_roots=[_asn1(env.root_cert_path)],
        other_certs=[_asn1(p) for slug, p in env.ca_cert_paths.items() if slug != devpki.ROOT],
        allow_fetching=True,
        revocation_mode=mode,
        fetcher_backend=RequestsFetcherBackend(),
    )


def _asn1(path: Path) -> object:
    from asn1crypto import x509 as asn1_x509

    return asn1_x509.Certificate.load(_cert(path).public_bytes(serialization.Encoding.DER))


# -- OCSP -----------------------------------------------------------------------------


def test_ocsp_good_for_demo_co_seal(dev_env: DevEnvironment) -> None:
    resp = _ocsp(dev_env, dev_env.organisations["demo-co"].certificate(), devpki.GENERAL)
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD


def test_ocsp_revoked_for_demo_revoked_seal(dev_env: DevEnvironment) -> None:
    resp = _ocsp(dev_env, dev_env.organisations["demo-revoked"].certificate(), devpki.GENERAL)
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason == x509.ReasonFlags.key_compromise
    assert resp.revocation_time_utc is not None
    one_day_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    assert abs(resp.revocation_time_utc - one_day_ago) < dt.timedelta(minutes=10)


def test_ocsp_government_ca_and_root(dev_env: DevEnvironment) -> None:
    gov = _ocsp(dev_env, dev_env.organisations["demo-gov"].certificate(), devpki.GOVERNMENT)
    assert gov.certificate_status == ocsp.OCSPCertStatus.GOOD
    intermediate = _ocsp(dev_env, _cert(dev_env.ca_cert_paths[devpki.GENERAL]), devpki.ROOT)
    assert intermediate.certificate_status == ocsp.OCSPCertStatus.GOOD


def test_ocsp_get_form_and_cache_without_nonce(dev_env: DevEnvironment) -> None:
    import base64
    from urllib.parse import quote

    query = _ocsp_query(dev_env, dev_env.organisations["demo-co"].certificate(), devpki.GENERAL, nonce=None)
    url = f"{dev_env.ocsp_url(devpki.GENERAL)}/{quote(base64.b64encode(query).decode(), safe='')}"
    first = requests.get(url, timeout=10)
    second = requests.post(dev_env.ocsp_url(devpki.GENERAL), data=query, timeout=10)
    resp = ocsp.load_der_ocsp_response(first.content)
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    # Without a nonce the same answer may be served again for a minute.
    assert first.content == second.content


def test_ocsp_unknown_and_unauthorised(dev_env: DevEnvironment) -> None:
    # A serial the general CA never issued: "unknown".
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer = _cert(dev_env.ca_cert_paths[devpki.GENERAL])
    stranger = (
        x509.CertificateBuilder()
        .subject_name(issuer.subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(12345)
        .not_valid_before(dt.datetime.now(dt.UTC))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    resp = _ocsp(dev_env, stranger, devpki.GENERAL)
    assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    # Asking the government CA about a general-CA certificate: not authoritative.
    query = _ocsp_query(dev_env, dev_env.organisations["demo-co"].certificate(), devpki.GENERAL, nonce=None)
    reply = requests.post(dev_env.ocsp_url(devpki.GOVERNMENT), data=query, timeout=10)
    assert ocsp.load_der_ocsp_response(reply.content).response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    reply = requests.post(dev_env.ocsp_url(devpki.GENERAL), data=b"not DER", timeout=10)
    assert ocsp.load_der_ocsp_response(reply.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


# -- CRL and certificates ----------------------------------------------------------------------


def test_crl_lists_revoked_seal_and_verifies(dev_env: DevEnvironment) -> None:
    reply = requests.get(dev_env.crl_url(devpki.GENERAL), timeout=10)
    assert reply.status_code == 200
    crl = x509.load_der_x509_crl(reply.content)
    ca = _cert(dev_env.ca_cert_paths[devpki.GENERAL])
    public_key = ca.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert crl.is_signature_valid(public_key)
    assert crl.issuer == ca.subject
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(days=1)
    revoked = crl.get_revoked_certificate_by_serial_number(dev_env.organisations["demo-revoked"].serial)
    assert revoked is not None
    assert (
        revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    )
    assert crl.get_revoked_certificate_by_serial_number(dev_env.organisations["demo-co"].serial) is None
    # Every CA publishes a CRL, signed by itself.
    for slug in devpki.CA_SLUGS:
        other = x509.load_der_x509_crl(requests.get(dev_env.crl_url(slug), timeout=10).content)
        key = _cert(dev_env.ca_cert_paths[slug]).public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        assert other.is_signature_valid(key)


def test_ca_certificates_served(dev_env: DevEnvironment) -> None:
    for slug, path in dev_env.ca_cert_paths.items():
        reply = requests.get(dev_env.cert_url(slug), timeout=10)
        assert reply.status_code == 200
        assert reply.content == _cert(path).public_bytes(serialization.Encoding.DER)
    assert requests.get(dev_env.cert_url("nobody"), timeout=10).status_code == 404
    assert requests.get(dev_env.healthz_url, timeout=10).json() == {"status": "ok"}


def test_certificate_profiles(dev_env: DevEnvironment) -> None:
    root = _cert(dev_env.root_cert_path)
    root_key = root.public_key()
    assert isinstance(root_key, rsa.RSAPublicKey) and root_key.key_size == 4096
    assert root.subject.rfc4514_string() == "CN=Pakat Dev Root CA-G3,O=Pakat Dev,C=IR"
    assert (root.not_valid_after_utc - root.not_valid_before_utc).days >= 20 * 365

    for slug in (devpki.GENERAL, devpki.GOVERNMENT):
        ca = _cert(dev_env.ca_cert_paths[slug])
        key = ca.public_key()
        assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
        assert ca.issuer == root.subject
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        _check_urls(dev_env, ca, devpki.ROOT)

    tsa = _cert(dev_env.tsa_cert_path)
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]

    seal = dev_env.organisations["demo-co"].certificate()
    cn = seal.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(cn, str) and cn.endswith("[Stamp]")
    national_id = seal.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
    assert national_id == dev_env.organisations["demo-co"].national_id and len(national_id) == 11
    assert seal.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "شرکت نمونه پاکت"
    ku = seal.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_cert_sign
    policies = seal.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == [devpki.POLICY_OIDS[devpki.SEAL_PRIVATE]]
    _check_urls(dev_env, seal, devpki.GENERAL)

    gov_seal = dev_env.organisations["demo-gov"].certificate()
    assert gov_seal.issuer == _cert(dev_env.ca_cert_paths[devpki.GOVERNMENT]).subject

    officer = dev_env.users["user-gov"].certificate()
    assert officer.subject.get_attributes_for_oid(NameOID.TITLE)[0].value == "Procurement Officer"
    assert officer.issuer == _cert(dev_env.ca_cert_paths[devpki.GOVERNMENT]).subject
    _check_urls(dev_env, officer, devpki.GOVERNMENT)
    for user in dev_env.users.values():
        cert = user.certificate()
        code = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
        assert code == user.national_code and len(code) == 10 and code.isdigit()
        assert cert.subject.get_attributes_for_oid(NameOID.GIVEN_NAME)
        assert cert.subject.get_attributes_for_oid(NameOID.SURNAME)
    private = dev_env.users["user-private"].certificate()
    assert private.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "شرکت نمونه پاکت"
    independent = dev_env.users["user-independent"].certificate()
    assert not independent.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)

    expired = dev_env.organisations["demo-expired"].certificate()
    now = dt.datetime.now(dt.UTC)
    assert abs(expired.not_valid_before_utc - (now - dt.timedelta(days=730))) < dt.timedelta(days=1)
    assert abs(expired.not_valid_after_utc - (now - dt.timedelta(days=365))) < dt.timedelta(days=1)


def _check_urls(env: DevEnvironment, cert: x509.Certificate, issuer_slug: str) -> None:
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for n in cdp[0].full_name or []] == [env.crl_url(issuer_slug)]
    aia = {
        d.access_method: d.access_location.value
        for d in cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    }
    assert aia[x509.oid.AuthorityInformationAccessOID.OCSP] == env.ocsp_url(issuer_slug)
    assert aia[x509.oid.AuthorityInformationAccessOID.CA_ISSUERS] == env.cert_url(issuer_slug)
    issuer = _cert(env.ca_cert_paths[issuer_slug])
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


# -- TSA ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_tsa_token_verifies(dev_env: DevEnvironment, algorithm: str) -> None:
    digest = hashlib.new(algorithm, b"envelope B of tender 1403-17").digest()
    # pyHanko's own client: sends a nonce and certReq, and checks the nonce comes back.
    stamper = RequestsHTTPTimeStamper(dev_env.tsa_url)
    token = asyncio.run(stamper.async_timestamp(digest, algorithm))
    signed_data = token["content"]
    tst_info = signed_data["encap_content_info"]["content"].parsed
    assert tst_info["message_imprint"]["hashed_message"].native == digest
    assert tst_info["policy"].dotted == devpki.TSA_POLICY_OID
    gen_time = tst_info["gen_time"].native
    assert abs(gen_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)

    status = asyncio.run(validate_tst_signed_data(signed_data, _validation_context(dev_env), lambda _algo: digest))
    assert status["intact"] and status["valid"]
    assert status["trust_problem_indic"] is None
    signer = status["signing_cert"]
    assert signer.extended_key_usage_value.native == ["time_stamping"]
    assert signer.dump() == _cert(dev_env.tsa_cert_path).public_bytes(serialization.Encoding.DER)


class _TimeStampResp(core.Sequence):
    """RFC 3161 TimeStampResp; asn1crypto's own wrongly insists on a token even in a rejection."""

    _fields = [  # noqa: RUF012 (asn1crypto's declaration style)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _tsa_raw(env: DevEnvironment, algorithm: str, digest: bytes, **extra: object) -> _TimeStampResp:
    query = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
            **extra,
        }
    ).dump()
    reply = requests.post(
        env.tsa_url, data=query, headers={"Content-Type": "application/timestamp-query"}, timeout=10
    )
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/timestamp-reply"
    return _TimeStampResp.load(reply.content)


def test_tsa_refuses_sha1(dev_env: DevEnvironment) -> None:
    resp = _tsa_raw(dev_env, "sha1", hashlib.sha1(b"x").digest(), nonce=7, cert_req=True)
    assert resp["status"]["status"].native == "rejection"
    assert resp["status"]["fail_info"].native == {"bad_alg"}
    assert isinstance(resp["time_stamp_token"], core.Void)  # no token at all


def test_tsa_nonce_serial_and_cert_req(dev_env: DevEnvironment) -> None:
    digest = hashlib.sha256(b"x").digest()
    with_cert = _tsa_raw(dev_env, "sha256", digest, nonce=2**70 + 5, cert_req=True)
    without = _tsa_raw(dev_env, "sha256", digest)
    assert with_cert["status"]["status"].native == "granted"
    first = with_cert["time_stamp_token"]["content"]
    second = without["time_stamp_token"]["content"]
    info1 = first["encap_content_info"]["content"].parsed
    info2 = second["encap_content_info"]["content"].parsed
    assert info1["nonce"].native == 2**70 + 5
    assert info2["nonce"].native is None
    assert info1["serial_number"].native != info2["serial_number"].native
    assert len(first["certificates"]) == 1
    assert not second["certificates"]
    bad = _tsa_raw(dev_env, "sha256", b"short")
    assert bad["status"]["fail_info"].native == {"bad_data_format"}
    policy = _tsa_raw(dev_env, "sha256", digest, req_policy="1.2.3.4")
    assert policy["status"]["fail_info"].native == {"unaccepted_policy"}


# -- chain validation with live revocation ------------------------------------------------------


def test_certvalidator_accepts_demo_co_seal(dev_env: DevEnvironment) -> None:
    vc = _validation_context(dev_env)
    validator = CertificateValidator(
        _asn1(dev_env.organisations["demo-co"].certificate_path), validation_context=vc
    )
    path = asyncio.run(validator.async_validate_usage({"non_repudiation"}))
    assert path.pkix_len == 2  # leaf and intermediate; the root is the trust anchor
    # hard-fail mode: this only passes if revocation data was fetched for both leaf and intermediate.
    assert len(vc.ocsps) >= 2


def test_certvalidator_flags_revoked_seal(dev_env: DevEnvironment) -> None:
    validator = CertificateValidator(
        _asn1(dev_env.organisations["demo-revoked"].certificate_path),
        validation_context=_validation_context(dev_env),
    )
    with pytest.raises(RevokedError):
        asyncio.run(validator.async_validate_usage({"non_repudiation"}))


def test_certvalidator_flags_expired_seal(dev_env: DevEnvironment) -> None:
    validator = CertificateValidator(
        _asn1(dev_env.organisations["demo-expired"].certificate_path),
        validation_context=_validation_context(dev_env),
    )
    with pytest.raises(ExpiredError):
        asyncio.run(validator.async_validate_usage({"non_repudiation"}))


# -- SoftHSM tokens ------------------------------------------------------------------------------


def logged_in_session(token: Any, pin: str) -> Any:
    """A session logged in as the user: PKCS#11 keeps login per process, so when a seal service an earlier
    test of this process left open is logged in to the token, a new session shares that login."""
    try:
        return token.open(user_pin=pin)
    except pkcs11.exceptions.UserAlreadyLoggedIn:
        return token.open()


@pytest.mark.parametrize("org_id", ["demo-co", "demo-gov", "demo-revoked", "demo-expired"])
def test_seal_key_lives_on_its_token(dev_env: DevEnvironment, org_id: str) -> None:
    org = dev_env.organisations[org_id]
    cert = org.certificate()
    lib = pkcs11.lib(dev_env.softhsm_module)
    token = lib.get_token(token_label=org.token_label)
    with logged_in_session(token, org.read_pin()) as session:
        private = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.RSA, label=org.key_label)
        assert isinstance(private, pkcs11.PrivateKey) and isinstance(private, pkcs11.SignMixin)
        assert private[Attribute.ID] == org.key_id
        assert private[Attribute.TOKEN] and private[Attribute.PRIVATE]
        assert private[Attribute.SENSITIVE] and private[Attribute.ALWAYS_SENSITIVE]
        assert not private[Attribute.EXTRACTABLE] and private[Attribute.NEVER_EXTRACTABLE]
        assert private[Attribute.SIGN] and not private[Attribute.DECRYPT]
        with pytest.raises(pkcs11.AttributeSensitive):
            private[Attribute.PRIVATE_EXPONENT]

        public = session.get_key(ObjectClass.PUBLIC_KEY, KeyType.RSA, label=org.key_label)
        numbers = cert.public_key()
        assert isinstance(numbers, rsa.RSAPublicKey)
        assert int.from_bytes(public[Attribute.MODULUS], "big") == numbers.public_numbers().n

        stored = list(
            session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: org.key_label})
        )
        assert len(stored) == 1
        assert stored[0][Attribute.VALUE] == cert.public_bytes(serialization.Encoding.DER)
        assert stored[0][Attribute.ID] == org.key_id

        # The token's key is the certificate's key: a signature made inside verifies with it.
        data = b"seal me"
        signature = private.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)
        numbers.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def test_user_tokens_hold_their_certificates(dev_env: DevEnvironment) -> None:
    lib = pkcs11.lib(dev_env.softhsm_module)
    for user in dev_env.users.values():
        with lib.get_token(token_label=user.token_label).open(user_pin=user.read_pin()) as session:
            private = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.RSA, label=user.key_label)
            assert not private[Attribute.EXTRACTABLE]
            stored = next(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}))
            assert stored[Attribute.VALUE] == user.certificate().public_bytes(serialization.Encoding.DER)


def test_secrets_are_private(dev_env: DevEnvironment) -> None:
    secret_files = [
        *(dev_env.directory / "secrets").iterdir(),
        *(dev_env.directory / "devpki" / "private").iterdir(),
    ]
    assert len(secret_files) >= 3 * 4 + 2 * 3 + 4
    for path in secret_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((dev_env.directory / "secrets").stat().st_mode) == 0o700
    pins = {org.read_pin() for org in dev_env.organisations.values()} | {
        u.read_pin() for u in dev_env.users.values()
    }
    assert all(len(pin) == 8 and pin.isdigit() for pin in pins)
    assert len(pins) == len(dev_env.organisations) + len(dev_env.users)  # random per token
    # No PIN or API key leaks into the deployment file or the PKI state.
    public_text = dev_env.deployment_path.read_text() + (dev_env.directory / "devpki" / "state.json").read_text()
    for org in dev_env.organisations.values():
        assert org.read_pin() not in public_text and org.read_api_key() not in public_text


# -- deployment file, idempotence, CLI ----------------------------------------------------------


def test_deployment_file_loads(dev_env: DevEnvironment) -> None:
    deployment = load_deployment(dev_env.deployment_path)
    assert set(deployment.organisations) == {"demo-co", "demo-gov", "demo-revoked", "demo-expired"}
    national, anchor = deployment.trust_roots  # dev mode trusts the dev root beside the national one
    assert national == national_anchor()
    root = anchor.load()  # refuses a root whose SHA-256 is not the pinned one
    assert root.fingerprint(hashes.SHA256()).hex() == anchor.sha256
    assert anchor.path == dev_env.root_cert_path
    assert deployment.tsa_url == dev_env.tsa_url
    assert deployment.revocation_url_prefixes == (f"{dev_env.base_url}/",)
    seal = deployment.organisation("demo-co").seal
    assert seal.module == dev_env.softhsm_module
    assert seal.module_env == {"SOFTHSM2_CONF": str(dev_env.softhsm_conf)}
    assert seal.token_label == "demo-co-seal" and seal.key_label == "seal"
    assert seal.read_pin() == dev_env.organisations["demo-co"].read_pin()
    assert seal.chain == (dev_env.ca_cert_paths[devpki.GENERAL],)
    assert deployment.organisation("demo-gov").seal.chain == (dev_env.ca_cert_paths[devpki.GOVERNMENT],)
    for org in dev_env.organisations.values():
        assert deployment.organisation_for_api_key(org.read_api_key()) == org.id
        assert len(org.read_api_key()) >= 43  # 256 bits, URL-safe base64


def _snapshot(directory: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "responders.log"
    }


def test_init_is_idempotent(dev_env: DevEnvironment) -> None:
    before = _snapshot(dev_env.directory)
    again = init_dev_environment(dev_env.directory, dev_env.host, dev_env.port)
    assert again == dev_env
    assert _snapshot(dev_env.directory) == before
    with pytest.raises(DevPKIError, match="--force"):
        init_dev_environment(dev_env.directory, dev_env.host, dev_env.port + 1)


def test_reuse_brings_an_older_pakat_yaml_up_to_date(dev_env: DevEnvironment) -> None:
    """An environment made by an older Pakat lacks newer sections; reusing it rewrites only pakat.yaml."""
    current = dev_env.deployment_path.read_bytes()
    older = b"".join(line for line in current.splitlines(keepends=True) if b"assurance_level" not in line)
    assert older != current
    dev_env.deployment_path.write_bytes(older)
    try:
        init_dev_environment(dev_env.directory, dev_env.host, dev_env.port)
    finally:
        rewritten = dev_env.deployment_path.read_bytes()
        dev_env.deployment_path.write_bytes(current)
    assert rewritten == current


def test_info_json(dev_env: DevEnvironment) -> None:
    result = CliRunner().invoke(devpki_cli, ["info", "--dir", str(dev_env.directory), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info == dev_env.info
    assert info["root_certificate"] == str(dev_env.root_cert_path)
    assert info["services"]["tsa"] == dev_env.tsa_url
    assert info["services"]["ocsp"][devpki.GENERAL] == dev_env.ocsp_url(devpki.GENERAL)
    assert info["softhsm"] == {"module": dev_env.softhsm_module, "SOFTHSM2_CONF": str(dev_env.softhsm_conf)}
    statuses = {org_id: org["status"] for org_id, org in info["organisations"].items()}
    assert statuses == {
        "demo-co": "good",
        "demo-gov": "good",
        "demo-revoked": "revoked",
        "demo-expired": "expired",
    }
    assert info["organisations"]["demo-co"]["pin"] == dev_env.organisations["demo-co"].read_pin()
    assert info["organisations"]["demo-co"]["api_key"] == dev_env.organisations["demo-co"].read_api_key()
    assert info["users"]["user-gov"]["title"] == "Procurement Officer"
    assert {u["kind"] for u in info["users"].values()} == {
        devpki.PERSON_INDEPENDENT,
        devpki.PERSON_GOVERNMENT,
        devpki.PERSON_PRIVATE,
    }
    text = CliRunner().invoke(devpki_cli, ["info", "--dir", str(dev_env.directory)])
    assert text.exit_code == 0 and "demo-revoked" in text.output and "[revoked]" in text.output


def test_serve_refuses_a_taken_port(dev_env: DevEnvironment) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "devkit.cli", "serve", "--dir", str(dev_env.directory)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode != 0
    assert "already in use" in proc.stderr


def test_revocation_while_serving(dev_env: DevEnvironment) -> None:
    """Revoking through DevPKI reaches OCSP and the CRL without restarting the responders."""
    pki = DevPKI.load(dev_env.directory / "devpki")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = pki.issue(
        devpki.SEAL_PRIVATE,
        SealSubject("شرکت آزمایشی", devpki.legal_entity_id("1400011111")),
        key.public_key(),
        "test-revocation-while-serving",
    )
    time.sleep(1.1)  # the responders poll state.json once a second
    assert _ocsp(dev_env, cert, devpki.GENERAL).certificate_status == ocsp.OCSPCertStatus.GOOD
    pki.revoke(cert.serial_number, reason="superseded")
    deadline = time.monotonic() + 5
    while _ocsp(dev_env, cert, devpki.GENERAL).certificate_status != ocsp.OCSPCertStatus.REVOKED:
        assert time.monotonic() < deadline, "revocation never reached the OCSP responder"
        time.sleep(0.2)
    crl = x509.load_der_x509_crl(requests.get(dev_env.crl_url(devpki.GENERAL), timeout=10).content)
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def test_national_identifier_check_digits() -> None:
    assert devpki.national_code("008512345") == "0085123455"
    # Published example of a valid organisation national ID.
    assert devpki.legal_entity_id("1038028479") == "10380284790"
