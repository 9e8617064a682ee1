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


def test_urls_under_the_prefix_are_admitted() -> None:
    client = HttpClient([PREFIX])
    assert [url for url in ADMITTED if not client.allowed(url)] == []
    assert all(url_under(url, PREFIX) for url in ADMITTED)


def test_look_alikes_are_refused() -> None:
    client = HttpClient([PREFIX])
    assert [url for url in REFUSED if client.allowed(url)] == []
    assert [url for url in REFUSED if url_under(url, PREFIX) or return_url_allowed(url, PREFIX)] == []


def test_each_form_of_prefix_admits_only_what_it_names() -> None:
    # A prefix without a path (``http://pki.example``) is a host: a string prefix of it is another host.
    client = HttpClient(["http://pki.example"])
    assert client.allowed("http://pki.example/ocsp/general-ca")
    look_alikes = ["http://pki.example.evil.com/ocsp", "http://pki.example@evil/ocsp", "http://pki.example:8080/ocsp",
                   "https://pki.example/ocsp", "http://pki.examplex/ocsp"]
    assert [url for url in look_alikes if client.allowed(url)] == []
    # Ending in a slash: strictly below that path.
    client = HttpClient(["http://127.0.0.1:8390/"])
    assert client.allowed("http://127.0.0.1:8390/ocsp/general-ca")
    assert client.allowed("http://127.0.0.1:8390/crl/general-ca.crl")
    assert not client.allowed("http://127.0.0.1:8391/ocsp/general-ca")
    assert not client.allowed("http://127.0.0.10:8390/ocsp/general-ca")
    below = HttpClient(["http://pki.example/ocsp/"])
    assert below.allowed("http://pki.example/ocsp/general-ca")
    assert not below.allowed("http://pki.example/ocsp")
    # With a query (a TSA address may carry one): that address only.
    tsa = HttpClient(["https://tsa.example/stamp?profile=1"])
    assert tsa.allowed("https://tsa.example/stamp?profile=1")
    assert not tsa.allowed("https://tsa.example/stamp?profile=2")
    assert not tsa.allowed("https://tsa.example/stamp/more?profile=1")


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
