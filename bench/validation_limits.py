"""What a hostile upload costs the validator, beside an ordinary document in the same process.

    python bench/validation_limits.py [--fields 1000] [--delay 2]

In a development environment of its own, prints three comparisons, each with
its baseline measured here, in this process:

* CPU seconds (``time.process_time``) to validate the plain sealed document,
  and the same document with one signature value shown in ``--fields`` fields
  (each field its own copy of the value's dictionary);
* requests a certificate naming 150 OCSP and 150 CRL addresses under the
  allow-listed prefix sends to a counting loopback responder, for a chain that
  reaches the pinned root and for one that does not;
* seconds an ordinary validation takes alone, and beside a validation waiting
  on a responder that answers after ``--delay`` seconds.

The documents and the responder are those of
``tests/validation_tests/test_validation_limits.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "validation_tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fields", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=2.0, help="the slow responder's delay, in seconds")
    args = parser.parse_args()

    from test_validation_limits import (
        _many_addresses,
        _online,
        _signed_by,
        _throwaway_root,
        _with_copied_value,
        counting_responder,
    )
    from validation_samples import samples_for

    from bench.services import dev_services
    from devkit import devpki
    from devkit.devpki import DevPKI
    from hsm_config.deployment import load_deployment, validation_config
    from validation.config import ValidationLimits
    from validation.engine import Validator

    with tempfile.TemporaryDirectory(prefix="pakat-vlimits-") as tmp, dev_services(Path(tmp)) as env:
        config = validation_config(load_deployment(env.deployment_path))
        config = replace(config, limits=replace(ValidationLimits(), max_signature_fields=args.fields))
        factory = samples_for(env)
        base = factory.base()
        copies = _with_copied_value(base, args.fields - 1)
        validator = Validator(config)
        validator.validate(base)  # chain and revocation answers cached: what follows is the documents' own cost

        def cpu(data: bytes) -> float:
            start = time.process_time()
            validator.validate(data)
            return time.process_time() - start

        plain, shared = cpu(base), cpu(copies)
        print("| measurement | baseline | hostile | ratio |")
        print("|---|---|---|---|")
        print(f"| CPU s: plain sealed PDF vs one value in {args.fields} fields ({len(copies) // 1024} KB) "
              f"| {plain:.3f} | {shared:.3f} | {shared / max(plain, 1e-6):.1f} |")

        ca = DevPKI.load(factory.pki_dir).ca(devpki.GENERAL)
        root, root_key = _throwaway_root()
        with counting_responder() as responder:
            anchored = _signed_by(factory, _many_addresses(responder.url, ca.certificate, ca.key))
            stranger = _signed_by(factory, _many_addresses(responder.url, root, root_key))
            Validator(_online(config, responder.url)).validate(anchored)
            reaching = len(responder.requests)
            Validator(_online(config, responder.url)).validate(stranger)
            not_reaching = len(responder.requests) - reaching
        print(f"| requests for 150 OCSP + 150 CRL addresses: chain to the pinned root vs a stranger's "
              f"| {reaching} | {not_reaching} | — |")

        prefixes = tuple(config.revocation_url_prefixes)
        with counting_responder() as responder:
            slow_doc = _signed_by(factory, _many_addresses(responder.url, ca.certificate, ca.key))
            start = time.monotonic()
            Validator(_online(config, *prefixes, responder.url)).validate(base)
            alone = time.monotonic() - start
            responder.delay = args.delay
            shared_validator = Validator(_online(config, *prefixes, responder.url))
            hostile = threading.Thread(target=shared_validator.validate, args=(slow_doc,), daemon=True)
            hostile.start()
            while not responder.requests:
                time.sleep(0.01)
            start = time.monotonic()
            shared_validator.validate(base)
            beside = time.monotonic() - start
            hostile.join()
        print(f"| s: ordinary validation alone vs beside one waiting on a {args.delay:g} s responder "
              f"| {alone:.2f} | {beside:.2f} | {beside / max(alone, 1e-6):.1f} |")
        factory.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
