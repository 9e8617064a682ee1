"""Audit log benchmark: what an audit entry adds to a state change, and what verifying costs.

    python bench/audit.py [--count 500] [--database-url URL]

Baseline, in the same process on the same database: the same write (one row
inserted in its own transaction) without its audit entry. Then the write with
its ``batch.item_sealed``-shaped entry appended in the same transaction, as the
batch engine does, and ``AuditLog.verify`` over the whole chain. The default
database is a fresh SQLite file; pass a PostgreSQL URL to measure that.
Absolute times drift on a shared machine; read the ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500, help="state changes per run")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()

    from sqlalchemy import insert

    from envelopes import audit
    from envelopes.audit import AuditLog
    from envelopes.database import Database, documents, utcnow
    from envelopes.schema import upgrade

    with tempfile.TemporaryDirectory(prefix="pakat-bench-audit-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'pakat.db'}"
        upgrade(url)
        database = Database(url)
        trail = AuditLog(database)

        def write(prefix: str, n: int, with_entry: bool) -> None:
            with database.write() as conn:
                now = utcnow()
                conn.execute(insert(documents).values(id=f"{prefix}-{n}", organisation="demo-co", name="x.pdf",
                                                      pages=1, head=0, created_at=now, updated_at=now))
                if with_entry:
                    trail.append(conn, audit.BATCH_ITEM_SEALED, actor="system:bench", subject="batch-1",
                                 details={"item": n, "output_sha256": hashlib.sha256(b"%d" % n).hexdigest()})

        timings = {}
        for label, with_entry in (("bare", False), ("audited", True)):
            began = time.perf_counter()
            for n in range(args.count):
                write(label, n, with_entry)
            timings[label] = (time.perf_counter() - began) * 1000 / args.count
        began = time.perf_counter()
        verdict = trail.verify()
        verify_ms = (time.perf_counter() - began) * 1000
        assert verdict.ok and verdict.checked == args.count, verdict
        database.dispose()

    print(f"# Pakat audit benchmark — {url.split(':', 1)[0]}, {args.count} writes each\n")
    print("| write | ms per write | ratio to the bare write |")
    print("|---|---|---|")
    print(f"| bare (baseline) | {timings['bare']:.2f} | 1.00× |")
    print(f"| with its audit entry | {timings['audited']:.2f} | {timings['audited'] / timings['bare']:.2f}× |")
    print(f"\nverify over {verdict.checked} entries: {verify_ms:.0f} ms "
          f"({verify_ms * 1000 / verdict.checked:.0f} µs per entry)")


if __name__ == "__main__":
    main()
