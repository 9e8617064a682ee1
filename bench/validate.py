"""Validation benchmark: Pakat beside pyHanko's straightforward loop, same run, same documents.

    python bench/validate.py [--docs 60] [--rounds 5] [--large-mb 50]

It creates its own development PKI, SoftHSM tokens and responders in a
temporary folder (as ``bench/seal.py`` does), then seals with ``SealService``
a batch of distinct small documents (different text each) by one organisation
(demo-co) at B-LT and at B-LTA, and one large document (incompressible image
data, default 50 MB) at B-LTA. Each file is then validated two ways:

- **pyHanko loop**: stock pyHanko (the hex-string fast path that importing
  ``validation.engine`` installs is swapped out for pyHanko's own), per
  document a ``PdfFileReader`` over the open file, the DSS read with
  ``DocumentSecurityStore.read_dss`` (certificates, OCSP responses, CRLs), a
  fresh ``ValidationContext`` trusting the dev root with that data (fetching
  off, revocation hard-fail) and ``validate_pdf_signature``; for B-LTA also
  ``validate_pdf_timestamp`` on the document timestamp. Every result is asserted intact, valid and trusted.
- **Pakat**: one ``Validator(validation_config(deployment))`` per batch,
  reused for every document of it (its chain and revocation cache is the
  point), validating each file by path. Every report is asserted
  TOTAL_PASSED at the expected PAdES level.

The large document's time is also set beside the hashing floor (one SHA-256
pass over the file), validated by a validator that has met the seal before
(chain and revocation answers cached: those cost the same for any size): the
file digest and every signed range come from one read in which shared bytes
are hashed once, so the target is within 3× of the floor.

**The visual comparison.** Pages are drawn only when the structural analysis
finds a change the policy does not plainly allow (or a filled field that may
cover the page's own content); an unchanged or extended document draws
nothing. Its cost is measured on a 1-page, a 20-page and the large document,
each sealed B-B and then changed after signing in two ways: a font added to
page 1's resources (a change on one page: that page is drawn in both
revisions) and an object no cross-reference section lists (a change on no
particular page: every page is drawn). Each row gives Pakat's validation time
without the change and with it.

Each round runs every batch both ways, alternating which goes first, and the
best round of each is kept, so drift on a shared machine hits both alike. A
round's Pakat validator is new (cold cache): the first document of every batch
pays for path building and revocation checks.

Peak memory for the large document is measured in a fresh child process per
implementation: imports and one small validation first, then the idle
resident set, then the kernel's high-water mark reset
(``/proc/self/clear_refs``, as ``bench/seal.py`` does) and the large
validation; the figure is ``VmHWM`` minus idle. Resident memory counts C
allocations (qpdf, OpenSSL) as well as Python's. Without ``clear_refs`` it
falls back to ``ru_maxrss`` minus idle, and says so.

CPU time is this process's user + system time (the responders run in another
process and sit idle: nothing is fetched). Absolute times drift on a shared
machine; the ratios are the figures to read.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seal import Measure, hashing_floor, make_pdf, status_kb  # noqa: E402 - needs ROOT on sys.path

LEVELS = ("B-LT", "B-LTA")
SPEED_TARGET = 2.0  # × pyHanko's throughput on the small batch
FLOOR_TARGET = 3.0  # × one SHA-256 pass over the large document
MEMORY_TARGET = 0.5  # × the large document's size, peak above idle


def load_asn1_certificate(path: Path) -> object:
    """An asn1crypto certificate from a PEM or DER file."""
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_x509

    data = path.read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return asn1_x509.Certificate.load(data)


def stock_pyhanko() -> contextlib.AbstractContextManager[None]:
    """pyHanko exactly as shipped for the duration: importing validation.engine swaps in Pakat's
    bulk hex-string and lazy stream-payload readers (pakat/pdf_reader.py) for pyHanko's own."""
    from pakat.pdf_reader import pyhanko_as_shipped

    return pyhanko_as_shipped()


