"""The user's token through PKCS#11: its signing certificates, a login, and a signature over a digest.

The module is loaded the way the server loads its HSM (:func:`signer.keys.load_module`:
once per process, every call under the module's lock). Certificates are read
without a PIN; the PIN is used for one login whose session is kept until
:meth:`TokenSession.close` (a DOCUMENT_CHANGED round must not ask for it again).

Every PKCS#11 failure becomes a :class:`PakatError` with a stable agent code;
the PIN is never part of an error, a log record or an object's repr.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pkcs11.exceptions as p11e
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding
from pkcs11 import Attribute, Mechanism, ObjectClass, TokenFlag

from pakat import errors
from pakat.errors import KeyStoreError, PakatError
from signer.cms import DigestAlgorithm
from signer.keys import load_module, module_lock, verify_digest_signature

# PINs tokens leave the factory with (and their obvious cousins): a token still
# using one is protected by nothing but its possession.
FACTORY_PINS = frozenset({
    "0000", "1111", "1234", "12345", "123456", "1234567", "12345678", "123456789", "1234567890",
    "111111", "000000", "11111111", "00000000", "87654321", "654321", "4321", "9999", "99999999",
})


# The token was pulled out (or its session went with it) while in use.
# A token pulled out shows as any of these, the key's handle included (the key went with the token).
_TOKEN_GONE = (p11e.TokenNotPresent, p11e.DeviceRemoved, p11e.SessionClosed, p11e.SessionHandleInvalid,
               p11e.ObjectHandleInvalid)


def is_factory_pin(pin: str) -> bool:
    """Whether ``pin`` is a well-known default that tokens are shipped with."""
    return pin in FACTORY_PINS


@dataclass(frozen=True)
class TokenCertificate:
    """A certificate on the token whose key pair shares its CKA_ID."""

    key_id: bytes
    label: str
    certificate: x509.Certificate
    der: bytes = field(repr=False)

    @property
    def key_kind(self) -> str:
        """``rsa`` or ``ecdsa`` (anything else is refused when signing)."""
        key = self.certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            return "rsa"
        if isinstance(key, ec.EllipticCurvePublicKey):
            return "ecdsa"
        return "unsupported"

    def matches(self, wanted: str) -> bool:
        """``--certificate``: the hex CKA_ID (any case) or the exact label."""
        return wanted.lower() == self.key_id.hex() or wanted == self.label


@dataclass(frozen=True)
class TokenContents:
    """What the token shows without a PIN: its signing certificates and every certificate on it."""

    label: str
    signing: tuple[TokenCertificate, ...]
    all_certificates: tuple[x509.Certificate, ...]

    def issuers_of(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """The token's certificates that issued ``cert`` and its issuers, leaf side first, roots left out."""
        chain: list[x509.Certificate] = []
        current = cert
        while len(chain) < 8:  # a bound against issuer loops on a strange token
            issuer = next((c for c in self.all_certificates if c != current and _issued(c, current)), None)
            if issuer is None or issuer in chain or issuer.subject == issuer.issuer:
                break  # the server pins its roots: a self-signed one adds nothing
            chain.append(issuer)
            current = issuer
        return chain


def _issued(issuer: x509.Certificate, cert: x509.Certificate) -> bool:
    if issuer.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):  # not its issuer, or a key type it cannot check
        return False
    return True


def _library(module: str) -> Any:
    try:
        # The agent's module reads the process environment as it is: record all of it, so that
        # a Pkcs11Key asking later for (say) the same SOFTHSM2_CONF in this process is satisfied.
        return load_module(module, dict(os.environ))
    except KeyStoreError:
        try:
            # Already loaded (by a Pkcs11Key, with the few variables it named): use it as it is.
            return load_module(module, {})
        except KeyStoreError as exc:
            raise PakatError(errors.TOKEN_NOT_PRESENT, f"PKCS#11 module: {exc.detail}") from None


def token_labels(module: str) -> list[str]:
    """The labels of the tokens present in ``module``'s slots, in slot order; TOKEN_NOT_PRESENT if unusable."""
    lib = _library(module)
    with module_lock(module):
        try:
            return [str(slot.get_token().label) for slot in lib.get_slots(token_present=True)]
        except p11e.PKCS11Error as exc:
            raise PakatError(errors.TOKEN_NOT_PRESENT, f"{module}: {type(exc).__name__}") from None


