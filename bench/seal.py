"""Seal benchmark: Pakat beside pyHanko's straightforward loop, same run, same services.

    python bench/seal.py [--count 40] [--levels B-B,B-T,B-LT,B-LTA] [--sizes small,5MB,50MB]

It creates its own development PKI and SoftHSM tokens in a temporary folder,
starts the PKI's OCSP/CRL/TSA responders on a free loopback port, and seals
the same documents with the same HSM key two ways:

- **pyHanko loop**: ``signers.sign_pdf`` per document, synchronous, a fresh
  ``ValidationContext`` (fetching allowed) per document, default settings, a
  new ``PKCS11Signer`` per document over one logged-in session, and pyHanko's
  ``HTTPTimeStamper``.
- **Pakat**: one ``SealService``, documents sealed one after another.

For each it prints documents per second, process CPU milliseconds per
document (user + system of this process, which includes SoftHSM since it runs
in-process) and the ratio, and the part of Pakat's CPU its own check of every
output took (:mod:`signer.output_check`, included in Pakat's figures). For
large files it also prints the hashing floor (SHA-256 over the file), peak
resident memory above the idle process, measured by resetting the kernel's
high-water mark (``/proc/self/clear_refs``), and the seal appended in place to
a file the caller owns (as ``POST /api/v1/seal`` does with its upload).

``--producers`` seals the real producers' fixtures of ``tests/producers/``
instead, a row per producer family (B-B and B-LTA, every fixture of the family
that can be signed, once each per round).
Absolute times drift on a shared machine; the ratios are the figures to read.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pikepdf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {"small": 0, "5MB": 5 * 1024 * 1024, "50MB": 50 * 1024 * 1024}


def make_pdf(
    path: Path, payload: int, words: str = "Pakat benchmark envelope - technical offer", *, pages: int = 1
) -> None:
    """A PDF of ``pages`` pages saying ``words``; ``payload`` bytes of incompressible images, shared
    out over the pages, make it large."""
    pdf = pikepdf.new()
    font = pikepdf.Dictionary(
        F1=pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    width = 1024
    height = payload // pages // width
    for n in range(pages):
        page = pdf.add_blank_page(page_size=(595, 842))
        label = words if pages == 1 else f"{words} - page {n + 1}"
        text = f"BT /F1 12 Tf 72 760 Td ({label}) Tj ET".encode()
        page.Resources = pikepdf.Dictionary(Font=font)
        if height:
            image = pdf.make_stream(os.urandom(width * height))
            image.Type = pikepdf.Name.XObject
            image.Subtype = pikepdf.Name.Image
            image.Width, image.Height = width, height
            image.ColorSpace = pikepdf.Name.DeviceGray
            image.BitsPerComponent = 8
            page.Resources.XObject = pikepdf.Dictionary(Im1=image)
            text += b" q 100 0 0 100 72 500 cm /Im1 Do Q"
        page.Contents = pdf.make_stream(text)
    pdf.save(path, compress_streams=False)


class CheckMeter:
    """CPU seconds spent in Pakat's output check, counted around the function the signer calls."""

    def __init__(self) -> None:
        import signer.external
        import signer.pades

        self.seconds = 0.0
        self._modules = (signer.pades, signer.external)
        self._original = signer.pades.check_signed_output

        def timed(*args: object, **kwargs: object) -> None:
            c0 = time.process_time()
            try:
                self._original(*args, **kwargs)  # type: ignore[arg-type]
            finally:
                self.seconds += time.process_time() - c0

        for module in self._modules:
            module.check_signed_output = timed  # type: ignore[attr-defined]

    def take(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


@dataclass
class Measure:
    docs: int
    wall: float
    cpu: float
    peak_extra_mb: float | None = None

    @property
    def docs_per_s(self) -> float:
        return self.docs / self.wall

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.docs

    def best(self, other: Measure | None) -> Measure:
        """The faster of two runs of the same work (repeated rounds on a shared machine)."""
        if other is None:
            return self
        return Measure(self.docs, min(self.wall, other.wall), min(self.cpu, other.cpu))


def status_kb(field: str) -> int:
    """A ``/proc/self/status`` figure in kB (VmRSS, VmHWM …)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def measure(run_one: Callable[[int], None], count: int, *, memory: bool = False) -> Measure:
    run_one(-1)  # warm-up: first login, first OCSP fetch, first TSA token
    gc.collect()
    idle = status_kb("VmRSS")
    if memory:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(count):
        run_one(i)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = (status_kb("VmHWM") - idle) / 1024 if memory else None
    return Measure(count, wall, cpu, peak)


def hashing_floor(path: Path, repeat: int = 5) -> float:
    """Milliseconds to SHA-256 the file, best of ``repeat``."""
    from pakat.files import sha256_file

    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        sha256_file(path)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=40, help="documents per small-file run")
    parser.add_argument("--large-count", type=int, default=5, help="documents per large-file run")
    parser.add_argument("--levels", default="B-B,B-T,B-LT,B-LTA")
    parser.add_argument("--sizes", default="small,5MB,50MB")
    parser.add_argument("--visible", action="store_true",
                        help="only compare a visible B-B seal with an invisible one (small document)")
    parser.add_argument("--producers", action="store_true",
                        help="seal the producers' fixtures of tests/producers instead, a row per family")
    args = parser.parse_args()

    from bench.services import dev_services
    from envelopes.sealing import SealService
    from hsm_config.deployment import load_deployment
    from signer.levels import PadesLevel

    with tempfile.TemporaryDirectory(prefix="pakat-bench-") as tmp_name, dev_services(Path(tmp_name)) as env:
        tmp = Path(tmp_name)
        deployment = load_deployment(env.deployment_path)
        org = deployment.organisation("demo-co")
        service = SealService(deployment)
        baseline = PyHankoLoop(deployment, org.id)
        print(f"# Pakat seal benchmark — {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        print(f"# services: {env.base_url} (OCSP, CRL, TSA on loopback); key: SoftHSM RSA-2048 via PKCS#11\n")
        meter = CheckMeter()
        if args.visible:
            visible_cost(service, org.id, tmp, args.count)
            service.close()
            baseline.close()
            return
        if args.producers:
            producer_families(service, baseline, org.id, tmp, meter)
            service.close()
            baseline.close()
            return
        print(
            "| level | size | docs | pyHanko docs/s | Pakat docs/s | speed-up | pyHanko CPU ms/doc"
            " | Pakat CPU ms/doc | CPU ratio | of which the check | pyHanko peak MB | Pakat peak MB |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for size_name in args.sizes.split(","):
            source = tmp / f"in-{size_name}.pdf"
            make_pdf(source, SIZES[size_name])
            large = SIZES[size_name] > 0
            count = args.large_count if large else args.count
            for level_name in args.levels.split(","):
                level = PadesLevel.parse(level_name)
                out = tmp / "out.pdf"

                def pakat(i: int, level: PadesLevel = level, source: Path = source, out: Path = out) -> None:
                    # As the API serves it: the output is streamed back, not fsync'd (nor is pyHanko's).
                    service.seal(org.id, source, out, level, durable=False)

                def pyhanko(i: int, level: PadesLevel = level, source: Path = source, out: Path = out) -> None:
                    baseline.sign(source, out, level)

                base = measure(pyhanko, count, memory=large)
                meter.take()
                ours = measure(pakat, count, memory=large)
                check_ms = 1000 * meter.take() / (count + 1)  # the warm-up seal was checked too
                mem = (
                    f"{base.peak_extra_mb:.0f} | {ours.peak_extra_mb:.0f}"
                    if large and base.peak_extra_mb is not None and ours.peak_extra_mb is not None
                    else "– | –"
                )
                print(
                    f"| {level.value} | {size_name} | {count} | {base.docs_per_s:.1f} | {ours.docs_per_s:.1f} | "
                    f"{ours.docs_per_s / base.docs_per_s:.1f}× | {base.cpu_ms:.1f} | {ours.cpu_ms:.1f} | "
                    f"{base.cpu_ms / ours.cpu_ms:.1f}× | {check_ms:.1f} | {mem} |",
                    flush=True,
                )
            if large:
                floor = hashing_floor(source)
                print(f"|  | {size_name} hashing floor (SHA-256 of the file): {floor:.1f} ms |" + " |" * 10)
                in_place(service, org.id, source, tmp, args.large_count, floor)
        service.close()
        baseline.close()


def in_place(service: object, org_id: str, source: Path, tmp: Path, count: int, floor_ms: float) -> None:
    """A B-B seal appended to a file the caller owns, as the seal API does with its upload."""
    import shutil

    from envelopes.sealing import SealService
    from signer.levels import PadesLevel

    assert isinstance(service, SealService)
    copies = [tmp / f"owned-{i}.pdf" for i in range(count + 1)]
    for copy in copies:
        shutil.copyfile(source, copy)

    def one(i: int) -> None:
        owned = copies[i + 1]
        service.seal(org_id, owned, owned, PadesLevel.B_B, durable=False, in_place=True)

    m = measure(one, count, memory=True)
    wall_ms = 1000 * m.wall / m.docs
    print(
        f"| B-B in place | {source.stat().st_size >> 20} MB | {count} | | {m.docs_per_s:.1f} | | | "
        f"{m.cpu_ms:.1f} | | | | {m.peak_extra_mb:.0f} | wall {wall_ms:.1f} ms = {wall_ms / floor_ms:.2f}× the "
        "hashing floor",
        flush=True,
    )
    for copy in copies:
        copy.unlink(missing_ok=True)


def producer_families(service: object, baseline: PyHankoLoop, org_id: str, tmp: Path, meter: CheckMeter) -> None:
    """Every signable producer fixture, by family, Pakat beside the pyHanko loop, B-B and B-LTA."""
    import json

    from envelopes.sealing import SealService
    from signer.levels import PadesLevel

    assert isinstance(service, SealService)
    producers = ROOT / "tests" / "producers"
    families: dict[str, list[Path]] = {}
    for entry in json.loads((producers / "manifest.json").read_text(encoding="utf-8")):
        if entry["expect"] == "sealable" and not entry["structure"]["encrypted"]:
            families.setdefault(entry["family"], []).append(producers / entry["file"])
    encrypted = [producers / e["file"] for e in json.loads((producers / "manifest.json").read_text())
                 if e["expect"] == "sealable" and e["structure"]["encrypted"]]
    families["encrypted (slower path)"] = encrypted
    print("| family | files | level | pyHanko docs/s | Pakat docs/s | speed-up | pyHanko CPU ms/doc"
          " | Pakat CPU ms/doc | CPU ratio | of which the check |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    out = tmp / "out.pdf"
    for family, files in families.items():
        for level in (PadesLevel.B_B, PadesLevel.B_LTA):
            rounds = 3

            def pakat(i: int, files: list[Path] = files, level: PadesLevel = level) -> None:
                service.seal(org_id, files[i % len(files)], out, level, durable=False)

            def pyhanko(i: int, files: list[Path] = files, level: PadesLevel = level) -> None:
                baseline.sign(files[i % len(files)], out, level)

            count = rounds * len(files)
            meter.take()
            ours = measure(pakat, count)
            check_ms = 1000 * meter.take() / (count + 1)
            try:
                base = measure(pyhanko, count)
                theirs = f"{base.docs_per_s:.1f}"
                speed = f"{ours.docs_per_s / base.docs_per_s:.1f}×"
                cpu = f"{base.cpu_ms:.1f}"
                ratio = f"{base.cpu_ms / ours.cpu_ms:.1f}×"
            except Exception as exc:  # pyHanko's loop needs the password API for encrypted files
                theirs, speed, cpu, ratio = f"({type(exc).__name__})", "–", "–", "–"
            print(f"| {family} | {len(files)} | {level.value} | {theirs} | {ours.docs_per_s:.1f} | {speed} "
                  f"| {cpu} | {ours.cpu_ms:.1f} | {ratio} | {check_ms:.1f} |", flush=True)


def visible_cost(service: object, org_id: str, tmp: Path, count: int) -> None:
    """What a visible block adds to a B-B seal, with the caches warm as in a bulk run."""
    from envelopes.sealing import SealService
    from signer.levels import PadesLevel
    from signer.placement import VisibleSignature

    assert isinstance(service, SealService)
    source, out = tmp / "in-visible.pdf", tmp / "out.pdf"
    make_pdf(source, 0, pages=3)
    runs: dict[str, Measure | None] = {"invisible": None, "visible": None}
    for _ in range(3):  # interleaved rounds, best of each: the machine is shared
        for name in runs:
            appearance = VisibleSignature() if name == "visible" else None

            def one(i: int, appearance: VisibleSignature | None = appearance) -> None:
                service.seal(org_id, source, out, PadesLevel.B_B, durable=False, appearance=appearance)

            runs[name] = measure(one, count).best(runs[name])
    plain, drawn = runs["invisible"], runs["visible"]
    assert plain is not None and drawn is not None
    print("| B-B, small, 3 pages | docs/s | CPU ms/doc | wall ms/doc |")
    print("|---|---|---|---|")
    for name, m in (("invisible", plain), ("visible block", drawn)):
        print(f"| {name} | {m.docs_per_s:.1f} | {m.cpu_ms:.2f} | {1000 * m.wall / m.docs:.2f} |")
    extra = 1000 * (drawn.wall / drawn.docs - plain.wall / plain.docs)
    print(f"| the block costs | | {drawn.cpu_ms - plain.cpu_ms:+.2f} | {extra:+.2f} |")


class PyHankoLoop:
    """pyHanko used the straightforward way: sync ``sign_pdf`` per document, default settings."""

    def __init__(self, deployment: object, org_id: str) -> None:
        import pkcs11

        from hsm_config.deployment import Deployment

        assert isinstance(deployment, Deployment)
        org = deployment.organisation(org_id)
        seal = org.seal
        os.environ.update(seal.module_env)
        lib = pkcs11.lib(seal.module)
        token = lib.get_token(token_label=seal.token_label)
        # One login for the whole loop: SoftHSM allows one per process, so even
        # the plain loop cannot log in per document.
        self.session = token.open(user_pin=seal.read_pin())
        self.key_label = seal.key_label
        from asn1crypto import x509 as asn1_x509

        def load(path: Path) -> asn1_x509.Certificate:
            data = path.read_bytes()
            if data.startswith(b"-----"):
                from asn1crypto import pem

                _, _, data = pem.unarmor(data)
            return asn1_x509.Certificate.load(data)

        self.cert = load(seal.certificate)
        self.chain = [load(p) for p in seal.chain]
        self.roots = [load(a.path) for a in deployment.trust_roots]
        self.tsa_url = deployment.tsa_url

    def sign(self, source: Path, destination: Path, level: object) -> None:
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import fields, signers, timestamps
        from pyhanko.sign.pkcs11 import PKCS11Signer
        from pyhanko_certvalidator import ValidationContext

        from signer.levels import PadesLevel

        assert isinstance(level, PadesLevel)
        signer = PKCS11Signer(self.session, key_label=self.key_label, signing_cert=self.cert, ca_chain=self.chain)
        vc = ValidationContext(trust_roots=self.roots, other_certs=self.chain, allow_fetching=True)
        meta = signers.PdfSignatureMetadata(
            field_name="Signature",
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            embed_validation_info=level.long_term,
            use_pades_lta=level.archival,
            validation_context=vc if level.long_term else None,
        )
        timestamper = timestamps.HTTPTimeStamper(self.tsa_url) if level.timestamped else None
        with open(source, "rb") as inf, open(destination, "wb") as outf:
            writer = IncrementalPdfFileWriter(inf, strict=False)
            if writer.prev.encrypted:  # an owner-password file opens with the empty user password
                writer.encrypt(b"")
            signers.sign_pdf(writer, meta, signer=signer, timestamper=timestamper, output=outf)

    def close(self) -> None:
        self.session.close()


if __name__ == "__main__":
    main()
