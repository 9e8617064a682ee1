"""SoftHSM2 tokens for development and tests: configuration, token set-up, keys made inside the token.

A :class:`SoftHSM` is a ``softhsm2.conf`` plus its token folder. Tokens are
initialised with ``softhsm2-util`` and always found by label, never by slot
number (SoftHSM renumbers slots whenever a token is added).

Key generation and certificate storage run in a child process
(``python -m devkit.softhsm``): SoftHSM reads ``SOFTHSM2_CONF`` only when
the library is first initialised, and python-pkcs11 keeps one loaded library
per path for the life of a process. Doing the token work in the caller would
pin that library to this configuration before the caller (say, a test
session) has set its own. PINs reach the child on stdin, never on its command
line, and are never logged.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

#: Where distributions put the SoftHSM2 PKCS#11 module, most common first.
MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)
KEY_BITS = 2048


class SoftHSMError(RuntimeError):
    """SoftHSM is missing or refused an operation."""


def find_module() -> str:
    """The SoftHSM2 PKCS#11 module path, or SoftHSMError naming the package to install."""
    for candidate in MODULE_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    raise SoftHSMError(
        "the SoftHSM2 PKCS#11 module was not found (looked in "
        + ", ".join(MODULE_CANDIDATES)
        + "); install the softhsm2 package"
    )


def find_util() -> str:
    """The ``softhsm2-util`` executable, or SoftHSMError."""
    util = shutil.which("softhsm2-util")
    if util is None:
        raise SoftHSMError("softhsm2-util is not on PATH; install the softhsm2 package")
    return util


@dataclass(frozen=True)
class KeySpec:
    """One key pair on one token: the token's label and PIN, the key's label and CKA_ID."""

    token_label: str
    key_label: str
    key_id: bytes
    pin: str = field(repr=False)  # never in reprs, tracebacks or logs

    def to_json(self) -> dict[str, str]:
        """What the child process receives on stdin."""
        return {
            "token_label": self.token_label,
            "key_label": self.key_label,
            "key_id": self.key_id.hex(),
            "pin": self.pin,
        }


