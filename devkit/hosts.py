"""Several hosts on one machine, for multi-host tests and benchmarks: Linux network namespaces on a bridge.

:func:`host_network` makes a bridge in the machine's own namespace with an
address on a private /24 of its own (the **gateway**, where the shared services
listen: PostgreSQL, Redis, the dev PKI responders), and one network namespace
per host with a veth into the bridge and an address on the same /24. A process
started with :meth:`Host.command` runs in its host's namespace and, through a
UTS namespace of its own, under its host's name, so what it records as its
host (a worker's lease owner, ``host:pid:run``) says which host it ran on.
Only root can do this (``ip netns``), as the tests and CI run.

Everything is torn down when the block ends, even on failure: the hosts'
processes are SIGKILLed, the namespaces deleted (their veths go with them) and
the bridge removed. Traffic never leaves the machine: the addresses are the
bridge's and the namespaces' own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


class HostNetworkError(RuntimeError):
    """The namespaces or the bridge could not be made (not root, no ``ip``, no bridge support)."""


@dataclass(frozen=True)
class Host:
    """One host: a network namespace, its address on the bridge, and the name its processes see."""

    name: str
    namespace: str
    address: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run in this host's namespace, under its host name (an ``exec`` chain: the pid is argv's)."""
        return ["ip", "netns", "exec", self.namespace, "unshare", "--uts",
                "sh", "-c", 'hostname "$0" && exec "$@"', self.name, *argv]

    def pids(self) -> list[int]:
        """Every process running in this host's namespace."""
        done = subprocess.run(["ip", "netns", "pids", self.namespace], capture_output=True, text=True, check=False)
        return [int(pid) for pid in done.stdout.split()]

    def signal(self, signum: int) -> None:
        """Send ``signum`` to every process on this host (SIGSTOP freezes the host, SIGCONT thaws it)."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def kill(self, timeout: float = 10) -> None:
        """SIGKILL everything on this host at once, as a power cut would, and wait until it is gone."""
        deadline = time.monotonic() + timeout
        while pids := self.pids():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise HostNetworkError(f"processes on {self.name} outlived SIGKILL: {pids}")
            time.sleep(0.05)


@dataclass(frozen=True)
class HostNetwork:
    """The bridge's address in the machine's own namespace (``gateway``) and the hosts behind it."""

    gateway: str
    prefix: int
    hosts: tuple[Host, ...]


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise HostNetworkError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.200.0.0/13 that no interface or route of this machine uses yet."""
    taken = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True,
                           check=False).stdout
    for _ in range(100):
        candidate = ipaddress.IPv4Network(f"10.{200 + secrets.randbelow(8)}.{secrets.randbelow(256)}.0/24")
        if str(candidate.network_address).removesuffix("0") not in taken:  # "10.x.y." in no route
            return candidate
    raise HostNetworkError("no free /24 in 10.200.0.0/13")


@contextlib.contextmanager
def host_network(names: Sequence[str]) -> Iterator[HostNetwork]:
    """Hosts called ``names`` on a private bridge, until the block ends; see the module's docstring."""
    if os.geteuid() != 0:
        raise HostNetworkError("network namespaces need root")
    tag = secrets.token_hex(3)  # interface names are at most 15 characters
    bridge = f"pkb{tag}"
    subnet = _free_subnet()
    addresses = list(subnet.hosts())
    gateway = str(addresses[0])
    hosts = tuple(Host(name, f"pakat-{tag}-{n}", str(addresses[n + 1])) for n, name in enumerate(names))
    made: list[Host] = []
    try:
        _ip("link", "add", "name", bridge, "type", "bridge")
        _ip("addr", "add", f"{gateway}/{subnet.prefixlen}", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for n, host in enumerate(hosts):
            outside, inside = f"pkv{tag}{n}", f"pki{tag}{n}"
            _ip("netns", "add", host.namespace)
            made.append(host)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", host.namespace)
            _ip("link", "set", outside, "master", bridge)
            _ip("link", "set", outside, "up")
            _ip("-n", host.namespace, "link", "set", inside, "name", "eth0")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/{subnet.prefixlen}", "dev", "eth0")
            _ip("-n", host.namespace, "link", "set", "eth0", "up")
            _ip("-n", host.namespace, "link", "set", "lo", "up")
        yield HostNetwork(gateway, subnet.prefixlen, hosts)
    finally:
        for host in made:
            with contextlib.suppress(HostNetworkError):
                host.kill()
            # Deleting the namespace deletes its end of the veth, and with it the end on the bridge.
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
