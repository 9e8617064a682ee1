"""The agent and real SoftHSM tokens: listing, login failures, signatures, PIN input, the CLI's exit codes.

Two sets of tokens are used. The demo users' tokens (``dev_env``) are read
and logged in to in this process, never changed; only wrong PINs are tried
on them (SoftHSM has no retry counter, so nothing locks). Tokens of our own
(an empty one, and one with a factory PIN, an RSA and an EC key and an
issuer chain; the demo tokens are all RSA) live in a second SoftHSM
configuration, which needs another process: SoftHSM reads SOFTHSM2_CONF once
per process, so those tests run ``pakat agent`` as a subprocess.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pkcs11.exceptions as p11e
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID
from pakat_testkit import free_port, pakat_command, process_env
from pkcs11 import TokenFlag
from test_agent_protocol import SECRET, StubServer, assert_secret_absent

from agent.cli import read_pin
from agent.token import TokenSession, is_factory_pin, login_error, read_token
from devkit.devsetup import DemoUser, DevEnvironment
from devkit.softhsm import KeySpec, SoftHSM
from envelopes.sessions import pairing_link
from pakat import errors
from pakat.errors import KINDS, PakatError
from signer.cms import DIGESTS

FACTORY_PIN = "12345678"
EMPTY_PIN = "empty-token-pin-4821"
RSA_ID, EC_ID = bytes.fromhex("a1a1a1a1"), bytes.fromhex("ec0ec0ec")

# Runs in a child process with our own SOFTHSM2_CONF: makes key pairs inside a
# token (RSA-2048 or EC P-256) and answers their SubjectPublicKeyInfo, base64.
_KEYGEN = r"""
import base64, json, sys
import pkcs11
from pkcs11 import Attribute, KeyType
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

request = json.load(sys.stdin)
token = pkcs11.lib(request["module"]).get_token(token_label=request["token"])
answer = {}
with token.open(rw=True, user_pin=request["pin"]) as session:
    for key in request["keys"]:
        key_id = bytes.fromhex(key["id"])
        if key["type"] == "ec":
            params = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
            public, _ = params.generate_keypair(store=True, label=key["label"], id=key_id)
            spki = encode_ec_public_key(public)
        else:
            public, _ = session.generate_keypair(KeyType.RSA, 2048, store=True, label=key["label"], id=key_id)
            numbers = rsa.RSAPublicNumbers(int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
                                           int.from_bytes(public[Attribute.MODULUS], "big"))
            spki = numbers.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        answer[key["label"]] = base64.b64encode(spki).decode()
