"""Long fuzz run of sealing: damaged real PDFs are sealed soundly or refused with a code.

    python bench/fuzz_seal.py [--cases 20000] [--start 0] [--level B-B]

The same bases and seeded mutations as ``tests/signer_tests/test_seal_fuzz.py`` (which runs
a short slice in CI), in a development environment of its own. Every sealed
output is validated with Pakat's validator (its new signature must pass);
every refusal must carry an input code. It prints the outcomes by code and
each failure with its base and seed, which ``mutate(data, seed)`` reproduces;
a failure belongs in the test's ``REGRESSIONS`` once fixed.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "signer_tests"))  # the fuzz test module this runs at length


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--level", default="B-B")
    args = parser.parse_args()

    from pdf_mutations import mutate
    from test_seal_fuzz import BASES, HERE, OURS

    from bench.services import dev_services
    from envelopes.sealing import SealService
    from hsm_config.deployment import load_deployment, validation_config
    from pakat.errors import PakatError
    from signer.levels import PadesLevel
    from signer.placement import VisibleSignature
    from validation.engine import Validator
    from validation.model import Indication

    level = PadesLevel.parse(args.level)
    outcomes: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pakat-fuzz-") as tmp_name, dev_services(Path(tmp_name)) as env:
        tmp = Path(tmp_name)
        deployment = load_deployment(env.deployment_path)
        service, validator = SealService(deployment), Validator(validation_config(deployment))
        source, out = tmp / "in.pdf", tmp / "out.pdf"
        started = time.perf_counter()
        for seed in range(args.start, args.start + args.cases):
            base = BASES[seed % len(BASES)]
            kind, data = mutate((HERE / base).read_bytes(), seed)
            source.write_bytes(data)
            out.unlink(missing_ok=True)
            try:
                service.seal("demo-co", source, out, level,
                             appearance=VisibleSignature() if seed % 3 == 0 else None)
                mine = validator.validate(out).signatures[-1]
                if mine.indication is not Indication.TOTAL_PASSED:
                    failures.append(f"{base} seed {seed} ({kind}): sealed, but {mine.sub_indication}")
                outcomes["sealed"] += 1
            except PakatError as exc:
                outcomes[exc.code] += 1
                if exc.code in OURS:
                    failures.append(f"{base} seed {seed} ({kind}): {exc.code} {exc.detail}")
            except Exception as exc:  # the very thing this looks for
                outcomes["crash"] += 1
                failures.append(f"{base} seed {seed} ({kind}): {''.join(traceback.format_exception(exc)[-2:])}")
        elapsed = time.perf_counter() - started
        service.close()
    print(f"# {args.cases} damaged documents sealed at {level.value} in {elapsed:.0f} s")
    for code, n in outcomes.most_common():
        print(f"| {code} | {n} |")
    for failure in failures:
        print("FAILED", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