def pyhanko_validate(path: Path, level: str, roots: Sequence[object]) -> None:
    """pyHanko's straightforward loop body: DSS in, fresh context, validate, assert."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko_certvalidator import ValidationContext

    with stock_pyhanko(), open(path, "rb") as fh:
        reader = PdfFileReader(fh)
        dss = DocumentSecurityStore.read_dss(reader)
        vc = ValidationContext(
            trust_roots=list(roots),
            other_certs=list(dss.load_certs()),
            ocsps=[asn1_ocsp.OCSPResponse.load(o.get_object().data) for o in dss.ocsps],
            crls=[asn1_crl.CertificateList.load(c.get_object().data) for c in dss.crls],
            allow_fetching=False,
            revocation_mode="hard-fail",
        )
        status = validate_pdf_signature(reader.embedded_regular_signatures[0], vc)
        if not (status.intact and status.valid and status.trusted):
            raise AssertionError(f"pyHanko: {path.name}: {status.pretty_print_details()}")
        if level == "B-LTA":
            stamps = [s for s in reader.embedded_signatures if s.sig_object.get("/Type") == "/DocTimeStamp"]
            ts = validate_pdf_timestamp(stamps[-1], vc)
            if not (ts.intact and ts.valid and ts.trusted):
                raise AssertionError(f"pyHanko: {path.name} document timestamp: {ts!r}")


def pakat_validate(validator: object, path: Path, level: str) -> None:
    """One document through a shared ``Validator``, asserted TOTAL_PASSED at ``level``."""
    from validation.engine import Validator
    from validation.model import Indication

    assert isinstance(validator, Validator)
    report = validator.validate(path)
    levels = [s.pades_level for s in report.signatures]
    if report.indication is not Indication.TOTAL_PASSED or levels != [level]:
        raise AssertionError(f"Pakat: {path.name}: {report.indication} {report.sub_indication} {levels}")


# -- changes after signing that make the validator draw pages ------------------------------------


def font_added_to_page_one(source: Path, target: Path) -> None:
    """``source`` with an unused font added to page 1's resources in an incremental update."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    with open(source, "rb") as fh:
        writer = IncrementalPdfFileWriter(fh)
        kids = writer.root["/Pages"].raw_get("/Kids")
        page_ref = kids.raw_get(0) if isinstance(kids, generic.ArrayObject) else kids.get_object().raw_get(0)
        page = page_ref.get_object()
        resources = page["/Resources"]
        font = writer.add_object(generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Font"),
            generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
            generic.NameObject("/BaseFont"): generic.NameObject("/Courier"),
        }))
        resources["/Font"][generic.NameObject("/F9")] = font
        holder = page.raw_get("/Resources")
        writer.mark_update(holder if isinstance(holder, generic.IndirectObject) else page_ref)
        with open(target, "wb") as out:
            writer.write(out)


def unlisted_object_appended(source: Path, target: Path) -> None:
    """``source`` followed by an object definition no cross-reference section lists (a new number)."""
    data = source.read_bytes()
    target.write_bytes(data + b"\n999999 0 obj\n(unlisted)\nendobj\n")


def time_validation(validator: object, path: Path, rounds: int) -> float:
    """Best wall-clock milliseconds of ``rounds`` validations of ``path``."""
    from validation.engine import Validator

    assert isinstance(validator, Validator)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        validator.validate(path)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


# -- measuring ------------------------------------------------------------------------------


def run_batch(run_one: Callable[[Path], None], files: Sequence[Path]) -> Measure:
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    for path in files:
        run_one(path)
    return Measure(len(files), time.perf_counter() - t0, time.process_time() - c0)


def probe(args: argparse.Namespace) -> None:
    """Child process: peak resident memory above idle while validating one large file."""
    from hsm_config.deployment import load_deployment, validation_config
    from validation.engine import Validator

    large, warm = Path(args.probe_file), Path(args.probe_warm)
    if args.probe == "pyhanko":
        roots = [load_asn1_certificate(Path(args.root))]

        def run(path: Path) -> None:
            pyhanko_validate(path, "B-LTA", roots)
    else:
        validator = Validator(validation_config(load_deployment(Path(args.deployment))))

        def run(path: Path) -> None:
            pakat_validate(validator, path, "B-LTA")

    run(warm)  # imports, lazy initialisation, the chain cache for this organisation
    gc.collect()
    idle = status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        method = "VmHWM after clear_refs"
    except OSError:
        method = "ru_maxrss"
    run(large)
    # ru_maxrss is in kB on Linux, like /proc/self/status.
    peak = status_kb("VmHWM") if method.startswith("VmHWM") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"idle_kb": idle, "peak_kb": peak, "method": method}))


def peak_extra_mb(which: str, large: Path, warm: Path, deployment: Path, root: Path) -> tuple[float, float, str]:
    """(peak above idle MB, idle MB, method) for ``which`` validating ``large`` in a fresh process."""
    out = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--probe",
            which,
            "--probe-file",
            str(large),
            "--probe-warm",
            str(warm),
            "--deployment",
            str(deployment),
            "--root",
            str(root),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return (result["peak_kb"] - result["idle_kb"]) / 1024, result["idle_kb"] / 1024, str(result["method"])