print(json.dumps(answer))
"""


@dataclass(frozen=True)
class OwnTokens:
    """Our SoftHSM configuration: token ``agent-empty`` and token ``agent-factory``."""

    hsm: SoftHSM
    rsa_cert: x509.Certificate
    ec_cert: x509.Certificate
    intermediate: x509.Certificate
    root: x509.Certificate

    def env(self) -> dict[str, str]:
        """The environment of a process that sees these tokens instead of the demo ones."""
        return process_env(self.hsm.env())


def _name(cn: str, national_id: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if national_id:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, national_id))
    return x509.Name(attrs)


def _issue(
    subject: x509.Name, public: Any, issuer: x509.Name, key: rsa.RSAPrivateKey, *, ca: bool
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(key, hashes.SHA256())


@pytest.fixture(scope="module")
def own_tokens(dev_env: DevEnvironment, tmp_path_factory: pytest.TempPathFactory) -> OwnTokens:
    """Two tokens of our own in a second SoftHSM configuration (made by child processes only)."""
    hsm = SoftHSM.create(tmp_path_factory.mktemp("agent-hsm"), dev_env.softhsm_module)
    hsm.init_token("agent-empty", EMPTY_PIN, "so-pin-empty-000000")
    hsm.init_token("agent-factory", FACTORY_PIN, "so-pin-factory-00000")
    request = {
        "module": hsm.module, "token": "agent-factory", "pin": FACTORY_PIN,
        "keys": [{"label": "signer-rsa", "id": RSA_ID.hex(), "type": "rsa"},
                 {"label": "signer-ec", "id": EC_ID.hex(), "type": "ec"}],
    }
    child = subprocess.run([sys.executable, "-c", _KEYGEN], input=json.dumps(request), capture_output=True,
                           text=True, env={**os.environ, **hsm.env()}, check=False)
    assert child.returncode == 0, child.stderr
    spki = {
        label: serialization.load_der_public_key(base64.b64decode(value))
        for label, value in json.loads(child.stdout).items()
    }

    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = _issue(_name("Agent Test Root"), root_key.public_key(), _name("Agent Test Root"), root_key, ca=True)
    intermediate = _issue(_name("Agent Test CA"), inter_key.public_key(), root.subject, root_key, ca=True)
    rsa_cert = _issue(_name("Agent RSA Signer", "0055509876"), spki["signer-rsa"], intermediate.subject, inter_key,
                      ca=False)
    ec_cert = _issue(_name("Agent EC Signer", "0055509876"), spki["signer-ec"], intermediate.subject, inter_key,
                     ca=False)

    def spec(label: str, key_id: bytes) -> KeySpec:
        return KeySpec("agent-factory", label, key_id, FACTORY_PIN)

    hsm.store_certificates([
        (spec("signer-rsa", RSA_ID), rsa_cert),
        (spec("signer-ec", EC_ID), ec_cert),
        # Issuers on the token without keys: sent as the chain, never offered for signing.
        (spec("ca", bytes.fromhex("ca01")), intermediate),
        (spec("root", bytes.fromhex("ca02")), root),
    ])
    return OwnTokens(hsm, rsa_cert, ec_cert, intermediate, root)


def agent_cli(own: OwnTokens, *args: str, **popen: Any) -> subprocess.CompletedProcess[str]:
    """``pakat agent ARGS`` in a child that sees our own tokens, without a controlling terminal."""
    return subprocess.run(
        pakat_command("agent", *args), env=own.env(), capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, start_new_session=True, check=False, **popen,
    )


def write_secret(tmp_path: Path) -> Path:
    path = tmp_path / "agent.secret"
    path.write_text(SECRET + "\n")
    return path


# -- listing --------------------------------------------------------------------------


def test_the_demo_token_lists_its_signing_certificate(dev_env: DevEnvironment) -> None:
    user = dev_env.users["user-independent"]
    contents = read_token(dev_env.softhsm_module, user.token_label)
    assert [c.key_id for c in contents.signing] == [user.key_id]
    assert contents.signing[0].certificate == user.certificate()


def test_pakat_agent_list_on_a_demo_token(dev_env: DevEnvironment) -> None:
    user = dev_env.users["user-gov"]
    proc = subprocess.run(
        pakat_command(
            "agent", "list", "--module", dev_env.softhsm_module, "--token-label", user.token_label, "--json"
        ),
        env=process_env(dev_env.softhsm_env()), capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)["certificates"]
    assert [c["key_id"] for c in listed] == [user.key_id.hex()]
    assert listed[0]["national_id"] == user.national_code and listed[0]["title"] == user.title


def test_list_shows_rsa_and_ec_keys_but_not_the_issuers(own_tokens: OwnTokens) -> None:
    proc = agent_cli(own_tokens, "list", "--module", own_tokens.hsm.module, "--token-label", "agent-factory",
                     "--json")
    assert proc.returncode == 0, proc.stderr
    listed = {c["key_id"]: c for c in json.loads(proc.stdout)["certificates"]}
    assert set(listed) == {RSA_ID.hex(), EC_ID.hex()}
    assert listed[EC_ID.hex()]["key"] == "ecdsa" and listed[RSA_ID.hex()]["key"] == "rsa"
    text = agent_cli(own_tokens, "list", "--module", own_tokens.hsm.module, "--token-label", "agent-factory")
    assert "Agent EC Signer" in text.stdout and "گواهی / Certificate" in text.stdout


def test_an_empty_token_is_no_certificate(own_tokens: OwnTokens) -> None:
    proc = agent_cli(own_tokens, "list", "--module", own_tokens.hsm.module, "--token-label", "agent-empty",
                     "--json")
    assert proc.returncode == errors.NO_CERTIFICATE.exit_code == 5
    assert json.loads(proc.stdout)["error"]["code"] == "NO_CERTIFICATE"
    assert "NO_CERTIFICATE" in proc.stderr and errors.NO_CERTIFICATE.fa in proc.stderr


def test_an_unknown_label_or_module_is_token_not_present(dev_env: DevEnvironment, tmp_path: Path) -> None:
    with pytest.raises(PakatError) as caught:
        read_token(dev_env.softhsm_module, "no-such-token")
    assert caught.value.kind is errors.TOKEN_NOT_PRESENT and "no-such-token" in (caught.value.detail or "")
    with pytest.raises(PakatError) as caught:
        read_token(str(tmp_path / "libmissing-pkcs11.so"), "any")
    assert caught.value.kind is errors.TOKEN_NOT_PRESENT


def test_pakat_agent_list_exit_code_for_an_unknown_token(dev_env: DevEnvironment) -> None:
    proc = subprocess.run(
        pakat_command("agent", "list", "--module", dev_env.softhsm_module, "--token-label", "no-such-token"),
        env=process_env(dev_env.softhsm_env()), capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 5 and proc.stderr.startswith("TOKEN_NOT_PRESENT: ")


# -- logging in and signing -------------------------------------------------------------


def _chosen(dev_env: DevEnvironment, user: DemoUser) -> Any:
    return read_token(dev_env.softhsm_module, user.token_label).signing[0]


def test_a_wrong_pin_is_wrong_pin_and_never_shown(dev_env: DevEnvironment) -> None:
    user = dev_env.users["user-gov"]
    wrong = "90817263"
    with pytest.raises(PakatError) as caught:
        TokenSession.login(dev_env.softhsm_module, user.token_label, _chosen(dev_env, user), wrong)
    assert caught.value.kind is errors.WRONG_PIN and caught.value.kind.exit_code == 5
    assert wrong not in str(caught.value) and wrong not in json.dumps(caught.value.as_dict())


@pytest.mark.parametrize("name", ["sha256", "sha384", "sha512"])
def test_a_digest_signed_by_the_token_verifies_with_the_certificate(dev_env: DevEnvironment, name: str) -> None:
    user = dev_env.users["user-gov"]
    algorithm = DIGESTS[name]
    digest = algorithm.digest(b"the signed attributes")
    session = TokenSession.login(dev_env.softhsm_module, user.token_label, _chosen(dev_env, user), user.read_pin())
    try:
        signature = session.sign_digest(digest, algorithm)
    finally:
        session.close()  # logged out: the login state is the whole process's
    public = user.certificate().public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    hash_algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[name]
    public.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hash_algorithm))


# -- what login failures mean -------------------------------------------------------------


def test_pin_locked_mapping() -> None:
    # SoftHSM has no retry counter and cannot be made to lock a PIN, so the mapping is
    # tested with python-pkcs11's exception and the token flags a real token reports.
    assert login_error(p11e.PinLocked(), None, "t").kind is errors.PIN_LOCKED
    assert login_error(p11e.PinIncorrect(), TokenFlag.USER_PIN_LOCKED, "t").kind is errors.PIN_LOCKED
    assert errors.PIN_LOCKED.exit_code == 5


def test_wrong_pin_says_how_many_tries_are_left() -> None:
    final = login_error(p11e.PinIncorrect(), TokenFlag.USER_PIN_FINAL_TRY | TokenFlag.USER_PIN_INITIALIZED, "t")
    assert final.kind is errors.WRONG_PIN and "1 try left" in (final.detail or "")
    low = login_error(p11e.PinIncorrect(), TokenFlag.USER_PIN_COUNT_LOW, "t")
    assert low.kind is errors.WRONG_PIN and "few tries left" in (low.detail or "")
    plain = login_error(p11e.PinLenRange(), TokenFlag(0), "t")
    assert plain.kind is errors.WRONG_PIN and plain.detail == "t"
    assert login_error(p11e.DeviceRemoved(), None, "t").kind is errors.TOKEN_NOT_PRESENT


def test_factory_pins_are_recognised() -> None:
    for pin in ("12345678", "1234567890", "11111111", "87654321", "00000000", "1111", "123456", "0000", "1234"):
        assert is_factory_pin(pin)
    assert not is_factory_pin("90817263")


# -- reading the PIN --------------------------------------------------------------------


def _cancelled(**kwargs: Any) -> PakatError:
    with pytest.raises(PakatError) as caught:
        read_pin(**kwargs)
    assert caught.value.kind is errors.USER_CANCELLED and caught.value.kind.exit_code == 8
    return caught.value


def test_an_empty_pin_eof_or_ctrl_c_is_user_cancelled(tmp_path: Path) -> None:
    def raising(exc: BaseException) -> Any:
        def prompt(_text: str) -> str:
            raise exc
        return prompt

    _cancelled(pin_file=None, pin_fd=None, prompt=lambda _text: "")
    _cancelled(pin_file=None, pin_fd=None, prompt=raising(EOFError()))
    _cancelled(pin_file=None, pin_fd=None, prompt=raising(KeyboardInterrupt()))
    empty = tmp_path / "empty.pin"
    empty.write_text("\n")
    _cancelled(pin_file=empty, pin_fd=None)
    read_end, write_end = os.pipe()
    os.close(write_end)  # end of input before any PIN
    _cancelled(pin_file=None, pin_fd=read_end)


def test_a_pin_from_a_file_or_a_descriptor(tmp_path: Path) -> None:
    path = tmp_path / "user.pin"
    path.write_text("4321 8765\r\n")
    assert read_pin(path, None) == "4321 8765"
    read_end, write_end = os.pipe()
    os.write(write_end, b"24680\nignored\n")
    os.close(write_end)
    assert read_pin(None, read_end) == "24680"


# -- pakat agent sign as a script runs it -------------------------------------------------


def test_sign_with_ec_key_pin_file_factory_warning_and_chain(own_tokens: OwnTokens, tmp_path: Path) -> None:
    pin_file = tmp_path / "factory.pin"
    pin_file.write_text(FACTORY_PIN + "\n")
    with StubServer("0055509876") as stub:
        proc = agent_cli(
            own_tokens, "sign", "--session-url", stub.url, "--secret-file", str(write_secret(tmp_path)),
            "--module", own_tokens.hsm.module, "--token-label", "agent-factory", "--certificate", EC_ID.hex(),
            "--pin-file", str(pin_file), "--json",
        )
        assert proc.returncode == 0, proc.stderr
        # The stub verified the ECDSA signature.
        assert stub.steps() == ["session", "certificate", "prepared.pdf", "signature"]
        posted = stub.requests[1].body
    assert posted is not None
    assert [base64.b64decode(c) for c in posted["chain"]] == [
        own_tokens.intermediate.public_bytes(serialization.Encoding.DER)
    ]
    outcome = json.loads(proc.stdout)
    assert outcome["state"] == "signed" and outcome["certificate"]["key_id"] == EC_ID.hex()
    assert "رمز پیش‌فرض کارخانه" in proc.stderr and "factory default PIN" in proc.stderr
    assert "bid-B.pdf" in proc.stderr  # what was signed was shown
    assert_secret_absent(proc.stdout, proc.stderr)
    assert FACTORY_PIN not in proc.stdout + proc.stderr


def test_sign_with_rsa_key_chosen_by_label_and_pin_on_a_descriptor(own_tokens: OwnTokens, tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, FACTORY_PIN.encode() + b"\n")
    os.close(write_end)
    with StubServer("0055509876") as stub:
        proc = agent_cli(
            own_tokens, "sign", "--session-url", stub.url, "--secret-file", str(write_secret(tmp_path)),
            "--module", own_tokens.hsm.module, "--token-label", "agent-factory", "--certificate", "signer-rsa",
            "--pin-fd", str(read_end), pass_fds=(read_end,),
        )
    os.close(read_end)
    assert proc.returncode == 0, proc.stderr
    assert "امضا شد" in proc.stdout and "Signed" in proc.stdout
    assert_secret_absent(proc.stdout, proc.stderr)


def test_several_certificates_and_no_terminal_is_refused_with_the_list(
    own_tokens: OwnTokens, tmp_path: Path
) -> None:
    with StubServer("0055509876") as stub:
        proc = agent_cli(
            own_tokens, "sign", "--session-url", stub.url, "--secret-file", str(write_secret(tmp_path)),
            "--module", own_tokens.hsm.module, "--token-label", "agent-factory",
        )
        assert stub.steps() == ["session"]
    assert proc.returncode == 2
    assert RSA_ID.hex() in proc.stderr and EC_ID.hex() in proc.stderr and "--certificate" in proc.stderr


def test_sign_exit_codes_for_wrong_pin_and_no_pin(own_tokens: OwnTokens, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pin"
    wrong.write_text("87878787\n")
    common = ["--secret-file", str(write_secret(tmp_path)), "--module", own_tokens.hsm.module,
              "--token-label", "agent-factory", "--certificate", "signer-rsa", "--json"]
    with StubServer("0055509876") as stub:
        proc = agent_cli(own_tokens, "sign", "--session-url", stub.url, *common, "--pin-file", str(wrong))
        assert proc.returncode == 5 and json.loads(proc.stdout)["error"]["code"] == "WRONG_PIN"
        assert "87878787" not in proc.stdout + proc.stderr
        # No PIN option and no terminal: getpass meets the end of input.
        proc = agent_cli(own_tokens, "sign", "--session-url", stub.url, *common)
        assert proc.returncode == 8 and json.loads(proc.stdout)["error"]["code"] == "USER_CANCELLED"
        assert "certificate" not in stub.steps()
    assert_secret_absent(proc.stdout, proc.stderr)


def test_server_unreachable_from_the_cli(own_tokens: OwnTokens, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/agent/v1/sessions/x"
    proc = agent_cli(own_tokens, "sign", "--session-url", url, "--secret-file", str(write_secret(tmp_path)),
                     "--module", own_tokens.hsm.module, "--token-label", "agent-factory")
    assert proc.returncode == 7 and "SERVER_UNREACHABLE" in proc.stderr
    assert_secret_absent(proc.stdout, proc.stderr)


def test_ec_signature_is_der(own_tokens: OwnTokens) -> None:
    """The EC certificate is P-256 (so the stub's acceptance above was a DER ECDSA-Sig-Value)."""
    public = own_tokens.ec_cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"


# -- the link form, with the tokens found by the agent itself -----------------------------------


def stub_link(stub: StubServer) -> str:
    return pairing_link(stub.url, SECRET)


def test_list_without_a_module_finds_softhsm_and_every_token(own_tokens: OwnTokens) -> None:
    proc = agent_cli(own_tokens, "list", "--json")
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert {t["token"] for t in found["tokens"]} == {"agent-empty", "agent-factory"}
    assert {(c["token"], c["key_id"]) for c in found["certificates"]} == {
        ("agent-factory", RSA_ID.hex()), ("agent-factory", EC_ID.hex())
    }
    assert all("softhsm2" in c["module"] for c in found["certificates"])
    text = agent_cli(own_tokens, "list")
    assert text.returncode == 0 and "agent-empty" in text.stdout and "no signing certificate" in text.stdout


def test_a_module_from_the_environment_that_is_missing_is_skipped(own_tokens: OwnTokens, tmp_path: Path) -> None:
    env = {**own_tokens.env(), "PAKAT_PKCS11_MODULES": str(tmp_path / "libnothing.so")}
    proc = subprocess.run(pakat_command("agent", "list", "--json"), env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, proc.stderr
    assert str(tmp_path) not in proc.stdout


def test_the_link_and_a_named_certificate_sign(own_tokens: OwnTokens, tmp_path: Path) -> None:
    pin_file = tmp_path / "factory.pin"
    pin_file.write_text(FACTORY_PIN + "\n")
    with StubServer("0055509876") as stub:
        proc = agent_cli(own_tokens, "sign", stub_link(stub), "--certificate", "signer-ec", "--pin-file",
                         str(pin_file), "--json")
        assert proc.returncode == 0, proc.stderr
        assert stub.steps() == ["session", "certificate", "prepared.pdf", "signature"]
    assert json.loads(proc.stdout)["certificate"]["token"] == "agent-factory"
    assert "127.0.0.1" in proc.stderr  # the server is shown before the PIN
    assert_secret_absent(proc.stdout, proc.stderr)


def test_several_fitting_certificates_across_tokens_need_a_choice(own_tokens: OwnTokens) -> None:
    with StubServer("0055509876") as stub:
        proc = agent_cli(own_tokens, "sign", stub_link(stub))
        assert stub.steps() == ["session"]
    assert proc.returncode == 2 and "--certificate" in proc.stderr
    assert RSA_ID.hex() in proc.stderr and EC_ID.hex() in proc.stderr and "agent-factory" in proc.stderr
    assert_secret_absent(proc.stdout, proc.stderr)


def test_the_link_on_stdin(own_tokens: OwnTokens, tmp_path: Path) -> None:
    pin_file = tmp_path / "factory.pin"
    pin_file.write_text(FACTORY_PIN + "\n")
    with StubServer("0055509876") as stub:
        proc = subprocess.run(
            pakat_command("agent", "sign", "-", "--certificate", RSA_ID.hex(), "--pin-file", str(pin_file)),
            env=own_tokens.env(), input=stub_link(stub) + "\n", capture_output=True, text=True, timeout=120,
            start_new_session=True, check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert stub.steps() == ["session", "certificate", "prepared.pdf", "signature"]
    assert_secret_absent(proc.stdout, proc.stderr)


def test_no_fitting_certificate_is_refused_before_the_pin_is_read(own_tokens: OwnTokens) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, FACTORY_PIN.encode() + b"\n")
    os.close(write_end)
    try:
        with StubServer("0099999999") as stub:
            proc = agent_cli(own_tokens, "sign", stub_link(stub), "--pin-fd", str(read_end), "--json",
                             pass_fds=(read_end,))
            assert stub.steps() == ["session"]
        assert proc.returncode == 6, proc.stderr
        error = json.loads(proc.stdout)["error"]
        assert error["code"] == "NO_MATCHING_CERTIFICATE" and "0099999999" in error["detail"]
        assert os.read(read_end, 100) == FACTORY_PIN.encode() + b"\n"  # the PIN was never read
    finally:
        os.close(read_end)
    assert_secret_absent(proc.stdout, proc.stderr)


@pytest.mark.parametrize(("link", "code"), [
    (f"pakat://sign?session=http%3A%2F%2F127.0.0.1%2Fagent%2Fv1%2Fsessions%2Fs&secret={SECRET}&more=1",
     "AGENT_LINK_INVALID"),
    (f"pakat://sign?session=http%3A%2F%2Fpakat.example.ir%2Fagent%2Fv1%2Fsessions%2Fs&secret={SECRET}",
     "AGENT_LINK_INSECURE"),
])
def test_refused_links_from_the_cli(own_tokens: OwnTokens, link: str, code: str) -> None:
    proc = agent_cli(own_tokens, "sign", link, "--json")
    assert proc.returncode == 3 and json.loads(proc.stdout)["error"]["code"] == code
    assert proc.stderr.startswith(code) and KINDS[code].fa in proc.stderr
    assert_secret_absent(proc.stdout, proc.stderr)


def test_link_and_old_options_together_are_a_usage_error(own_tokens: OwnTokens, tmp_path: Path) -> None:
    with StubServer("0055509876") as stub:
        proc = agent_cli(own_tokens, "sign", stub_link(stub), "--session-url", stub.url, "--secret-file",
                         str(write_secret(tmp_path)))
        assert stub.steps() == []
    assert proc.returncode == 2
    assert_secret_absent(proc.stdout, proc.stderr)
    assert agent_cli(own_tokens, "sign").returncode == 2
