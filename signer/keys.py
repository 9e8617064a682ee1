"""Key sources: something that signs a digest with the private key of a certificate.

The seal key lives in an HSM reached through PKCS#11; the user's key lives on
a token behind an agent (later). Both sign a digest computed here: hashing on
the host keeps one code path for RSA and ECDSA (Debian's SoftHSM has no
CKM_ECDSA_SHA256) and keeps large data off slow token links.

Every signature is verified against the certificate before anyone embeds it,
so a key that does not match its certificate, or a token that misbehaves,
never produces a broken signed PDF.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import pkcs11
import pkcs11.exceptions as p11e
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from pkcs11 import Attribute, Mechanism, ObjectClass

from pakat import errors
from pakat.errors import CertificateRefused, KeyStoreError
from signer.cms import DigestAlgorithm

T = TypeVar("T")
log = logging.getLogger(__name__)
#: Slot-list lookups of a token by its label, and the pause between them, before HSM_TOKEN_NOT_FOUND.
TOKEN_LOOKUPS = 5
TOKEN_LOOKUP_PAUSE = 0.25


class SigningKey(Protocol):
    """A private key bound to a certificate that signs digests."""

    certificate: x509.Certificate

    def sign_digest(self, digest: bytes, algorithm: DigestAlgorithm) -> bytes:
        """A PKCS#1 v1.5 RSA signature or a DER ECDSA signature over ``digest``."""
        ...


def _hash_for(algorithm: DigestAlgorithm) -> hashes.HashAlgorithm:
    return {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[algorithm.name]


def verify_digest_signature(
    certificate: x509.Certificate, digest: bytes, signature: bytes, algorithm: DigestAlgorithm
) -> bool:
    """Whether ``signature`` over ``digest`` verifies with the certificate's public key."""
    key = certificate.public_key()
    prehashed = utils.Prehashed(_hash_for(algorithm))
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), prehashed)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def sign_digest_on_token(key: Any, kind: str, digest: bytes, algorithm: DigestAlgorithm) -> bytes:
    """A PKCS#1 v1.5 (``kind`` "rsa") or DER ECDSA ("ecdsa") signature of ``digest`` by a PKCS#11 private key.

    The digest is computed on the host (see the module's docstring); the caller holds the module's lock.
    """
    if kind == "rsa":
        return bytes(key.sign(algorithm.digest_info_prefix + digest, mechanism=Mechanism.RSA_PKCS))
    raw = key.sign(digest, mechanism=Mechanism.ECDSA)
    half = len(raw) // 2
    return utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


# One library object per module path per process, and it remembers the
# environment it was initialised with (SoftHSM reads SOFTHSM2_CONF only then).
_LIBRARIES: dict[str, tuple[Any, dict[str, str]]] = {}
_LIBRARIES_LOCK = threading.Lock()
# python-pkcs11 initialises modules without OS locking, so every call into one
# module, whichever key or session it is for, is serialised per process.
_MODULE_LOCKS: dict[str, threading.Lock] = {}


def module_lock(module: str) -> threading.Lock:
    """The lock every call into ``module`` takes in this process (the agent shares it)."""
    with _LIBRARIES_LOCK:
        return _MODULE_LOCKS.setdefault(module, threading.Lock())


# Errors meaning the session is gone but a fresh login may well work.
_SESSION_LOST = (
    p11e.SessionHandleInvalid,
    p11e.SessionClosed,
    p11e.DeviceRemoved,
    p11e.TokenNotPresent,
    p11e.TokenNotRecognised,
    p11e.DeviceError,
    p11e.GeneralError,
    p11e.UserNotLoggedIn,
)


def load_module(module: str, env: Mapping[str, str]) -> Any:
    """The one python-pkcs11 library object for ``module`` in this process; KeyStoreError if unloadable."""
    with _LIBRARIES_LOCK:
        loaded = _LIBRARIES.get(module)
        if loaded is not None:
            lib, loaded_env = loaded
            if any(loaded_env.get(k) != v for k, v in env.items()):
                raise KeyStoreError(
                    errors.HSM_UNREACHABLE,
                    f"{os.path.basename(module)} is already initialised with another environment in this process",
                )
            return lib
        os.environ.update(env)
        try:
            lib = pkcs11.lib(module)
        except (RuntimeError, OSError, p11e.PKCS11Error) as exc:
            raise KeyStoreError(errors.HSM_UNREACHABLE, f"cannot load {module}: {type(exc).__name__}") from None
        _LIBRARIES[module] = (lib, dict(env))
        return lib


