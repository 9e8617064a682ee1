"""The validation report as ETSI TS 119 102-2 XML (``pakat validate --format xml``, ``Accept: application/xml``).

Built from OUR :class:`~validation.model.DocumentReport` with the xsdata bindings
pyHanko ships (``pyhanko.generated.etsi.ts_11910202``): the verdicts are ours,
only the shape is ETSI's. One ``SignatureValidationReport`` per signature:

* ``SignatureIdentifier``: the field name as ``DAIdentifier``; with the PDF at
  hand also the digest of the signed attributes (the DTBSR) and the signature value;
* ``ValidationTimeInfo``: validation time and the best signature time as POE;
* ``SignersDocument``: the digest of the signed byte ranges (with the PDF only);
* ``SignatureAttributes``: claimed signing time, timestamps, sub-filter, byte range
  (and, with the PDF, message digest, reason, location, name, contact, filter);
* ``SignerInformation``: a reference to the signer certificate's validation object;
* ``SignatureValidationProcess``: Basic, LTVM or LTA by the PAdES level reached;
* ``SignatureValidationStatus``: main and sub-indication as ETSI URNs, with the
  certificate chain, revocation and Pakat's own data (reason, findings) attached.

``SignatureValidationObjects`` lists the certificates (DER when the PDF carries
them, else their SHA-256) and, with the PDF, the timestamp tokens with the POE
they provide. Validation object ids follow pyHanko's convention
(``vo-certificate-<sha256 of the DER>``), so reports from both read alike.

Pakat's additions travel in ``AdditionalValidationReportData/ReportData`` with
``Type`` URNs under ``urn:pakat:report:``: ``reason:fa``, ``reason:en``,
``pades-level``, ``modifications``, ``coverage``, and ``finding:<severity>:<CODE>``
(value: the English text).

The model has no raw signature material, so that comes from re-reading the PDF
(``pdf=``). Reading it is best effort: the verdict was reached already, and a
hostile file that trips the reader only makes the XML poorer, never fails it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TypeVar

from asn1crypto import cms
from pyhanko.generated.etsi import ts_11910202 as vr
from pyhanko.generated.etsi import xades
from pyhanko.generated.w3c import xmldsig_core as ds
from xsdata.models.datatype import XmlDateTime

from pakat import errors
from pakat.errors import InputError
from validation.model import (
    CertificateInfo,
    DocumentReport,
    Indication,
    SignatureReport,
    SubIndication,
    TimestampReport,
)

log = logging.getLogger(__name__)

NAMESPACES = {
    "vr": "http://uri.etsi.org/19102/v1.2.1#",
    "XAdES": "http://uri.etsi.org/01903/v1.3.2#",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xs": "http://www.w3.org/2001/XMLSchema",
}

MAIN_INDICATION = {
    Indication.TOTAL_PASSED: "urn:etsi:019102:mainindication:total-passed",
    Indication.TOTAL_FAILED: "urn:etsi:019102:mainindication:total-failed",
    Indication.INDETERMINATE: "urn:etsi:019102:mainindication:indeterminate",
}
SUB_INDICATION_PREFIX = "urn:etsi:019102:subindication:"
PROCESS_PREFIX = "urn:etsi:019102:validationprocess:"
# EN 319 102-1: B-B needs only the basic process; a timestamp (B-T) or embedded
# validation material (B-LT) is judged by the process for signatures with time and
# long-term validation material; document timestamps (B-LTA) by the archival one.
PROCESS_BY_LEVEL = {"B-B": "Basic", "B-T": "LTVM", "B-LT": "LTVM", "B-LTA": "LTA"}
POE_VALIDATION = "urn:etsi:019102:poetype:validation"
VO_CERTIFICATE = "urn:etsi:019102:validationObject:certificate"
VO_TIMESTAMP = "urn:etsi:019102:validationObject:timestamp"
PAKAT_DATA = "urn:pakat:report:"

DIGEST_URIS = {
    "sha1": "http://www.w3.org/2000/09/xmldsig#sha1",
    "sha224": "http://www.w3.org/2001/04/xmldsig-more#sha224",
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha384": "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "sha512": "http://www.w3.org/2001/04/xmlenc#sha512",
    "sha3_256": "http://www.w3.org/2007/05/xmldsig-more#sha3-256",
    "sha3_384": "http://www.w3.org/2007/05/xmldsig-more#sha3-384",
    "sha3_512": "http://www.w3.org/2007/05/xmldsig-more#sha3-512",
}


# -- what the PDF adds to the model ----------------------------------------------


@dataclass(frozen=True)
class TokenEvidence:
    """One RFC 3161 token as found in the file."""

    kind: str  # "signature", "content", "document", as TimestampReport.kind
    time: datetime
    der: bytes  # the token's ContentInfo
    vo_id: str  # pyHanko's id: sha256 of the token's signature value


@dataclass
class SignatureEvidence:
    """Raw material of one signature field that the report model does not keep."""

    md_algorithm: str | None = None
    dtbsr_digest: bytes | None = None  # digest of the DER signed attributes
    signature_value: bytes | None = None
    signers_document_digest: bytes | None = None  # digest of the signed byte ranges
    message_digest: bytes | None = None
    revision: int | None = None
    filter: str | None = None
    reason: str | None = None
    location: str | None = None
    name: str | None = None
    contact_info: str | None = None
    tokens: list[TokenEvidence] = field(default_factory=list)


@dataclass
class PdfEvidence:
    """Everything read back from the PDF: per field name, and the certificates it carries by SHA-256."""

    signatures: dict[str, SignatureEvidence] = field(default_factory=dict)
    certificates: dict[str, bytes] = field(default_factory=dict)


def read_evidence(pdf: bytes | os.PathLike[str] | IO[bytes]) -> PdfEvidence:
    """Read signature values, digests, tokens and certificates from a signed PDF (best effort)."""
    evidence = PdfEvidence()
    try:
        if isinstance(pdf, bytes):
            _read_into(evidence, io.BytesIO(pdf))
        elif isinstance(pdf, os.PathLike):
            with Path(pdf).open("rb") as stream:
                _read_into(evidence, stream)
        else:
            _read_into(evidence, pdf)
    except Exception:  # see the module docstring: a hostile file only loses detail
        log.warning("could not read signature details back from the PDF for the ETSI report", exc_info=True)
    return evidence


def _read_into(evidence: PdfEvidence, stream: IO[bytes]) -> None:
    # pyHanko is imported here: the JSON and text reports must not pay for it.
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

    reader = PdfFileReader(stream, strict=False)
    try:
        _collect_dss_certificates(reader, evidence.certificates)
    except Exception:  # a broken DSS costs the certificates' bytes, not the signatures
        log.warning("the DSS could not be read for the ETSI report", exc_info=True)
    for name, _value, field_ref in enumerate_sig_fields(reader, filled_status=True):
        try:
            embedded = EmbeddedPdfSignature(reader, field_ref, name)
            evidence.signatures[str(name)] = _signature_evidence(embedded, evidence.certificates)
        except Exception:  # one broken field must not hide the others
            log.warning("signature field %r could not be read for the ETSI report", name, exc_info=True)


def _collect_dss_certificates(reader: object, into: dict[str, bytes]) -> None:
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko.sign.validation.errors import NoDSSFoundError

    try:
        dss = DocumentSecurityStore.read_dss(reader)  # type: ignore[arg-type]
    except NoDSSFoundError:
        return
    for cert in dss.load_certs():
        der = cert.dump()
        into[hashlib.sha256(der).hexdigest()] = der


def _signature_evidence(embedded: object, certificates: dict[str, bytes]) -> SignatureEvidence:
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

    assert isinstance(embedded, EmbeddedPdfSignature)
    signer_info: cms.SignerInfo = embedded.signer_info
    found = SignatureEvidence(md_algorithm=embedded.md_algorithm, revision=embedded.signed_revision)
    found.signature_value = signer_info["signature"].native
    for cert in embedded.signed_data["certificates"] or ():
        if cert.name == "certificate":
            der = cert.chosen.dump()
            certificates[hashlib.sha256(der).hexdigest()] = der

    is_timestamp = embedded.sig_object_type == "/DocTimeStamp"
    signed_attrs = signer_info["signed_attrs"]
    hasher = _hasher(embedded.md_algorithm)
    if signed_attrs.native is not None and hasher is not None:
        # What was signed is the attributes as a universal SET OF, not the [0]-tagged field.
        hasher.update(signed_attrs.untag().dump())
        found.dtbsr_digest = hasher.digest()
        for attr in signed_attrs:
            if attr["type"].native == "message_digest":
                found.message_digest = attr["values"][0].native
    try:
        found.signers_document_digest = embedded.compute_digest(embedded.md_algorithm)
    except Exception:  # a byte range past the end of the file, say
        log.info("no signed-bytes digest for %s", embedded.field_name)

    sig = embedded.sig_object
    for key, attribute in (("/Reason", "reason"), ("/Location", "location"), ("/Name", "name"),
                           ("/ContactInfo", "contact_info")):
        if key in sig:
            setattr(found, attribute, xml_safe(str(sig[key])))
    if "/Filter" in sig:
        found.filter = str(sig["/Filter"]).lstrip("/")

    if is_timestamp:
        token = _token("document", embedded.pkcs7_content)
        found.tokens.extend([token] if token else [])
    else:
        for kind, attrs, attr_type in (
            ("signature", signer_info["unsigned_attrs"], "signature_time_stamp_token"),
            ("content", signed_attrs, "content_time_stamp"),
        ):
            if attrs.native is None:
                continue
            for attr in attrs:
                if attr["type"].native == attr_type:
                    for value in attr["values"]:
                        token = _token(kind, value.dump())
                        found.tokens.extend([token] if token else [])
    return found


def _token(kind: str, der: bytes) -> TokenEvidence | None:
    info = cms.ContentInfo.load(der)
    signed_data = info["content"]
    tst_info = signed_data["encap_content_info"]["content"].parsed
    signature = signed_data["signer_infos"][0]["signature"].native
    return TokenEvidence(
        kind=kind,
        time=tst_info["gen_time"].native,
        der=info.dump(),
        vo_id=f"vo-timestamp-{hashlib.sha256(signature).hexdigest()}",
    )


def _hasher(algorithm: str | None) -> hashlib._Hash | None:
    try:
        return hashlib.new(algorithm) if algorithm else None
    except ValueError:  # an algorithm hashlib does not know: no DTBSR digest, nothing else lost
        return None


# -- building the XML --------------------------------------------------------------


def report_to_etsi_xml(
    report: DocumentReport, pdf: bytes | os.PathLike[str] | IO[bytes] | None = None
) -> str:
    """The report as an ETSI TS 119 102-2 ``ValidationReport`` document (UTF-8 XML text).

    ``pdf`` is the validated file (bytes, path or binary stream); without it the
    report holds only what the model knows (no signature values or token bytes).
    """
    from xsdata.formats.dataclass.serializers import XmlSerializer
    from xsdata.formats.dataclass.serializers.config import SerializerConfig

    evidence = read_evidence(pdf) if pdf is not None else PdfEvidence()
    document = build_validation_report(xml_safe(report), evidence)
    return XmlSerializer(config=SerializerConfig(indent="  ")).render(document, ns_map=NAMESPACES)


def build_validation_report(report: DocumentReport, evidence: PdfEvidence | None = None) -> vr.ValidationReport:
    """The xsdata object tree of the ETSI report (what :func:`report_to_etsi_xml` serialises)."""
    if not report.signatures and not report.document_timestamps:
        # TS 119 102-2 requires at least one SignatureValidationReport.
        raise InputError(errors.NO_SIGNATURES, report.file_name)
    builder = _Builder(report, evidence or PdfEvidence())
    signature_reports = tuple(builder.signature_report(sig) for sig in report.signatures)
    if not signature_reports:
        # A file holding document timestamps alone: each is a PDF signature (/DocTimeStamp) and gets its report.
        signature_reports = tuple(
            builder.timestamp_report(ts, n) for n, ts in enumerate(report.document_timestamps, 1)
        )
    objects = builder.validation_objects()
    return vr.ValidationReport(
        signature_validation_report=signature_reports,
        signature_validation_objects=vr.ValidationObjectListType(validation_object=objects) if objects else None,
    )


def certificate_vo_id(cert: CertificateInfo) -> str:
    """pyHanko's validation object id for a certificate: the SHA-256 of its DER."""
    return f"vo-certificate-{cert.sha256.lower()}"


