"""Which certificates may sign a document, by their extended key usage (RFC 5280 §4.2.1.12).

Asked before anyone signs (the agent's certificate step, :mod:`signer.external`)
and when a signature is judged (:mod:`validation.engine`), so both give the same
answer.
"""

from __future__ import annotations

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

DOCUMENT_SIGNING_PURPOSES: dict[ObjectIdentifier, str] = {
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ObjectIdentifier("1.3.6.1.5.5.7.3.36"): "documentSigning",
    ObjectIdentifier("1.2.840.113583.1.1.5"): "Adobe Authentic Documents Trust",
    ObjectIdentifier("1.3.6.1.4.1.311.10.3.12"): "Microsoft Document Signing",
}
"""Extended key usages that allow signing a document (RFC 5280 §4.2.1.12).

anyExtendedKeyUsage places no restriction; emailProtection is the S/MIME
purpose, signing a message's content, and the usual one on personal signing
certificates (Adobe Acrobat accepts it too); id-kp-documentSigning (RFC 9336),
Adobe's Authentic Documents Trust and Microsoft's Document Signing name
document signing itself. Not on the list, on purpose: serverAuth and
clientAuth (a TLS peer, an eID's authentication certificate), codeSigning
(executable code), timeStamping and OCSPSigning (RFC 3161 and RFC 6960 reserve
those keys for timestamps and OCSP responses), smartcardLogon, IPsec. ETSI
defines no document-signing purpose of its own: EN 319 412-2 leaves EKU out of
signing certificates, which is the "no extension" case below.
"""


def signing_purpose_refusal(cert: x509.Certificate | asn1_x509.Certificate) -> str | None:
    """Why ``cert`` may not sign a document by its extendedKeyUsage, or None when it may.

    No extension: no restriction. An extension, critical or not, restricts
    the key to the purposes it lists (RFC 5280 §4.2.1.12), so one of
    :data:`DOCUMENT_SIGNING_PURPOSES` must be among them. An unreadable
    extension is a refusal. An asn1crypto certificate is read with
    asn1crypto, so one that ``cryptography`` refuses elsewhere (a UserNotice
    in a VisibleString, say) is judged on its extended key usage alone.
    """
    if isinstance(cert, asn1_x509.Certificate):
        return _asn1_purpose_refusal(cert)
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except Exception as exc:  # duplicate or malformed extensions: attacker-controlled
        return f"the certificate's extensions cannot be read ({type(exc).__name__})"
    return _purposes_refusal(list(eku))


def _asn1_purpose_refusal(cert: asn1_x509.Certificate) -> str | None:
    try:
        found = [e for e in cert["tbs_certificate"]["extensions"] or [] if e["extn_id"].dotted == "2.5.29.37"]
        if not found:
            return None
        if len(found) > 1:
            return "the certificate's extended key usage is given twice"
        purposes = [ObjectIdentifier(p.dotted) for p in found[0]["extn_value"].parsed]
    except Exception as exc:  # a malformed extension: attacker-controlled
        return f"the certificate's extended key usage cannot be read ({type(exc).__name__})"
    return _purposes_refusal(purposes)


def _purposes_refusal(purposes: list[ObjectIdentifier]) -> str | None:
    if any(p in DOCUMENT_SIGNING_PURPOSES for p in purposes):
        return None
    names = ", ".join(getattr(p, "_name", None) or p.dotted_string for p in purposes) or "nothing"
    return f"extendedKeyUsage allows only {names}, not document signing"
