"""Where tokens' PKCS#11 modules (drivers) live, per operating system, so a user need not know.

A bidder's token comes with its vendor's driver, installed at a fixed place;
the agent tries the known places of the tokens sold in Iran and the common
international ones, then development's SoftHSM. ``PAKAT_PKCS11_MODULES``
(paths separated by the OS's path separator, ``;`` on Windows, ``:``
elsewhere) adds modules, tried first; ``--module`` replaces the search.

Where a name came from is said beside it. Names marked *best guess* were not
found in vendor documentation at hand: they follow the vendor's naming for
its other products and cost nothing when absent, but may be wrong; the
environment variable is the way to add the right one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

ENV_VARIABLE = "PAKAT_PKCS11_MODULES"


@dataclass(frozen=True)
class KnownModule:
    """One place a vendor's PKCS#11 module is installed."""

    path: str
    vendor: str


def _system32(env: Mapping[str, str]) -> str:
    # Vendor installers copy their PKCS#11 DLL into System32 (a 64-bit Python loads the 64-bit one from there).
    return env.get("SystemRoot", r"C:\Windows") + r"\System32"


def _program_files(env: Mapping[str, str]) -> str:
    return env.get("ProgramFiles", r"C:\Program Files")


def _windows(env: Mapping[str, str]) -> tuple[KnownModule, ...]:
    system32, programs = _system32(env), _program_files(env)
    return (
        # Feitian ePass3003 (sold in Iran as ePass3003 / ePass3003 Auto): the driver name Iranian CAs'
        # installation guides give for it.
        KnownModule(rf"{system32}\ShuttleCsp11_3003.dll", "Feitian ePass3003"),
        # Feitian ePass2003: the name in Feitian's ePass2003 middleware and OpenSC's notes on the token.
        KnownModule(rf"{system32}\eps2003csp11.dll", "Feitian ePass2003"),
        # SecureMetric SecureToken ST3: best guess, after the vendor's "<model>csp11.dll" naming; its
        # developer guide (SecureToken ST3 Developers Guide 1.1) was not at hand to confirm the file name.
        KnownModule(rf"{system32}\st3csp11.dll", "SecureMetric SecureToken ST3 (best guess)"),
        # SafeNet (Thales) eToken: SafeNet Authentication Client's documented PKCS#11 library.
        KnownModule(rf"{system32}\eTPKCS11.dll", "SafeNet eToken"),
        # Thales (Gemalto) IDPrime: the IDPrime MD / SafeNet Minidriver PKCS#11 library.
        KnownModule(rf"{system32}\IDPrimePKCS11.dll", "Thales IDPrime"),
        # Rutoken: Aktiv's documented PKCS#11 library (rtPKCS11ECP).
        KnownModule(rf"{system32}\rtPKCS11ECP.dll", "Rutoken"),
        # OpenSC: its Windows installer's default folder. Last of the tokens' drivers: a vendor's own is better.
        KnownModule(rf"{programs}\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll", "OpenSC"),
        # SoftHSM2 for Windows (development): the installer's default folder.
        KnownModule(r"C:\SoftHSM2\lib\softhsm2-x64.dll", "SoftHSM2 (development)"),
    )


_LINUX = (
    # Feitian ePass2003 / ePass3003 Linux middleware: best guess (the SDK's libcastle, as packaged by Feitian).
    KnownModule("/usr/lib/libcastle.so.1.0.0", "Feitian ePass2003/3003 (best guess)"),
    # SafeNet Authentication Client for Linux.
    KnownModule("/usr/lib/libeTPkcs11.so", "SafeNet eToken"),
    # Thales IDPrime (SafeNet Authentication Client for Linux).
    KnownModule("/usr/lib/libIDPrimePKCS11.so", "Thales IDPrime"),
    # Rutoken: Aktiv's librtpkcs11ecp package.
    KnownModule("/usr/lib/librtpkcs11ecp.so", "Rutoken"),
    KnownModule("/usr/lib/x86_64-linux-gnu/librtpkcs11ecp.so", "Rutoken"),
    # OpenSC (Debian/Ubuntu, Fedora, generic).
    KnownModule("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so", "OpenSC"),
    KnownModule("/usr/lib64/opensc-pkcs11.so", "OpenSC"),
    KnownModule("/usr/lib/opensc-pkcs11.so", "OpenSC"),
    # SoftHSM2 for development, in the order devkit.softhsm looks (SOFTHSM2_CONF picks the tokens).
    KnownModule("/usr/lib/softhsm/libsofthsm2.so", "SoftHSM2 (development)"),
    KnownModule("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "SoftHSM2 (development)"),
    KnownModule("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "SoftHSM2 (development)"),
    KnownModule("/usr/lib64/pkcs11/libsofthsm2.so", "SoftHSM2 (development)"),
    KnownModule("/usr/local/lib/softhsm/libsofthsm2.so", "SoftHSM2 (development)"),
)

_MACOS = (
    # Feitian ePass2003 for macOS: best guess, as for Linux.
    KnownModule("/usr/local/lib/libcastle.1.0.0.dylib", "Feitian ePass2003/3003 (best guess)"),
    # SafeNet Authentication Client for macOS.
    KnownModule("/usr/local/lib/libeTPkcs11.dylib", "SafeNet eToken"),
    KnownModule("/Library/Frameworks/eToken.framework/Versions/A/libIDPrimePKCS11.dylib", "Thales IDPrime"),
    KnownModule("/Library/Frameworks/rtpkcs11ecp.framework/rtpkcs11ecp", "Rutoken"),
    KnownModule("/Library/OpenSC/lib/opensc-pkcs11.so", "OpenSC"),
    KnownModule("/opt/homebrew/lib/softhsm/libsofthsm2.so", "SoftHSM2 (development)"),
    KnownModule("/usr/local/lib/softhsm/libsofthsm2.so", "SoftHSM2 (development)"),
)


def known_modules(platform: str = sys.platform, env: Mapping[str, str] | None = None) -> tuple[KnownModule, ...]:
    """The known places for ``platform`` (``sys.platform`` values), most specific driver first."""
    env = os.environ if env is None else env
    if platform.startswith("win"):
        return _windows(env)
    if platform == "darwin":
        return _MACOS
    return _LINUX


def configured_modules(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> list[str]:
    """The modules named in ``PAKAT_PKCS11_MODULES``, in order (empty entries ignored)."""
    env = os.environ if env is None else env
    separator = ";" if platform.startswith("win") else ":"
    return [part.strip() for part in env.get(ENV_VARIABLE, "").split(separator) if part.strip()]


def find_modules(
    platform: str = sys.platform,
    env: Mapping[str, str] | None = None,
    exists: Callable[[str], bool] = os.path.isfile,
    same_file: Callable[[str], str] = os.path.realpath,
) -> list[str]:
    """The PKCS#11 modules present: configured ones first, then the known places that exist.

    A file reached by two names (SoftHSM's Debian symlink) is listed once, by
    the first name: loading one library twice would show every token twice.
    """
    candidates: Sequence[str] = [
        *configured_modules(env, platform), *(known.path for known in known_modules(platform, env))
    ]
    found: list[str] = []
    seen: set[str] = set()
    for path in candidates:
        if not exists(path):
            continue
        key = same_file(path)
        if key in seen:
            continue
        seen.add(key)
        found.append(path)
    return found


def looked_in(platform: str = sys.platform, env: Mapping[str, str] | None = None) -> list[str]:
    """Every place :func:`find_modules` looks, for the error that says none was found."""
    return [*configured_modules(env, platform), *(known.path for known in known_modules(platform, env))]