class _Builder:
    """Builds the per-signature reports and collects the validation objects they refer to."""

    def __init__(self, report: DocumentReport, evidence: PdfEvidence) -> None:
        self.report = report
        self.evidence = evidence
        self.certificates: dict[str, CertificateInfo] = {}  # by VO id, in first-seen order
        self.tokens: dict[str, vr.ValidationObjectType] = {}

    # - per signature -

    def signature_report(self, sig: SignatureReport) -> vr.SignatureValidationReportType:
        found = self.evidence.signatures.get(sig.field_name or "", SignatureEvidence())
        token_ids = self._timestamp_objects(sig, found)
        return vr.SignatureValidationReportType(
            signature_identifier=self._identifier(sig, found),
            validation_time_info=vr.ValidationTimeInfoType(
                validation_time=_xml_time(self.report.validation_time),
                best_signature_time=vr.POEType(
                    poetime=_xml_time(sig.best_signature_time),
                    type_of_proof=POE_VALIDATION,
                    poeobject=self._bst_proof(sig, token_ids),
                ),
            ),
            signers_document=self._signers_document(found),
            signature_attributes=self._attributes(sig, found, token_ids),
            signer_information=self._signer_information(sig),
            signature_validation_process=vr.SignatureValidationProcessType(
                signature_validation_process_id=_process(sig.pades_level)
            ),
            signature_validation_status=vr.ValidationStatusType(
                main_indication=MAIN_INDICATION[sig.indication],
                sub_indication=_sub_indications(sig.sub_indication),
                associated_validation_report_data=(self._report_data(sig),),
            ),
        )

    def timestamp_report(self, ts: TimestampReport, number: int) -> vr.SignatureValidationReportType:
        """The report of a document timestamp, for a file that holds no other signature."""
        found = self.evidence.signatures.get(ts.field_name or "", SignatureEvidence())
        main, sub = _timestamp_status(ts)
        proven = main is Indication.TOTAL_PASSED
        return vr.SignatureValidationReportType(
            signature_identifier=vr.SignatureIdentifierType(
                id=f"T-{number}",
                digest_alg_and_value=_digest(found.md_algorithm, found.dtbsr_digest),
                signature_value=ds.SignatureValue(found.signature_value) if found.signature_value else None,
                hash_only=False,
                doc_hash_only=False,
                daidentifier=ts.field_name,
            ),
            validation_time_info=vr.ValidationTimeInfoType(
                validation_time=_xml_time(self.report.validation_time),
                best_signature_time=vr.POEType(
                    poetime=_xml_time(ts.time if proven else self.report.validation_time),
                    type_of_proof=POE_VALIDATION,
                ),
            ),
            signers_document=self._signers_document(found),
            signature_validation_process=vr.SignatureValidationProcessType(
                signature_validation_process_id=_process(None)
            ),
            signature_validation_status=vr.ValidationStatusType(
                main_indication=MAIN_INDICATION[main], sub_indication=_sub_indications(sub)
            ),
        )

    def _identifier(self, sig: SignatureReport, found: SignatureEvidence) -> vr.SignatureIdentifierType:
        dtbsr = _digest(found.md_algorithm, found.dtbsr_digest)
        return vr.SignatureIdentifierType(
            id=f"S-{sig.index}",
            digest_alg_and_value=dtbsr,
            signature_value=ds.SignatureValue(found.signature_value) if found.signature_value else None,
            hash_only=False,
            doc_hash_only=False,
            daidentifier=sig.field_name,
        )

    def _signers_document(self, found: SignatureEvidence) -> vr.SignersDocumentType | None:
        digest = _digest(found.md_algorithm, found.signers_document_digest)
        return vr.SignersDocumentType(digest_alg_and_value=digest) if digest else None

    def _attributes(
        self, sig: SignatureReport, found: SignatureEvidence, token_ids: dict[int, str]
    ) -> vr.SignatureAttributesType:
        def stamp(ts: TimestampReport, signed: bool, vo_id: str | None) -> vr.SATimestampType:
            return vr.SATimestampType(
                signed=signed,
                time_stamp_value=_xml_time(ts.time),
                attribute_object=(vr.VOReferenceType(voreference=(vo_id,)),) if vo_id else (),
            )

        signature_stamps = [stamp(ts, False, token_ids.get(i))
                            for i, ts in enumerate(sig.timestamps) if ts.kind == "signature"]
        content_stamps = [stamp(ts, True, token_ids.get(i))
                          for i, ts in enumerate(sig.timestamps) if ts.kind == "content"]
        return vr.SignatureAttributesType(
            # The signature dictionary (/M included) lies inside the signed byte range.
            signing_time=(
                (vr.SASigningTimeType(signed=True, time=_xml_time(sig.claimed_signing_time)),)
                if sig.claimed_signing_time else ()
            ),
            all_data_objects_time_stamp=tuple(content_stamps),
            signature_production_place=(
                (vr.SASignatureProductionPlaceType(signed=True, address_string=(found.location,)),)
                if found.location else ()
            ),
            signature_time_stamp=tuple(signature_stamps),
            message_digest=(
                (vr.SAMessageDigestType(signed=True, digest=found.message_digest),) if found.message_digest else ()
            ),
            doc_time_stamp=tuple(self._document_stamps(sig)),
            reason=(vr.SAReasonType(signed=True, reason_element=found.reason),) if found.reason else (),
            name=(vr.SANameType(signed=True, name_element=found.name),) if found.name else (),
            contact_info=(
                (vr.SAContactInfoType(signed=True, contact_info_element=found.contact_info),)
                if found.contact_info else ()
            ),
            sub_filter=(
                (vr.SASubFilterType(signed=True, sub_filter_element=sig.subfilter.lstrip("/")),)
                if sig.subfilter else ()
            ),
            byte_range=(tuple(sig.integrity.byte_range),) if sig.integrity.byte_range else (),
            filter=(vr.SAFilterType(filter=found.filter),) if found.filter else (),
        )

    def _document_stamps(self, sig: SignatureReport) -> Iterable[vr.SATimestampType]:
        # Which document timestamps cover a signature needs their revisions, which
        # only the file tells: without it, none are claimed.
        for ts in self.report.document_timestamps:
            found = self.evidence.signatures.get(ts.field_name or "")
            if found is None or found.revision is None or sig.revision is None or found.revision <= sig.revision:
                continue
            token = next((t for t in found.tokens if t.kind == "document"), None)
            yield vr.SATimestampType(
                signed=False,
                time_stamp_value=_xml_time(ts.time),
                attribute_object=(vr.VOReferenceType(voreference=(token.vo_id,)),) if token else (),
            )

    def _signer_information(self, sig: SignatureReport) -> vr.SignerInformationType | None:
        if sig.signer is None:
            return None
        cert = sig.signer.certificate
        return vr.SignerInformationType(
            signer_certificate=self._certificate_ref(cert),
            signer=sig.signer.name or cert.common_name or cert.subject,
        )

    def _bst_proof(self, sig: SignatureReport, token_ids: dict[int, str]) -> vr.VOReferenceType | None:
        # The best signature time is proven by the trusted timestamp that gives it, if any.
        for i, ts in enumerate(sig.timestamps):
            if ts.intact and ts.trusted and not ts.after_validation_time and ts.time == sig.best_signature_time \
                    and i in token_ids:
                return vr.VOReferenceType(voreference=(token_ids[i],))
        return None

    def _report_data(self, sig: SignatureReport) -> vr.ValidationReportDataType:
        chain = sig.chain
        anchor_ref: vr.VOReferenceType | None = None
        chain_xml: vr.CertificateChainType | None = None
        if sig.signer is not None:
            signer_sha = sig.signer.certificate.sha256.lower()
            path = list(chain.certificates) if chain else []
            for cert in path:  # list the objects in path order: signer, intermediates, root
                self._certificate_ref(cert)
            anchor = None
            if chain is not None and chain.trusted and chain.anchor_sha256:
                anchor = next((c for c in path if c.sha256.lower() == chain.anchor_sha256.lower()), None)
            if anchor is not None:
                anchor_ref = self._certificate_ref(anchor)
            middle = [c for c in path if c.sha256.lower() != signer_sha and c is not anchor]
            chain_xml = vr.CertificateChainType(
                signing_certificate=self._certificate_ref(sig.signer.certificate),
                intermediate_certificate=tuple(self._certificate_ref(c) for c in middle),
                trust_anchor=anchor_ref,
            )

        revocation: vr.RevocationStatusInformationType | None = None
        if sig.signer is not None and sig.revocation is not None and sig.revocation.revoked_at is not None:
            revocation = vr.RevocationStatusInformationType(
                validation_object_id=self._certificate_ref(sig.signer.certificate),
                revocation_time=_xml_time(sig.revocation.revoked_at),
                revocation_reason=sig.revocation.reason,
            )

        data = [
            vr.TypedDataType(type_value=PAKAT_DATA + "reason:fa", value=sig.reason.fa),
            vr.TypedDataType(type_value=PAKAT_DATA + "reason:en", value=sig.reason.en),
            vr.TypedDataType(type_value=PAKAT_DATA + "coverage", value=sig.integrity.coverage),
        ]
        if sig.pades_level:
            data.append(vr.TypedDataType(type_value=PAKAT_DATA + "pades-level", value=sig.pades_level))
        if sig.modifications.level is not None:
            modifications = sig.modifications.level.value
            data.append(vr.TypedDataType(type_value=PAKAT_DATA + "modifications", value=modifications))
        data.extend(
            vr.TypedDataType(type_value=f"{PAKAT_DATA}finding:{f.severity.value}:{f.code}", value=f.text.en)
            for f in sig.findings
        )
        return vr.ValidationReportDataType(
            trust_anchor=anchor_ref,
            certificate_chain=chain_xml,
            revocation_status_information=revocation,
            additional_validation_report_data=vr.AdditionalValidationReportDataType(report_data=tuple(data)),
        )

    # - validation objects -

    def _certificate_ref(self, cert: CertificateInfo) -> vr.VOReferenceType:
        vo_id = certificate_vo_id(cert)
        self.certificates.setdefault(vo_id, cert)
        return vr.VOReferenceType(voreference=(vo_id,))

    def _timestamp_objects(self, sig: SignatureReport, found: SignatureEvidence) -> dict[int, str]:
        """Make a validation object for each of the signature's timestamps found in the file; index → VO id."""
        ids: dict[int, str] = {}
        unused = list(found.tokens)
        for i, ts in enumerate(sig.timestamps):
            token = _match_token(ts, unused)
            if token is None:
                continue
            unused.remove(token)
            ids[i] = token.vo_id
            self.tokens[token.vo_id] = _timestamp_object(
                ts, token, (vr.SignatureReferenceType(pad_esfield_name=sig.field_name),) if sig.field_name else ()
            )
        return ids

    def validation_objects(self) -> tuple[vr.ValidationObjectType, ...]:
        """Every certificate referred to, then every timestamp token (signature, then document)."""
        objects = [self._certificate_object(vo_id, cert) for vo_id, cert in self.certificates.items()]
        objects.extend(self.tokens.values())
        seen = set(self.tokens)
        for ts in self.report.document_timestamps:
            found = self.evidence.signatures.get(ts.field_name or "")
            token = _match_token(ts, found.tokens) if found else None
            if found is None or token is None or token.vo_id in seen:
                continue  # one object per token, even when a file carries the same token twice
            seen.add(token.vo_id)
            covered = tuple(
                vr.SignatureReferenceType(pad_esfield_name=sig.field_name)
                for sig in self.report.signatures
                if sig.field_name and sig.revision is not None and found.revision is not None
                and sig.revision < found.revision
            )
            objects.append(_timestamp_object(ts, token, covered))
        return tuple(objects)

    def _certificate_object(self, vo_id: str, cert: CertificateInfo) -> vr.ValidationObjectType:
        der = self.evidence.certificates.get(cert.sha256.lower())
        if der is not None:
            representation = vr.ValidationObjectRepresentationType(base64=der)
        else:
            # Not in the file (a root, typically): identified by its fingerprint.
            representation = vr.ValidationObjectRepresentationType(
                digest_alg_and_value=_digest("sha256", bytes.fromhex(cert.sha256))
            )
        return vr.ValidationObjectType(
            id=vo_id, object_type=VO_CERTIFICATE, validation_object_representation=representation
        )