@dataclass(frozen=True)
class SoftHSM:
    """A SoftHSM2 configuration file and the module that reads it."""

    conf_path: Path
    module: str

    @property
    def token_dir(self) -> Path:
        """Where SoftHSM keeps the tokens of this configuration."""
        return self.conf_path.parent / "tokens"

    @classmethod
    def create(cls, directory: Path, module: str | None = None) -> SoftHSM:
        """Write ``directory/softhsm2.conf`` (tokens in ``directory/tokens``) unless it is already there."""
        directory.mkdir(parents=True, exist_ok=True)
        hsm = cls(directory.resolve() / "softhsm2.conf", module or find_module())
        hsm.token_dir.mkdir(mode=0o700, exist_ok=True)
        conf = (
            "# SoftHSM2 configuration of the Pakat development environment.\n"
            f"directories.tokendir = {hsm.token_dir}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )
        if not hsm.conf_path.exists() or hsm.conf_path.read_text(encoding="utf-8") != conf:
            hsm.conf_path.write_text(conf, encoding="utf-8")
        return hsm

    def env(self) -> dict[str, str]:
        """The environment a process needs to see these tokens."""
        return {"SOFTHSM2_CONF": str(self.conf_path)}

    def _run_util(self, *args: str) -> str:
        proc = subprocess.run(
            [find_util(), *args],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            # softhsm2-util does not echo PINs, so its messages are safe to show;
            # the command line (which holds them) is deliberately left out.
            raise SoftHSMError(f"softhsm2-util {args[0]} failed: {(proc.stderr or proc.stdout).strip()}")
        return proc.stdout

    def token_labels(self) -> set[str]:
        """Labels of the initialised tokens."""
        labels = set()
        for line in self._run_util("--show-slots").splitlines():
            key, _, value = line.strip().partition(":")
            if key == "Label" and value.strip():
                labels.add(value.strip())
        return labels

    def init_token(self, label: str, pin: str, so_pin: str) -> None:
        """Initialise a fresh token in the free slot, replacing any token already called ``label``."""
        if label in self.token_labels():
            self._run_util("--delete-token", "--token", label)
        # The PINs go on softhsm2-util's command line: it has no other way to
        # take them non-interactively.  This is a local development tool only.
        self._run_util("--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin)

    def start_key_generation(self, specs: Sequence[KeySpec]) -> PendingKeys:
        """Start making an RSA-2048 signing key inside each token (or reusing the one there).

        Returns at once; the caller may do other work (the dev PKI generates
        its CA keys meanwhile) and then call :meth:`PendingKeys.result`. The
        private key is TOKEN, PRIVATE, SENSITIVE, not EXTRACTABLE and may only
        SIGN.
        """
        return PendingKeys(self._start_child("generate", [s.to_json() for s in specs]))

    def store_certificates(self, items: Sequence[tuple[KeySpec, x509.Certificate]]) -> None:
        """Put each certificate on its token as CKO_CERTIFICATE with the key's CKA_ID and label."""
        tokens = [
            {
                **spec.to_json(),
                "certificate": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii"),
            }
            for spec, cert in items
        ]
        self._start_child("store-certificates", tokens).finish()

    def _start_child(self, command: str, tokens: Sequence[Mapping[str, str]]) -> _ChildRun:
        # One child for all tokens: two SoftHSM processes writing tokens of the
        # same token folder at once fail now and then with CKR_GENERAL_ERROR.
        proc = subprocess.Popen(
            [sys.executable, "-m", "devkit.softhsm", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **self.env()},
            text=True,
        )
        assert proc.stdin is not None
        # A few kB, well inside a pipe's buffer: this does not block.
        proc.stdin.write(json.dumps({"module": self.module, "tokens": list(tokens)}))
        proc.stdin.close()
        return _ChildRun(command, proc)


@dataclass
class _ChildRun:
    command: str
    proc: subprocess.Popen[str]

    def finish(self) -> dict[str, Any]:
        """Wait for the child; its JSON answer, or SoftHSMError with its message."""
        assert self.proc.stdout is not None and self.proc.stderr is not None
        out, err = self.proc.stdout.read(), self.proc.stderr.read()
        self.proc.wait()
        try:
            answer: dict[str, Any] = json.loads(out or "{}")
        except ValueError:
            answer = {}
        if self.proc.returncode != 0 or "error" in answer:
            detail = answer.get("error") or err.strip() or f"exit status {self.proc.returncode}"
            raise SoftHSMError(f"SoftHSM {self.command} failed: {detail}")
        return answer


@dataclass
class PendingKeys:
    """Key generation running in a child process; :meth:`result` waits for it."""

    _run: _ChildRun

    def result(self) -> dict[str, rsa.RSAPublicKey]:
        """Token label -> public key of the key generated (or found) on that token."""
        answer = self._run.finish()
        return {label: _rsa_public_key(base64.b64decode(spki)) for label, spki in answer["public_keys"].items()}

    def cancel(self) -> None:
        """Stop the child (the caller failed meanwhile); the tokens are then half made."""
        self._run.proc.kill()
        self._run.proc.communicate()


def _rsa_public_key(spki_der: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_der_public_key(spki_der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise SoftHSMError("the token returned a non-RSA public key")
    return key


# -- the child process ------------------------------------------------------------
# Everything below runs inside `python -m devkit.softhsm`, where
# SOFTHSM2_CONF is already in the environment before pkcs11 loads the module.


def _child_generate(lib: Any, spec: Mapping[str, str]) -> str:
    import pkcs11
    from pkcs11 import Attribute, KeyType, MechanismFlag, ObjectClass

    token = lib.get_token(token_label=spec["token_label"])
    with token.open(rw=True, user_pin=spec["pin"]) as session:
        label, key_id = spec["key_label"], bytes.fromhex(spec["key_id"])
        try:
            public = session.get_key(ObjectClass.PUBLIC_KEY, KeyType.RSA, label=label, id=key_id)
            session.get_key(ObjectClass.PRIVATE_KEY, KeyType.RSA, label=label, id=key_id)
        except pkcs11.NoSuchKey:
            public, _private = session.generate_keypair(
                KeyType.RSA,
                KEY_BITS,
                id=key_id,
                label=label,
                store=True,
                # A seal or signing key signs and does nothing else.
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                public_template={Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.VERIFY: True},
                private_template={
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                    Attribute.DECRYPT: False,
                    Attribute.UNWRAP: False,
                },
            )
        numbers = rsa.RSAPublicNumbers(
            int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
            int.from_bytes(public[Attribute.MODULUS], "big"),
        )
        spki = numbers.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(spki).decode("ascii")


def _child_store_certificate(lib: Any, spec: Mapping[str, str]) -> None:
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.util.x509 import decode_x509_certificate

    der = base64.b64decode(spec["certificate"])
    token = lib.get_token(token_label=spec["token_label"])
    with token.open(rw=True, user_pin=spec["pin"]) as session:
        label, key_id = spec["key_label"], bytes.fromhex(spec["key_id"])
        for existing in list(
            session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: label})
        ):
            if existing[Attribute.VALUE] == der:
                return
            existing.destroy()
        attrs = decode_x509_certificate(der)
        attrs.update(
            {Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.LABEL: label, Attribute.ID: key_id}
        )
        session.create_object(attrs)


def _child_main(argv: Sequence[str]) -> int:
    import pkcs11

    if len(argv) != 1 or argv[0] not in ("generate", "store-certificates"):
        print(json.dumps({"error": "usage: python -m devkit.softhsm generate|store-certificates"}))
        return 2
    request = json.loads(sys.stdin.read())
    try:
        lib = pkcs11.lib(request["module"])
        tokens = request["tokens"]
        # One token after another: python-pkcs11 initialises the module
        # without OS locking, so it must not be called from several threads.
        if argv[0] == "generate":
            answer: dict[str, Any] = {
                "public_keys": {spec["token_label"]: _child_generate(lib, spec) for spec in tokens}
            }
        else:
            for spec in tokens:
                _child_store_certificate(lib, spec)
            answer = {}
    except pkcs11.PKCS11Error as exc:
        # The exception names the failing PKCS#11 call and code, never a PIN.
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