def _token(module: str, token_label: str) -> Any:
    lib = _library(module)
    with module_lock(module):
        try:
            return lib.get_token(token_label=token_label)
        except p11e.NoSuchToken:
            raise PakatError(errors.TOKEN_NOT_PRESENT, f"no token labelled {token_label!r}") from None
        except p11e.MultipleTokensReturned:
            raise PakatError(errors.TOKEN_NOT_PRESENT, f"several tokens are labelled {token_label!r}") from None
        except p11e.PKCS11Error as exc:
            raise PakatError(errors.TOKEN_NOT_PRESENT, f"{token_label}: {type(exc).__name__}") from None


def read_token(module: str, token_label: str) -> TokenContents:
    """The token's certificates, read without logging in.

    A certificate counts as a signing certificate when a key object with its
    CKA_ID is visible: the private key, or (most tokens keep private keys
    private until login) the public half of the pair. Raises TOKEN_NOT_PRESENT.
    """
    token = _token(module, token_label)
    with module_lock(module):
        try:
            session = token.open()
        except p11e.PKCS11Error as exc:
            raise PakatError(errors.TOKEN_NOT_PRESENT, f"{token_label}: {type(exc).__name__}") from None
        try:
            certs = [
                (bytes(obj[Attribute.ID] or b""), str(obj[Attribute.LABEL] or ""), bytes(obj[Attribute.VALUE]))
                for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})
            ]
            key_ids = {
                bytes(obj[Attribute.ID] or b"")
                for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
                for obj in session.get_objects({Attribute.CLASS: cls})
            }
        except p11e.PKCS11Error as exc:
            raise PakatError(errors.TOKEN_NOT_PRESENT, f"{token_label}: {type(exc).__name__}") from None
        finally:
            with contextlib.suppress(p11e.PKCS11Error):
                session.close()
    signing: list[TokenCertificate] = []
    every: list[x509.Certificate] = []
    for key_id, label, der in certs:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue  # an unreadable object is nothing anyone could sign with
        every.append(cert)
        if key_id and key_id in key_ids and not _is_ca(cert):
            signing.append(TokenCertificate(key_id, label, cert, der))
    signing.sort(key=lambda c: (c.label, c.key_id))
    return TokenContents(token_label, tuple(signing), tuple(every))


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def login_error(exc: p11e.PKCS11Error, flags: TokenFlag | None, token_label: str) -> PakatError:
    """What a failed C_Login means to the user, helped by the token's flags read after it.

    CKF_USER_PIN_LOCKED or CKR_PIN_LOCKED: PIN_LOCKED. A wrong PIN is WRONG_PIN,
    with the tries left when the token tells (final try, count low).
    """
    flags = flags if flags is not None else TokenFlag(0)
    if isinstance(exc, p11e.PinLocked) or flags & TokenFlag.USER_PIN_LOCKED:
        return PakatError(errors.PIN_LOCKED, token_label)
    if isinstance(exc, p11e.PinIncorrect | p11e.PinLenRange | p11e.PinInvalid):
        if flags & TokenFlag.USER_PIN_FINAL_TRY:
            left = "1 try left before the PIN locks / فقط یک بار دیگر می‌توانید امتحان کنید"
        elif flags & TokenFlag.USER_PIN_COUNT_LOW:
            left = "few tries left before the PIN locks / چند بار بیشتر نمی‌توانید امتحان کنید"
        else:
            return PakatError(errors.WRONG_PIN, token_label)
        return PakatError(errors.WRONG_PIN, f"{token_label}: {left}")
    if isinstance(exc, p11e.PinExpired):
        return PakatError(errors.WRONG_PIN, f"{token_label}: the PIN has expired and must be changed first")
    if isinstance(exc, p11e.TokenNotPresent | p11e.DeviceRemoved | p11e.TokenNotRecognised):
        return PakatError(errors.TOKEN_NOT_PRESENT, f"{token_label}: {type(exc).__name__}")
    return PakatError(errors.INTERNAL, f"token login failed: {type(exc).__name__}")


PIN_FINAL_TRY_WARNING = (
    "هشدار: فقط یک بار دیگر می‌توانید رمز را امتحان کنید؛ پس از آن رمز قفل می‌شود."
    " / Warning: one try left before the PIN locks."
)
PIN_COUNT_LOW_WARNING = (
    "هشدار: رمز پیش‌تر نادرست وارد شده و چند بار بیشتر نمی‌توانید امتحان کنید."
    " / Warning: a wrong PIN was entered before; only a few tries are left before the PIN locks."
)