def _timestamp_object(
    ts: TimestampReport, token: TokenEvidence, covers: tuple[vr.SignatureReferenceType, ...]
) -> vr.ValidationObjectType:
    main, sub = _timestamp_status(ts)
    return vr.ValidationObjectType(
        id=token.vo_id,
        object_type=VO_TIMESTAMP,
        validation_object_representation=vr.ValidationObjectRepresentationType(base64=token.der),
        poeprovisioning=vr.POEProvisioningType(poetime=_xml_time(ts.time), signature_reference=covers),
        validation_report=vr.SignatureValidationReportType(
            signature_validation_status=vr.ValidationStatusType(
                main_indication=MAIN_INDICATION[main], sub_indication=_sub_indications(sub)
            )
        ),
    )


def _timestamp_status(ts: TimestampReport) -> tuple[Indication, SubIndication | None]:
    if not ts.intact:
        return Indication.TOTAL_FAILED, None  # imprint or signature: the model does not say which
    if not ts.trusted:
        return Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    if ts.after_validation_time:
        # Generated after the validation time: no proof of existence there (EN 319 102-1, 5.1.3 NO_POE).
        return Indication.INDETERMINATE, SubIndication.NO_POE
    return Indication.TOTAL_PASSED, None


def _match_token(ts: TimestampReport, tokens: list[TokenEvidence]) -> TokenEvidence | None:
    same_kind = [t for t in tokens if t.kind == ts.kind]
    exact = next((t for t in same_kind if _utc(t.time) == _utc(ts.time)), None)
    # Fall back to file order when the times differ only in how they were rounded.
    return exact or (same_kind[0] if same_kind else None)