def reinitialize_module(module: str, env: Mapping[str, str]) -> Any | None:
    """Finalise and initialise ``module`` again (the caller holds :func:`module_lock`): its library object.

    None when it was done less than :data:`REINITIALISE_SECONDS` ago: a token that is really absent (a
    wrong label) must not end every other key's session on each request.
    """
    lib = load_module(module, env)
    with _LIBRARIES_LOCK:
        now = time.monotonic()
        if now - _REINITIALISED_AT.get(module, -REINITIALISE_SECONDS) < REINITIALISE_SECONDS:
            return None
        _REINITIALISED_AT[module] = now
    try:
        lib.reinitialize()
    except p11e.PKCS11Error as exc:
        detail = f"{os.path.basename(module)} did not initialise again: {type(exc).__name__}"
        raise KeyStoreError(errors.HSM_UNREACHABLE, detail) from None
    return lib


REINITIALISE_SECONDS = 30.0
_REINITIALISED_AT: dict[str, float] = {}


# Login failures after which this process's view of the token may be stale rather than the token wrong.
_STALE_VIEW = (errors.HSM_TOKEN_NOT_FOUND, errors.HSM_UNREACHABLE)


class Pkcs11Key:
    """A private key in an HSM or token, found by token label and key label.

    One logged-in session is kept for the life of the process (PKCS#11 allows
    one login per application and token) and shared by threads under the
    module's lock.
    When the HSM drops the session, the next signature logs in again once.
    """

    def __init__(
        self,
        *,
        module: str,
        token_label: str,
        key_label: str,
        certificate: x509.Certificate,
        pin: Callable[[], str],
        module_env: Mapping[str, str] | None = None,
    ) -> None:
        self.module = module
        self.token_label = token_label
        self.key_label = key_label
        self.certificate = certificate
        self._pin = pin  # a callable, so the PIN is read when needed and not kept in this object
        self._env = dict(module_env or {})
        self._session: Any = None
        self._key: Any = None
        self._lock = module_lock(module)
        # Digest of a PIN the token refused: trying it again on every request
        # would burn the token's retry counter and lock it.
        self._refused_pin: bytes | None = None
        public = certificate.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            self._kind = "rsa"
        elif isinstance(public, ec.EllipticCurvePublicKey):
            self._kind = "ecdsa"
        else:
            raise CertificateRefused(errors.SEAL_CERT_UNUSABLE, "only RSA and ECDSA keys are supported")

    def open(self) -> None:
        """Log in now (normally done on first use); raises KeyStoreError with a stable code."""
        with self._lock:
            if self._session is None:
                self._login()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def probe(self) -> None:
        """Ask the token something cheap over the kept session (logging in first if there is none).

        A dropped session is logged in again once, as for a signature; a token
        that is gone, a refused PIN or a missing key raise KeyStoreError. Unlike
        a signature, a probe never initialises the module afresh: that would end
        every other key's session, on every probe of a token that is really gone.
        """
        with self._lock:
            for attempt in (0, 1):
                if self._session is None:
                    self._login_once(load_module(self.module, self._env))
                try:
                    self._key[Attribute.LABEL]
                    return
                except _SESSION_LOST as exc:
                    self._drop()
                    if attempt == 1:
                        raise KeyStoreError(errors.HSM_UNREACHABLE, type(exc).__name__) from None
                except p11e.PKCS11Error as exc:
                    raise KeyStoreError(errors.HSM_UNREACHABLE, type(exc).__name__) from None

    def sign_digest(self, digest: bytes, algorithm: DigestAlgorithm) -> bytes:
        if len(digest) != algorithm.size:
            raise ValueError("digest length does not match the algorithm")
        signature = self._with_session(lambda key: sign_digest_on_token(key, self._kind, digest, algorithm))
        if not verify_digest_signature(self.certificate, digest, signature, algorithm):
            raise CertificateRefused(errors.SEAL_KEY_MISMATCH, f"token {self.token_label}, key {self.key_label}")
        return bytes(signature)

    def _with_session(self, operation: Callable[[Any], T]) -> T:
        with self._lock:
            for attempt in (0, 1):
                if self._session is None:
                    self._login()
                try:
                    return operation(self._key)
                except _SESSION_LOST as exc:
                    self._drop()
                    if attempt == 1:
                        raise KeyStoreError(errors.HSM_SIGN_FAILED, type(exc).__name__) from None
                except p11e.PKCS11Error as exc:
                    raise KeyStoreError(errors.HSM_SIGN_FAILED, type(exc).__name__) from None
        raise AssertionError("unreachable")

    def _login(self) -> None:
        try:
            self._login_once(load_module(self.module, self._env))
        except KeyStoreError as exc:
            if exc.kind not in _STALE_VIEW:
                raise
            # This process's view of the token may be stale: SoftHSM keeps what it read while another
            # process rewrote the token's files (two workers logging in at once), a device re-plugged
            # keeps old handles. The module is initialised afresh, once; every session of it in this
            # process ends with it, and their keys log in again on their next signature.
            fresh = reinitialize_module(self.module, self._env)
            if fresh is None:
                raise
            log.warning("HSM login to %s failed (%s); the PKCS#11 module was initialised afresh", self.token_label,
                        exc.code)
            self._login_once(fresh)

    def _login_once(self, lib: Any) -> None:
        try:
            token = self._token(lib)
        except p11e.MultipleTokensReturned:
            raise KeyStoreError(errors.HSM_TOKEN_NOT_FOUND, f"{self.token_label} is not unique") from None
        except p11e.PKCS11Error as exc:
            raise KeyStoreError(errors.HSM_UNREACHABLE, type(exc).__name__) from None
        pin = self._pin()
        pin_digest = hashlib.sha256(pin.encode("utf-8")).digest()
        if pin_digest == self._refused_pin:
            raise KeyStoreError(
                errors.HSM_PIN_INCORRECT, f"{self.token_label} (not retried until the PIN changes)"
            )
        try:
            session = token.open(user_pin=pin)
        except p11e.UserAlreadyLoggedIn:
            # Login state belongs to the application, not the session: another
            # session of this process already logged in, so ours is too.
            session = token.open()
        except (p11e.PinIncorrect, p11e.PinLenRange, p11e.PinInvalid):
            self._refused_pin = pin_digest
            raise KeyStoreError(errors.HSM_PIN_INCORRECT, self.token_label) from None
        except p11e.PinLocked:
            raise KeyStoreError(errors.HSM_PIN_LOCKED, self.token_label) from None
        except p11e.PKCS11Error as exc:
            raise KeyStoreError(errors.HSM_UNREACHABLE, type(exc).__name__) from None
        try:
            key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=self.key_label)
        except (p11e.NoSuchKey, p11e.MultipleObjectsReturned):
            session.close()
            raise KeyStoreError(errors.HSM_KEY_NOT_FOUND, f"{self.token_label}/{self.key_label}") from None
        self._session, self._key = session, key

    def _token(self, lib: Any) -> Any:
        """The token by its label, looked for again a few times before it counts as absent.

        A token can be missing from the slot list for a moment: a network HSM
        refreshing its slots, a USB token re-enumerating, SoftHSM rewriting its
        token file while another process logs in. A batch must not fail its items
        for that; a wrong label still fails within about a second.
        """
        for attempt in range(TOKEN_LOOKUPS):
            try:
                return lib.get_token(token_label=self.token_label)
            except p11e.NoSuchToken:
                if attempt == TOKEN_LOOKUPS - 1:
                    raise KeyStoreError(errors.HSM_TOKEN_NOT_FOUND, self.token_label) from None
                time.sleep(TOKEN_LOOKUP_PAUSE)
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        session, self._session, self._key = self._session, None, None
        if session is not None:
            # The session may already be gone with the HSM; there is nothing left to release.
            with contextlib.suppress(p11e.PKCS11Error):
                session.close()