def ensure_not_locked(module: str, token_label: str) -> str | None:
    """PIN_LOCKED now, before anyone is asked for a PIN that cannot work.

    Returns a warning to show with the PIN question when the token says few
    tries are left (CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_COUNT_LOW), else None.
    """
    flags = _token(module, token_label).flags
    if flags & TokenFlag.USER_PIN_LOCKED:
        raise PakatError(errors.PIN_LOCKED, token_label)
    if flags & TokenFlag.USER_PIN_FINAL_TRY:
        return PIN_FINAL_TRY_WARNING
    if flags & TokenFlag.USER_PIN_COUNT_LOW:
        return PIN_COUNT_LOW_WARNING
    return None


class TokenSession:
    """A logged-in session on the token, signing digests with one certificate's private key."""

    def __init__(self, module: str, token_label: str, chosen: TokenCertificate, session: Any, key: Any) -> None:
        self.module = module
        self.token_label = token_label
        self.chosen = chosen
        self._session = session
        self._key = key

    @classmethod
    def login(cls, module: str, token_label: str, chosen: TokenCertificate, pin: str) -> TokenSession:
        """Log in with ``pin`` and find the private key of ``chosen`` (NO_CERTIFICATE if it is not there)."""
        token = _token(module, token_label)
        with module_lock(module):
            try:
                session = token.open(user_pin=pin)
            except p11e.UserAlreadyLoggedIn:
                # Login belongs to the process, not the session: another session here is logged in.
                session = token.open()
            except p11e.PKCS11Error as exc:
                try:
                    flags: TokenFlag | None = token.slot.get_token().flags  # fresh C_GetTokenInfo
                except p11e.PKCS11Error:
                    flags = None
                raise login_error(exc, flags, token_label) from None
            try:
                keys = list(
                    session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: chosen.key_id})
                )
            except p11e.PKCS11Error as exc:
                _close(session)
                raise PakatError(errors.TOKEN_NOT_PRESENT, f"{token_label}: {type(exc).__name__}") from None
        if len(keys) != 1:
            _close(session)
            raise PakatError(
                errors.NO_CERTIFICATE,
                f"{len(keys)} private keys with CKA_ID {chosen.key_id.hex()} on {token_label} (one is needed)",
            )
        return cls(module, token_label, chosen, session, keys[0])

    def sign_digest(self, digest: bytes, algorithm: DigestAlgorithm) -> bytes:
        """PKCS#1 v1.5 (RSA) or DER ECDSA-Sig-Value over ``digest``, checked against the certificate."""
        if len(digest) != algorithm.size:
            raise ValueError("digest length does not match the algorithm")
        kind = self.chosen.key_kind
        with module_lock(self.module):
            try:
                if kind == "rsa":
                    # The token pads; the DigestInfo names the hash, as PKCS#1 v1.5 requires.
                    signature = bytes(
                        self._key.sign(algorithm.digest_info_prefix + digest, mechanism=Mechanism.RSA_PKCS)
                    )
                elif kind == "ecdsa":
                    raw = bytes(self._key.sign(digest, mechanism=Mechanism.ECDSA))
                    half = len(raw) // 2
                    signature = utils.encode_dss_signature(
                        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
                    )
                else:
                    raise PakatError(errors.NO_CERTIFICATE, "only RSA and EC keys can sign")
            except _TOKEN_GONE as exc:
                raise PakatError(errors.TOKEN_NOT_PRESENT, f"{self.token_label}: {type(exc).__name__}") from None
            except p11e.PKCS11Error as exc:
                raise PakatError(errors.INTERNAL, f"the token did not sign: {type(exc).__name__}") from None
        # A key that does not match its certificate would only earn SIGNATURE_INVALID later.
        if not verify_digest_signature(self.chosen.certificate, digest, signature, algorithm):
            raise PakatError(
                errors.NO_CERTIFICATE,
                f"the key with CKA_ID {self.chosen.key_id.hex()} does not match its certificate",
            )
        return signature

    def close(self) -> None:
        """Log out and close the session (idempotent)."""
        session, self._session, self._key = self._session, None, None
        if session is not None:
            with module_lock(self.module):
                _close(session)

    def __enter__(self) -> TokenSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _close(session: Any) -> None:
    # A token pulled out mid-way leaves nothing to release.
    with contextlib.suppress(p11e.PKCS11Error):
        session.close()


@contextlib.contextmanager
def logged_in(module: str, token_label: str, chosen: TokenCertificate, pin: str) -> Iterator[TokenSession]:
    """:meth:`TokenSession.login` as a context manager that always logs out."""
    session = TokenSession.login(module, token_label, chosen, pin)
    try:
        yield session
    finally:
        session.close()


def certificate_der(cert: x509.Certificate) -> bytes:
    """DER of a certificate."""
    return cert.public_bytes(Encoding.DER)