# -- the run --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=60, help="small documents per level")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the best of each is kept")
    parser.add_argument("--large-mb", type=int, default=50, help="size of the large B-LTA document")
    for hidden in ("--probe", "--probe-file", "--probe-warm", "--deployment", "--root"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args)
        return

    from bench.services import dev_services
    from envelopes.sealing import SealService
    from hsm_config.deployment import load_deployment, validation_config
    from signer.levels import PadesLevel
    from validation.engine import Validator

    with tempfile.TemporaryDirectory(prefix="pakat-bench-") as tmp_name, dev_services(Path(tmp_name)) as env:
        tmp = Path(tmp_name)
        deployment = load_deployment(env.deployment_path)
        org = deployment.organisation("demo-co")
        roots = [load_asn1_certificate(env.root_cert_path)]
        config = validation_config(deployment)

        # Setup: seal the batches and the large document.
        t0 = time.perf_counter()
        service = SealService(deployment)
        batches: dict[str, list[Path]] = {}
        for level_name in LEVELS:
            level = PadesLevel.parse(level_name)
            files = []
            for i in range(args.docs):
                source, out = tmp / "in.pdf", tmp / f"{level_name}-{i:04d}.pdf"
                make_pdf(source, 0, f"Pakat validation benchmark - technical offer {i} at {level_name}")
                service.seal(org.id, source, out, level, durable=False)
                files.append(out)
            batches[level_name] = files
        large_source, large = tmp / "in-large.pdf", tmp / "B-LTA-large.pdf"
        make_pdf(large_source, args.large_mb * 1024 * 1024, "Pakat validation benchmark - large technical offer")
        service.seal(org.id, large_source, large, PadesLevel.parse("B-LTA"), durable=False)
        service.close()
        large_mb = large.stat().st_size / (1024 * 1024)
        setup = time.perf_counter() - t0

        print(f"# Pakat validation benchmark — {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        print(
            f"# {args.docs} small documents per level and one {large_mb:.1f} MB B-LTA document, sealed by "
            f"{org.id} (SoftHSM RSA-2048, responders at {env.base_url}) in {setup:.0f} s"
        )
        print(
            f"# best of {args.rounds} alternating rounds; Pakat: one Validator per batch (cold cache at its "
            "first document); pyHanko: fresh ValidationContext per document, DSS data, fetching off, hard-fail\n"
        )

        # Warm-up both (imports, lazy initialisation) on a throwaway validator.
        warm = Validator(config)
        for level_name in LEVELS:
            pyhanko_validate(batches[level_name][0], level_name, roots)
            pakat_validate(warm, batches[level_name][0], level_name)

        best: dict[tuple[str, str], Measure] = {}
        cache: dict[str, tuple[int, int]] = {}

        def record(key: tuple[str, str], m: Measure) -> None:
            best[key] = m.best(best.get(key))

        for r in range(args.rounds):
            for level_name, files in [*batches.items(), ("large", [large])]:
                expected = "B-LTA" if level_name == "large" else level_name
                validator = Validator(config)

                def base(path: Path, expected: str = expected) -> None:
                    pyhanko_validate(path, expected, roots)

                def ours(path: Path, expected: str = expected, validator: Validator = validator) -> None:
                    pakat_validate(validator, path, expected)

                order = [("pyhanko", base), ("pakat", ours)]
                for who, fn in order if r % 2 == 0 else reversed(order):
                    record((level_name, who), run_batch(fn, files))
                cache[level_name] = (validator.chains.hits, validator.chains.misses)

        memory = {
            who: peak_extra_mb(who, large, batches["B-LTA"][0], env.deployment_path, env.root_cert_path)
            for who in ("pyhanko", "pakat")
        }

        print(
            "| document | docs | pyHanko docs/s | Pakat docs/s | speed-up | pyHanko CPU ms/doc"
            " | Pakat CPU ms/doc | CPU ratio | pyHanko peak MB | Pakat peak MB |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for level_name, label in [
            ("B-LT", "B-LT small"),
            ("B-LTA", "B-LTA small"),
            ("large", f"B-LTA {large_mb:.0f} MB"),
        ]:
            b, o = best[(level_name, "pyhanko")], best[(level_name, "pakat")]
            mem = f"{memory['pyhanko'][0]:.1f} | {memory['pakat'][0]:.1f}" if level_name == "large" else "– | –"
            print(
                f"| {label} | {b.docs} | {b.docs_per_s:.1f} | {o.docs_per_s:.1f} | "
                f"{o.docs_per_s / b.docs_per_s:.2f}× | {b.cpu_ms:.1f} | {o.cpu_ms:.1f} | "
                f"{b.cpu_ms / o.cpu_ms:.2f}× | {mem} |"
            )
        floor = hashing_floor(large)
        # Against the floor, the per-byte cost: a validator that has met this seal before (its chain and
        # revocation answers cached), as a service validating many envelopes of one organisation is.
        warmed = Validator(config)
        warmed.validate(large)
        large_ms = time_validation(warmed, large, args.rounds)
        print(
            f"|  | {large_mb:.0f} MB hashing floor (one SHA-256 pass over the file): {floor:.1f} ms; Pakat with "
            f"the seal's chain cached: {large_ms:.1f} ms = {large_ms / floor:.2f}× the floor | | | | | | | | |"
        )
        method = memory["pakat"][2]
        print(
            f"\n# peak MB = resident memory above the idle process ({method}), each in a fresh child process "
            f"after one small validation; idle: pyHanko {memory['pyhanko'][1]:.0f} MB, "
            f"Pakat {memory['pakat'][1]:.0f} MB. Counts C allocations (qpdf, OpenSSL) too."
        )
        print(
            "# Pakat chain cache (hits/misses, last round): "
            + ", ".join(f"{k} {h}/{m}" for k, (h, m) in cache.items())
        )

        # The visual comparison: documents sealed B-B, then changed after signing.
        visual_rows: list[tuple[str, float, float, float]] = []
        sources = {"1 page": tmp / "v-1.pdf", "20 pages": tmp / "v-20.pdf", f"{large_mb:.0f} MB": large_source}
        make_pdf(sources["1 page"], 0, "Pakat visual benchmark")
        make_pdf(sources["20 pages"], 0, "Pakat visual benchmark", pages=20)
        make_pdf(large_source, args.large_mb * 1024 * 1024, "Pakat visual benchmark - large")
        service = SealService(deployment)
        validator = Validator(config)
        for label, source in sources.items():
            sealed = tmp / f"v-{label}-sealed.pdf".replace(" ", "-")
            service.seal(org.id, source, sealed, PadesLevel.parse("B-B"), durable=False)
            on_page, on_none = sealed.with_suffix(".page.pdf"), sealed.with_suffix(".none.pdf")
            font_added_to_page_one(sealed, on_page)
            unlisted_object_appended(sealed, on_none)
            validator.validate(sealed)  # warm: chain and revocation for this seal
            rounds = max(2, args.rounds // 2) if "MB" in label else args.rounds
            row = [time_validation(validator, p, rounds) for p in (sealed, on_page, on_none)]
            drawn = [validator.validate(p).signatures[0].modifications.compared_visually
                     for p in (on_page, on_none)]
            if not all(drawn):
                raise AssertionError(f"{label}: the changed documents were not drawn: {drawn}")
            visual_rows.append((label, row[0], row[1], row[2]))
            for path in (on_page, on_none):
                path.unlink()
        service.close()
        print("\n| document (B-B) | unchanged ms | font added to page 1 ms (1 page drawn ×2) | ratio"
              " | unlisted object ms (every page drawn ×2) | ratio |")
        print("|---|---|---|---|---|---|")
        for label, plain, page, none in visual_rows:
            print(f"| {label} | {plain:.1f} | {page:.1f} | {page / plain:.1f}× | {none:.1f} "
                  f"| {none / plain:.1f}× |")

        print()
        for level_name in LEVELS:
            ratio = best[(level_name, "pakat")].docs_per_s / best[(level_name, "pyhanko")].docs_per_s
            verdict = "PASS" if ratio >= SPEED_TARGET else "MISS"
            print(
                f"{verdict}: {level_name} small batch throughput {ratio:.2f}× pyHanko (target ≥ {SPEED_TARGET:g}×)"
            )
        ratio = large_ms / floor
        verdict = "PASS" if ratio <= FLOOR_TARGET else "MISS"
        print(f"{verdict}: {large_mb:.0f} MB B-LTA validation {ratio:.2f}× the hashing floor "
              f"(target ≤ {FLOOR_TARGET:g}×)")
        limit = MEMORY_TARGET * large_mb
        extra = memory["pakat"][0]
        verdict = "PASS" if extra <= limit else "MISS"
        print(
            f"{verdict}: {large_mb:.0f} MB B-LTA peak memory above idle {extra:.1f} MB "
            f"(target ≤ {limit:.1f} MB, half the document)"
        )


if __name__ == "__main__":
    main()
