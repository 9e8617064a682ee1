"""HSM failures reach the caller as stable codes, never leak the PIN, and never write a file."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pikepdf
import pkcs11.exceptions as p11e
import pytest
from cryptography import x509

from devkit.devsetup import DevEnvironment
from envelopes.sealing import SealService
from hsm_config.deployment import Deployment, Organisation, load_deployment
from pakat import errors
from pakat.errors import AccessError, KeyStoreError, PakatError
from signer.keys import TOKEN_LOOKUPS, Pkcs11Key, load_module
from signer.levels import PadesLevel


def _pdf(path: Path) -> Path:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.save(path)
    return path


def _with_seal(dev_env: DevEnvironment, **changes: object) -> Deployment:
    """The dev deployment whose demo-gov seal is altered; the key comes from a demo user's token.

    A user's token is used so that no other test in this process has logged in
    to it (PKCS#11 login state is shared by all sessions of a process).
    """
    deployment = load_deployment(dev_env.deployment_path)
    org = deployment.organisation("demo-gov")
    user = next(iter(dev_env.users.values()))
    seal = dataclasses.replace(
        org.seal,
        token_label=user.token_label,
        key_label=user.key_label,
        certificate=user.certificate_path,
        chain=user.chain,
        pin_file=user.pin_file,
    )
    seal = dataclasses.replace(seal, **changes)  # type: ignore[arg-type]
    orgs = {**deployment.organisations, "demo-gov": Organisation("demo-gov", org.name_en, org.name_fa, seal)}
    return dataclasses.replace(deployment, organisations=orgs)


def _refused(deployment: Deployment, tmp_path: Path) -> PakatError:
    out = tmp_path / "out.pdf"
    with pytest.raises(PakatError) as caught:
        SealService(deployment).seal("demo-gov", _pdf(tmp_path / "in.pdf"), out, PadesLevel.B_B)
    assert not out.exists()
    return caught.value


def test_wrong_pin_is_refused_once_and_never_shown(
    dev_env: DevEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "90817263"
    pin_file = tmp_path / "wrong.pin"
    pin_file.write_text(wrong)
    service = SealService(_with_seal(dev_env, pin_file=pin_file))
    source = _pdf(tmp_path / "in.pdf")
    for attempt in range(2):
        with pytest.raises(KeyStoreError) as caught:
            service.seal("demo-gov", source, tmp_path / "out.pdf", PadesLevel.B_B)
        assert caught.value.kind is errors.HSM_PIN_INCORRECT
        assert wrong not in str(caught.value) and wrong not in repr(caught.value.as_dict())
        if attempt == 1:
            assert "not retried" in (caught.value.detail or "")
    assert wrong not in caplog.text
    assert not (tmp_path / "out.pdf").exists()


def test_missing_pin_configuration(dev_env: DevEnvironment, tmp_path: Path) -> None:
    err = _refused(_with_seal(dev_env, pin_file=None, pin_env="PAKAT_TEST_UNSET_PIN"), tmp_path)
    assert isinstance(err, AccessError) and err.kind is errors.PIN_NOT_CONFIGURED


def test_unknown_token_and_key(dev_env: DevEnvironment, tmp_path: Path) -> None:
    assert _refused(_with_seal(dev_env, token_label="no-such-token"), tmp_path).kind is errors.HSM_TOKEN_NOT_FOUND
    assert _refused(_with_seal(dev_env, key_label="no-such-key"), tmp_path).kind is errors.HSM_KEY_NOT_FOUND


def test_unloadable_module_is_unreachable(dev_env: DevEnvironment, tmp_path: Path) -> None:
    err = _refused(_with_seal(dev_env, module=str(tmp_path / "libmissing-pkcs11.so")), tmp_path)
    assert err.kind is errors.HSM_UNREACHABLE


def test_unknown_organisation(dev_env: DevEnvironment, tmp_path: Path) -> None:
    service = SealService(load_deployment(dev_env.deployment_path))
    with pytest.raises(AccessError) as caught:
        service.seal("no-such-org", _pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf", PadesLevel.B_B)
    assert caught.value.kind is errors.UNKNOWN_ORGANISATION


def test_pin_is_never_read_from_the_deployment_file(tmp_path: Path) -> None:
    (tmp_path / "pakat.yaml").write_text(
        "version: 1\ntrust: {roots: [{path: r.pem, sha256: '00'}]}\n"
        "organisations:\n  x:\n    seal: {module: m.so, token_label: t, key_label: k,"
        " certificate: c.pem, pin: '1234'}\n"
    )
    with pytest.raises(AccessError) as caught:
        load_deployment(tmp_path / "pakat.yaml")
    assert caught.value.kind is errors.CONFIG_INVALID
    assert "1234" not in str(caught.value)


def test_unusable_input_is_refused_before_the_hsm_is_touched(dev_env: DevEnvironment, tmp_path: Path) -> None:
    """Junk costs neither an HSM login nor an OCSP round trip: the document is checked first."""
    deployment = _with_seal(dev_env, module=str(tmp_path / "libmissing-pkcs11.so"))
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"not a pdf at all")
    with pytest.raises(PakatError) as caught:
        SealService(deployment).seal("demo-gov", junk, tmp_path / "out.pdf", PadesLevel.B_LTA)
    assert caught.value.kind is errors.NOT_A_PDF


def test_a_dropped_hsm_session_is_reopened(dev_env: DevEnvironment, tmp_path: Path) -> None:
    """When the HSM drops the logged-in session, the next signature logs in again and succeeds."""
    service = SealService(load_deployment(dev_env.deployment_path))
    source = _pdf(tmp_path / "in.pdf")
    service.seal("demo-co", source, tmp_path / "one.pdf", PadesLevel.B_B)
    key = service.signer_for("demo-co").key
    dropped = key._session  # type: ignore[attr-defined]
    dropped.close()  # as if the HSM had closed it: our handle is now invalid
    service.seal("demo-co", source, tmp_path / "two.pdf", PadesLevel.B_B)
    assert key._session is not dropped  # type: ignore[attr-defined]
    assert (tmp_path / "two.pdf").stat().st_size > source.stat().st_size
    service.close()


class FlickeringLibrary:
    """The PKCS#11 library as a token missing for a moment makes it look: absent from the first slot lists.

    Seen with two workers logging in to one SoftHSM token at once (a batch's items failed with
    HSM_TOKEN_NOT_FOUND), but SoftHSM cannot be made to do it on cue, so this stands in front of the
    real library for the lookup alone; the token it then answers with is the real one.
    """

    def __init__(self, real: Any, misses: int) -> None:
        self.real, self.misses = real, misses

    def get_token(self, token_label: str) -> Any:
        if self.misses:
            self.misses -= 1
            raise p11e.NoSuchToken()
        return self.real.get_token(token_label=token_label)


def test_a_token_missing_for_a_moment_is_looked_for_again(dev_env: DevEnvironment) -> None:
    deployment = load_deployment(dev_env.deployment_path)
    seal = deployment.organisation("demo-co").seal
    key = Pkcs11Key(module=dev_env.softhsm_module, token_label=seal.token_label, key_label=seal.key_label,
                    certificate=x509.load_pem_x509_certificate(seal.certificate.read_bytes()), pin=lambda: "",
                    module_env=dev_env.softhsm_env())
    real = load_module(dev_env.softhsm_module, dev_env.softhsm_env())
    assert key._token(FlickeringLibrary(real, TOKEN_LOOKUPS - 1)).label == seal.token_label
    with pytest.raises(KeyStoreError) as caught:
        key._token(FlickeringLibrary(real, TOKEN_LOOKUPS))  # absent every time: a wrong label, say so
    assert caught.value.kind is errors.HSM_TOKEN_NOT_FOUND and seal.token_label in str(caught.value.detail)


# In a process of its own: SoftHSM's view of the token is made stale there (its folder moved away while the
# process looks, then put back, as when another process rewrites the token's files mid-read), which would
# break the tests' own process for that token.
STALE_VIEW = """
import contextlib, os, sys
from pathlib import Path
from cryptography import x509
import pkcs11
from pkcs11 import KeyType
from devkit.softhsm import SoftHSM, find_module
from signer.keys import Pkcs11Key, load_module

folder, certificate = Path(sys.argv[1]), Path(sys.argv[2])
hsm = SoftHSM.create(folder)
hsm.init_token("stale", "123456", "12345678")
key = Pkcs11Key(module=find_module(), token_label="stale", key_label="k", pin=lambda: "123456",
                certificate=x509.load_pem_x509_certificate(certificate.read_bytes()), module_env=hsm.env())
lib = load_module(find_module(), hsm.env())
with lib.get_token(token_label="stale").open(user_pin="123456", rw=True) as session:
    session.generate_keypair(KeyType.RSA, 2048, store=True, label="k")
(token,) = hsm.token_dir.iterdir()
token.rename(token.with_name("away"))
with contextlib.suppress(pkcs11.exceptions.PKCS11Error):
    lib.get_token(token_label="stale")  # looked for while gone: this is what makes SoftHSM's view stale
token.with_name("away").rename(token)
try:
    lib.get_token(token_label="stale")
    print("the view is not stale")
except pkcs11.exceptions.PKCS11Error as exc:
    print("stale:", type(exc).__name__)
key._login()
print("logged in:", key._session is not None)
"""


def test_a_stale_view_of_the_token_is_mended_by_initialising_the_module_again(
    dev_env: DevEnvironment, tmp_path: Path
) -> None:
    user = next(iter(dev_env.users.values()))
    script = [sys.executable, "-c", STALE_VIEW, str(tmp_path / "softhsm"), str(user.certificate_path)]
    done = subprocess.run(script,
                          env={k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["stale: GeneralError", "logged in: True"], done.stdout
