"""Allow-listed URL prefixes are compared as URLs: scheme, host, port and whole path segments.

The responders a validator or a signer may contact (``trust.revocation_url_prefixes``)
and a platform's return links share one comparison (:mod:`pakat.urls`); a
string ``startswith`` would admit each of the look-alikes below.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devkit.devsetup import DevEnvironment
from hsm_config.deployment import load_deployment, return_url_allowed
from pakat import errors
from pakat.errors import AccessError
from pakat.urls import url_under
from signer.http import HttpClient

PREFIX = "http://pki.example/ocsp"

ADMITTED = [
    "http://pki.example/ocsp",
    "http://pki.example/ocsp/",
    "http://pki.example/ocsp/general-ca",
    "http://PKI.example/ocsp/general-ca",  # host names are case-insensitive
    "http://pki.example:80/ocsp/general-ca",  # the scheme's own port, written out
]

REFUSED = [
    "http://pki.example/ocsp-evil",
    "http://pki.example/ocspx/general-ca",
    "http://pki.example.evil.com/ocsp",
    "http://pki.example.evil.com/ocsp/general-ca",
    "http://pki.example@evil/ocsp",
    "http://pki.example@evil/ocsp/general-ca",
    "http://user:pw@pki.example/ocsp",
    "http://pki.example:8080/ocsp",
    "https://pki.example/ocsp",
    "ftp://pki.example/ocsp",
    "http://pki.example/ocsp/../admin",
    "http://pki.example/ocsp/%2e%2e/admin",
    "http://pki.example/ocsp%2fadmin",
    "http://pki.example\\@evil/ocsp",
    "http://pki.example/OCSP",  # paths are case-sensitive
    "http://evil/http://pki.example/ocsp",
    "//pki.example/ocsp",
    "pki.example/ocsp",
]


@pytest.mark.parametrize("url", ADMITTED)
def test_urls_under_the_prefix_are_admitted(url: str) -> None:
    assert HttpClient([PREFIX]).allowed(url)
    assert url_under(url, PREFIX)


@pytest.mark.parametrize("url", REFUSED)
def test_look_alikes_are_refused(url: str) -> None:
    assert not HttpClient([PREFIX]).allowed(url)
    assert not url_under(url, PREFIX)
    assert not return_url_allowed(url, PREFIX)


def test_a_prefix_ending_in_a_slash_admits_only_what_is_below_it() -> None:
    client = HttpClient(["http://127.0.0.1:8390/"])
    assert client.allowed("http://127.0.0.1:8390/ocsp/general-ca")
    assert client.allowed("http://127.0.0.1:8390/crl/general-ca.crl")
    assert not client.allowed("http://127.0.0.1:8391/ocsp/general-ca")
    assert not client.allowed("http://127.0.0.10:8390/ocsp/general-ca")
    below = HttpClient(["http://pki.example/ocsp/"])
    assert below.allowed("http://pki.example/ocsp/general-ca")
    assert not below.allowed("http://pki.example/ocsp")


def test_a_tsa_address_with_a_query_admits_only_itself() -> None:
    client = HttpClient(["https://tsa.example/stamp?profile=1"])
    assert client.allowed("https://tsa.example/stamp?profile=1")
    assert not client.allowed("https://tsa.example/stamp?profile=2")
    assert not client.allowed("https://tsa.example/stamp/more?profile=1")


@pytest.mark.parametrize("prefix", ["pki.example/ocsp", "http://user@pki.example/", "http://pki.example/?q=1",
                                    "file:///etc/"])
def test_the_deployment_refuses_a_prefix_that_is_no_plain_url(
    dev_env: DevEnvironment, prefix: str, tmp_path: Path
) -> None:
    source = dev_env.deployment_path
    raw = yaml.safe_load(source.read_text())
    assert raw["trust"]["revocation_url_prefixes"], "the dev deployment allow-lists its responders"
    raw["trust"]["revocation_url_prefixes"] = [prefix]
    config = source.parent / f"prefix-test-{tmp_path.name}.yaml"  # beside it: its relative paths resolve
    config.write_text(yaml.safe_dump(raw, allow_unicode=True))
    try:
        with pytest.raises(AccessError) as caught:
            load_deployment(config)
        assert caught.value.kind is errors.CONFIG_INVALID
        assert "revocation_url_prefixes" in (caught.value.detail or "")
    finally:
        config.unlink()
