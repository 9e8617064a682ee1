"""The pairing link read strictly, and the known PKCS#11 module places per operating system.

Pure functions: no token, no server. The link's secret must never be part of
an error's text or JSON, whichever rule the link breaks.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from agent.link import PairingLink, parse_pairing_link
from agent.modules import ENV_VARIABLE, configured_modules, find_modules, known_modules, looked_in
from envelopes.sessions import pairing_link
from pakat import errors
from pakat.errors import PakatError

SECRET = "Kq3v_9xZ-link-secret-T7mB2wY5pL0nR8cD4fH6"
SESSION = "https://pakat.example.ir/agent/v1/sessions/0123abcd0123abcd0123abcd0123abcd"


def refused(link: str) -> PakatError:
    with pytest.raises(PakatError) as caught:
        parse_pairing_link(link)
    for text in (str(caught.value), json.dumps(caught.value.as_dict()), repr(caught.value)):
        assert SECRET not in text, "the secret leaked into an error"
    return caught.value


def link(session: str = SESSION, secret: str = SECRET, extra: str = "") -> str:
    return f"pakat://sign?session={quote(session, safe='')}&secret={quote(secret, safe='')}{extra}"


# -- the link ---------------------------------------------------------------------------


def test_the_servers_own_link_is_read_back() -> None:
    paired = parse_pairing_link(pairing_link(SESSION, SECRET))
    assert paired == PairingLink(SESSION, SECRET)
    assert SECRET not in repr(paired)


@pytest.mark.parametrize("session", [
    "http://127.0.0.1:8080/agent/v1/sessions/abc",
    "http://localhost:5000/agent/v1/sessions/abc",
    "http://[::1]:5000/agent/v1/sessions/abc",
    "https://pakat.example.ir/prefix/agent/v1/sessions/abc/",
])
def test_loopback_http_and_https_with_a_prefix_are_accepted(session: str) -> None:
    assert parse_pairing_link(link(session)).session_url == session.rstrip("/")


def test_parameters_in_either_order_and_a_trailing_slash_or_spaces_around() -> None:
    text = f"  pakat://sign/?secret={SECRET}&session={quote(SESSION, safe='')}\n"
    assert parse_pairing_link(text) == PairingLink(SESSION, SECRET)


@pytest.mark.parametrize("bad", [
    "",
    "https://pakat.example.ir/agent/v1/sessions/abc",
    link().replace("pakat://", "pakatx://"),
    link().replace("pakat://sign", "pakat://verify"),
    link().replace("pakat://sign", "pakat://sign/extra"),
    link().replace("pakat://sign", "pakat://user@sign"),
    link(extra="&secret=another-secret-value-123"),
    link(extra="&level=B-B"),
    link(extra="#frag"),
    f"pakat://sign?session={quote(SESSION, safe='')}",
    f"pakat://sign?secret={SECRET}",
    link(secret="short"),
    link(secret="has space in it but long enough"),
    link("ftp://pakat.example.ir/agent/v1/sessions/abc"),
    link("https://pakat.example.ir/somewhere/else"),
    link(f"https://pakat.example.ir/agent/v1/sessions/abc?secret={SECRET}"),
    link("https://user:pw@pakat.example.ir/agent/v1/sessions/abc"),
    link("https://pakat.example.ir:99999/agent/v1/sessions/abc"),
    link("not a url"),
    link() + " " + link(),
    link().replace("&", "\n&"),
    "pakat://sign?" + "a=1&" * 3000,
])
def test_malformed_links_are_agent_link_invalid(bad: str) -> None:
    err = refused(bad)
    assert err.kind is errors.AGENT_LINK_INVALID and err.kind.exit_code == 3


@pytest.mark.parametrize("session", [
    "http://pakat.example.ir/agent/v1/sessions/abc",
    "http://10.0.0.5:8080/agent/v1/sessions/abc",
    "http://localhost.example.ir/agent/v1/sessions/abc",
])
def test_plain_http_beyond_this_machine_is_agent_link_insecure(session: str) -> None:
    err = refused(link(session))
    assert err.kind is errors.AGENT_LINK_INSECURE and "https" in (err.detail or "")


def test_error_kinds_have_both_languages() -> None:
    for kind in (errors.AGENT_LINK_INVALID, errors.AGENT_LINK_INSECURE, errors.PKCS11_MODULE_NOT_FOUND,
                 errors.NO_MATCHING_CERTIFICATE, errors.SESSION_ALREADY_SIGNED, errors.SESSION_FAILED):
        assert errors.KINDS[kind.code] is kind
        assert kind.fa and kind.en and kind.fa != kind.en
        assert any("\u0600" <= ch <= "\u06ff" for ch in kind.fa)


# -- the known module places ------------------------------------------------------------------


def test_each_os_has_its_own_places() -> None:
    windows = [m.path for m in known_modules("win32", {"SystemRoot": r"D:\Win", "ProgramFiles": r"D:\Prog"})]
    assert r"D:\Win\System32\ShuttleCsp11_3003.dll" in windows
    assert r"D:\Win\System32\eps2003csp11.dll" in windows
    assert r"D:\Win\System32\eTPKCS11.dll" in windows and r"D:\Win\System32\rtPKCS11ECP.dll" in windows
    assert r"D:\Prog\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll" in windows
    linux = [m.path for m in known_modules("linux", {})]
    assert "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so" in linux and "/usr/lib/libeTPkcs11.so" in linux
    assert "/usr/lib/librtpkcs11ecp.so" in linux and "/usr/lib/softhsm/libsofthsm2.so" in linux
    # Vendors' drivers before OpenSC, which reads the same tokens less well.
    assert linux.index("/usr/lib/libeTPkcs11.so") < linux.index("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so")
    mac = [m.path for m in known_modules("darwin", {})]
    assert "/Library/OpenSC/lib/opensc-pkcs11.so" in mac and not set(mac) & set(windows)
    assert all(m.path.endswith(".dll") for m in known_modules("win32", {}))


def test_only_existing_files_are_found_in_order(tmp_path: Path) -> None:
    present = {"/usr/lib/librtpkcs11ecp.so", "/usr/lib/softhsm/libsofthsm2.so"}
    assert find_modules("linux", {}, exists=present.__contains__, same_file=str) == [
        "/usr/lib/librtpkcs11ecp.so", "/usr/lib/softhsm/libsofthsm2.so",
    ]
    assert find_modules("linux", {}, exists=lambda _p: False) == []


def test_the_environment_adds_modules_first_and_missing_ones_are_skipped(tmp_path: Path) -> None:
    mine = tmp_path / "libvendor-pkcs11.so"
    mine.write_bytes(b"")
    env = {ENV_VARIABLE: f"{tmp_path / 'missing.so'}:{mine}::"}
    assert configured_modules(env, "linux") == [str(tmp_path / "missing.so"), str(mine)]
    found = find_modules("linux", env)
    assert found[0] == str(mine) and str(tmp_path / "missing.so") not in found
    assert looked_in("linux", env)[:2] == [str(tmp_path / "missing.so"), str(mine)]
    # Windows paths hold colons: there the separator is the semicolon.
    assert configured_modules({ENV_VARIABLE: r"C:\a\x.dll;D:\b\y.dll"}, "win32") == [r"C:\a\x.dll", r"D:\b\y.dll"]


def test_one_file_under_two_names_is_found_once(tmp_path: Path) -> None:
    real = tmp_path / "libreal.so"
    real.write_bytes(b"")
    alias = tmp_path / "liballias.so"
    alias.symlink_to(real)
    env = {ENV_VARIABLE: f"{alias}:{real}"}
    found = [p for p in find_modules("linux", env) if p.startswith(str(tmp_path))]
    assert found == [str(alias)]


def test_this_machines_softhsm_is_found_without_configuration() -> None:
    from devkit.softhsm import find_module  # the tests may use devkit; the agent may not

    found = find_modules(env={})
    assert found, "no PKCS#11 module found on the test machine"
    assert Path(find_module()).resolve() in {Path(p).resolve() for p in found}
