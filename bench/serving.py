"""``pakat serve`` holding hundreds of slow connections: /healthz latency and the server's cost, beside a baseline.

    python bench/serving.py [--connections 500] [--probes 200] [--workers 2] [--threads 4]

It creates its own development PKI (as ``bench/seal.py`` does), starts ``pakat
serve`` on a free loopback port, and measures, in the same run:

- **baseline**: /healthz answered ``--probes`` times one after the other, no other client connected;
- **idle**: the same while ``--connections`` clients each hold a connection on which
  they sent a partial request line (``GET /heal``) and nothing more;
- **slow headers**: the same while as many clients send one header line each every
  two seconds and never finish their headers.

For each it prints the median and 99th percentile latency (and their ratio to the
baseline), the serving processes' resident memory (master and children, summed
from ``/proc``) and their CPU time over the phase. The header deadline is raised
to 600 s for the run, so the slow clients stay connected while they are measured
(under the default 15 s they would be closed, which the tests show).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.services import dev_services, free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def family(pid: int) -> list[int]:
    """``pid`` and its children."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return [pid, *children]


def resident_kb(pids: list[int]) -> int:
    return sum(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB for pid in pids)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def probe(url: str, count: int) -> list[float]:
    """Seconds per /healthz answer, each on a new connection (as a load balancer asks)."""
    times = []
    for _ in range(count):
        began = time.perf_counter()
        answer = requests.get(f"{url}/healthz", timeout=10)
        times.append(time.perf_counter() - began)
        assert answer.status_code == 200
        time.sleep(0.01)
    return times


@contextlib.contextmanager
def slow_clients(port: int, count: int, first: bytes, every: float | None,
                 piece: Callable[[int], bytes]) -> Iterator[None]:
    clients = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(first)
        clients.append(sock)
    stop = threading.Event()

    def trickle() -> None:
        n = 0
        while every is not None and not stop.wait(every):
            for sock in clients:
                with contextlib.suppress(OSError):
                    sock.sendall(piece(n))
            n += 1

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        time.sleep(1)  # every connection accepted and read
        yield
    finally:
        stop.set()
        thread.join(10)
        for sock in clients:
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pakat-bench-serving-") as tmp, dev_services(Path(tmp)) as env:
        port = free_port()
        server_env = {**os.environ, "PAKAT_HOME": tmp, "PAKAT_CONFIG": str(env.deployment_path),
                      "PAKAT_HTTP_HEADER_SECONDS": "600"}
        with (Path(tmp) / "serve.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pakat", "serve", "--port", str(port), "--workers", str(args.workers),
                 "--threads", str(args.threads)], env=server_env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("pakat serve did not start; see its log")
                time.sleep(0.2)
            probe(url, 20)  # warm both processes
            phases: list[tuple[str, Callable[[], contextlib.AbstractContextManager[None]]]] = [
                ("baseline (no other client)", contextlib.nullcontext),
                (f"{args.connections} idle, partial request line",
                 lambda: slow_clients(port, args.connections, b"GET /heal", None, lambda _n: b"")),
                (f"{args.connections} slow headers (a line / 2 s)",
                 lambda: slow_clients(port, args.connections, b"GET /healthz HTTP/1.1\r\nHost: bench\r\n", 2.0,
                                      lambda n: f"X-Slow-{n}: {n}\r\n".encode())),
            ]
            print(f"pakat serve --workers {args.workers} --threads {args.threads}; {args.probes} probes per phase")
            print(f"{'phase':44} {'median ms':>10} {'p99 ms':>8} {'x base':>7} {'RSS MB':>7} {'CPU s':>6}")
            base_median = 0.0
            for name, phase in phases:
                with phase():
                    pids = family(proc.pid)
                    cpu_before = cpu_seconds(pids)
                    times = sorted(probe(url, args.probes))
                    pids = family(proc.pid)
                    rss = resident_kb(pids) / 1024
                    cpu = cpu_seconds(pids) - cpu_before
                median = statistics.median(times) * 1000
                p99 = times[int(len(times) * 0.99) - 1] * 1000
                base_median = base_median or median
                print(f"{name:44} {median:10.2f} {p99:8.2f} {median / base_median:7.2f} {rss:7.1f} {cpu:6.2f}")
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
