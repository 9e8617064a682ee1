"""Rate limits, lockouts and trusted proxies from the deployment file.

.. code-block:: yaml

    limits:
      requests:                 # "count/seconds": at most count requests in each window of seconds
        anonymous: 600/60       # every request without a valid API key, per client address (an office
                                # behind one NAT: each open signing page polls 20 times a minute)
        validate: 5/60          # anonymous validations (API and page), per client address: they cost CPU
        api_key: 1200/60        # every request with an API key, per key
        session: 120/60         # agent and signing-page calls, per signing session
      lockout:                  # wrong API keys, agent secrets or view tokens from one client address
        failures: 10            # this many within
        seconds: 300            # this window lock the address out for
        lock_seconds: 900       # this long (and write one audit entry)
    trusted_proxies: [10.0.0.5, 192.168.10.0/24]   # only these may say who the client is (X-Forwarded-For)

Every entry is optional; the defaults are :data:`DEFAULT_THROTTLING`'s. An
address not in ``trusted_proxies`` is the client, whatever X-Forwarded-For says.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pakat import errors
from pakat.errors import AccessError

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Rate:
    """At most ``count`` requests in each window of ``seconds``."""

    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}"


@dataclass(frozen=True)
class Lockout:
    """``failures`` wrong credentials within ``seconds`` lock the address out for ``lock_seconds``."""

    failures: int = 10
    seconds: int = 300
    lock_seconds: int = 900


@dataclass(frozen=True)
class Throttling:
    """The deployment's request limits, lockout and trusted proxies."""

    anonymous: Rate = Rate(600, 60)
    validate: Rate = Rate(5, 60)
    api_key: Rate = Rate(1200, 60)
    session: Rate = Rate(120, 60)
    lockout: Lockout = Lockout()
    trusted_proxies: tuple[IpNetwork, ...] = field(default=())


DEFAULT_THROTTLING = Throttling()
_RATES = ("anonymous", "validate", "api_key", "session")
_MAX_SECONDS = 7 * 24 * 3600


def parse_throttling(limits: Any, proxies: Any, source: Path) -> Throttling:
    """``limits.requests``, ``limits.lockout`` and ``trusted_proxies`` of a deployment; else CONFIG_INVALID."""
    limits = limits or {}
    if not isinstance(limits, dict):
        raise AccessError(errors.CONFIG_INVALID, f"{source}: limits must be a mapping")
    found = DEFAULT_THROTTLING
    requests = limits.get("requests") or {}
    if not isinstance(requests, dict) or set(requests) - set(_RATES):
        raise AccessError(errors.CONFIG_INVALID, f"{source}: limits.requests takes {', '.join(_RATES)}")
    rates: dict[str, Any] = {name: _rate(value, f"{source}: limits.requests.{name}")
                             for name, value in requests.items()}
    found = replace(found, **rates)
    lockout = limits.get("lockout") or {}
    if not isinstance(lockout, dict) or set(lockout) - {"failures", "seconds", "lock_seconds"}:
        raise AccessError(errors.CONFIG_INVALID, f"{source}: limits.lockout takes failures, seconds, lock_seconds")
    values = {name: _whole(value, f"{source}: limits.lockout.{name}") for name, value in lockout.items()}
    found = replace(found, lockout=replace(found.lockout, **values))
    return replace(found, trusted_proxies=_networks(proxies, source))


def _rate(raw: Any, where: str) -> Rate:
    count, _, seconds = str(raw).partition("/")
    if not (count.strip().isdigit() and seconds.strip().isdigit()):
        raise AccessError(errors.CONFIG_INVALID, f"{where} must be count/seconds, e.g. 5/60")
    return Rate(_whole(int(count), where), _whole(int(seconds), where))


def _whole(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MAX_SECONDS:
        raise AccessError(errors.CONFIG_INVALID, f"{where} must be a whole number from 1 to {_MAX_SECONDS}")
    return value


def _networks(raw: Any, source: Path) -> tuple[IpNetwork, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise AccessError(errors.CONFIG_INVALID, f"{source}: trusted_proxies must be a list of addresses")
    try:
        return tuple(ipaddress.ip_network(str(entry), strict=False) for entry in raw)
    except ValueError as exc:
        raise AccessError(errors.CONFIG_INVALID, f"{source}: trusted_proxies: {exc}") from None