def _process(pades_level: str | None) -> str:
    return PROCESS_PREFIX + PROCESS_BY_LEVEL.get(pades_level or "", "Basic")


def _sub_indications(sub: SubIndication | None) -> tuple[str, ...]:
    return (SUB_INDICATION_PREFIX + sub.value,) if sub is not None else ()


def _digest(algorithm: str | None, value: bytes | None) -> xades.DigestAlgAndValueType | None:
    uri = DIGEST_URIS.get((algorithm or "").lower().replace("-", "_"))
    if uri is None or value is None:
        return None
    return xades.DigestAlgAndValueType(digest_method=ds.DigestMethod(uri), digest_value=ds.DigestValue(value))


_T = TypeVar("_T")
# What XML 1.0 cannot carry: C0 controls but tab, newline and carriage return; surrogates; U+FFFE, U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(value: _T) -> _T:
    """``value`` (a string, or a report of dataclasses, lists and dicts) with every string XML 1.0 can carry.

    Names and field names come from hostile certificates and PDFs: a control
    character or a lone surrogate in one would make the serialiser raise. Each
    such character becomes U+FFFD; everything else is returned as it is.
    """
    if isinstance(value, str):
        if value.isascii() and value.isprintable():
            return value
        return _NOT_XML.sub("\ufffd", value) if _NOT_XML.search(value) else value  # type: ignore[return-value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: xml_safe(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    if isinstance(value, list):
        return [xml_safe(item) for item in value]  # type: ignore[return-value]
    if isinstance(value, dict):
        return {key: xml_safe(item) for key, item in value.items()}  # type: ignore[return-value]
    return value


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _xml_time(value: datetime) -> XmlDateTime:
    return XmlDateTime.from_datetime(_utc(value))
