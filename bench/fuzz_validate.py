"""Long fuzz run of validation: damaged signed PDFs are judged or refused with a code, never a crash.

    python bench/fuzz_validate.py [--cases 20000] [--start 0] [--family pdf|der|both] [--xml-every 10]

The same bases, damage families and checks as ``tests/validation_tests/test_validation_fuzz.py``
(which runs a short slice in CI), in a development environment of its own:
sealed PDFs of our signer (B-LTA, B-B) and pyHanko (B-B) plus conformance
files with odd certificates, damaged as whole files (:func:`pdf_mutations.mutate`)
or only in the DER inside a signature's ``/Contents`` at the same length
(:func:`test_validation_fuzz.mutate_contents`). Every outcome must be a report
that renders (JSON valid against the schema, text, HTML; every ``--xml-every``
th case also the ETSI XML and the PDF report) or a :class:`PakatError` with a
catalogued code. It prints the outcomes, then each crash with its family, base
and seed (``damage(family, data, seed)`` reproduces it), the innermost frame of
Pakat's own code and whether it escapes from ``validation/engine.py`` itself.
Crashes in the engine belong in the test's ``ENGINE_CRASHES`` until fixed.
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "validation_tests"))  # the fuzz test module this runs at length


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--family", choices=["pdf", "der", "both"], default="both")
    parser.add_argument("--xml-every", type=int, default=10,
                        help="also render the ETSI XML and the PDF report every N cases (0: never)")
    args = parser.parse_args()

    from pakat_testkit import CONFORMANCE_CORPUS
    from test_validation_fuzz import (
        CONFORMANCE_BASES,
        FAMILIES,
        crash_site,
        damage,
        is_engine_crash,
        judge_case,
    )
    from validation_samples import samples_for

    from bench.services import dev_services
    from hsm_config.deployment import load_deployment, validation_config
    from signer.levels import PadesLevel
    from validation.engine import Validator
    from validation.reports.formats import render
    from validation.reports.json_report import report_schema

    # The ETSI report logs what it cannot read back from a damaged file: expected here, and loud.
    logging.getLogger("validation.reports.etsi_xml").setLevel(logging.ERROR)
    families = FAMILIES if args.family == "both" else (args.family,)
    outcomes: collections.Counter[str] = collections.Counter()
    crashes: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    schema = report_schema()
    with tempfile.TemporaryDirectory(prefix="pakat-vfuzz-") as tmp_name, dev_services(Path(tmp_name)) as env:
        validator = Validator(validation_config(load_deployment(env.deployment_path)))
        factory = samples_for(env)
        bases = {
            "ours/B-LTA": factory.base(PadesLevel.B_LTA),
            "ours/B-B": factory.base(PadesLevel.B_B),
            "pyhanko/B-B": factory.pyhanko_base(),
            **{name: (CONFORMANCE_CORPUS / name).read_bytes() for name in CONFORMANCE_BASES},
        }
        names = sorted(bases)
        started = time.perf_counter()
        for seed in range(args.start, args.start + args.cases):
            for family in families:
                base = names[seed // len(FAMILIES) % len(names)]
                kind, data = damage(family, bases[base], seed)
                try:
                    outcome, report = judge_case(validator, data, schema)
                    if report is not None and args.xml_every and seed % args.xml_every == 0:
                        render(report, "xml", pdf=data)
                        render(report, "pdf", "fa" if seed % 2 else "en")
                except Exception as exc:  # the very thing this looks for
                    outcome = "crash"
                    where = "engine" if is_engine_crash(exc) else "ours"
                    crashes[(crash_site(exc), where)].append(
                        f"{family} {base} seed {seed} ({kind}): "
                        f"{''.join(traceback.format_exception(exc)[-1:]).strip()[:300]}"
                    )
                outcomes[outcome] += 1
        elapsed = time.perf_counter() - started
        factory.close()
    total = sum(outcomes.values())
    each = elapsed / max(total, 1) * 1000
    print(f"# {total} damaged signed documents validated in {elapsed:.0f} s ({each:.0f} ms each)")
    for code, n in outcomes.most_common():
        print(f"| {code} | {n} |")
    for (site, where), cases in sorted(crashes.items(), key=lambda kv: -len(kv[1])):
        print(f"CRASH ({where}) at {site}: {len(cases)} case(s)")
        for case in cases[:5]:
            print("   ", case)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
