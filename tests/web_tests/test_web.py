"""The web app against the real dev PKI and SoftHSM: sealing over HTTP and every refusal.

Most tests use Flask's test client on one application (one HSM login for the
module); the last ones run a real ``pakat serve`` (waitress in forked
processes) and seal over a socket, several requests at once.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from pakat_testkit import (
    BAD_INPUTS,
    api_key,
    assert_no_secret,
    check_sealed,
    pakat_server,
    pdf_bytes,
    secrets_of,
    sha256,
)
from pyhanko.pdf_utils.reader import PdfFileReader

from signer.levels import PadesLevel
from web import UPLOAD_MARGIN_BYTES, create_app
from web.uploads import UploadRequest

SAMPLE = pdf_bytes("Envelope B, technical offer", pages=2)
# The module's app runs with a small PDF limit so that "too large" is cheap to test;
# every sample PDF here is far below it.
UPLOAD_LIMIT = 100_000


@pytest.fixture(scope="module")
def secrets(dev_env: Any) -> list[str]:
    return secrets_of(dev_env)


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture, secrets: list[str]) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert_no_secret([caplog.text], secrets)


def post_seal(client: FlaskClient, key: str | None, data: dict[str, Any] | None = None,
              pdf: bytes | None = SAMPLE, filename: str = "envelope.pdf") -> Any:
    form: dict[str, Any] = dict(data or {})
    if pdf is not None:
        form["pdf"] = (io.BytesIO(pdf), filename)
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    response = client.post("/api/v1/seal", data=form, headers=headers, content_type="multipart/form-data")
    response.get_data()  # read the streamed file before closing it
    response.close()
    return response


def assert_error(response: Any, status: int, code: str, secrets: list[str]) -> dict[str, Any]:
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()["error"]
    assert body["code"] == code
    assert body["message_fa"] and body["message_en"]
    assert_no_secret([response.data, str(response.headers)], secrets)
    return dict(body)


# -- the service is up ---------------------------------------------------------------

def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": "0.1.0"}


def test_index_page_is_persian_first_and_self_contained(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in page
    assert page.index("پاکت") < page.index("Pakat")
    assert 'lang="en" dir="ltr"' in page
    # No CDN: every stylesheet, script and image comes from this server.
    assert "src=\"http" not in page and "href=\"http" not in page and "//" not in page.split("<pre")[0]
    with client.get("/static/pakat.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"


def test_unknown_url_and_wrong_method_answer_json(client: FlaskClient, secrets: list[str]) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "NOT_FOUND", secrets)
    response = client.get("/api/v1/seal")
    assert_error(response, 405, "METHOD_NOT_ALLOWED", secrets)
    assert "POST" in response.headers["Allow"]


# -- sealing -------------------------------------------------------------------------

@pytest.mark.parametrize("level", list(PadesLevel), ids=lambda lv: lv.value)
def test_seal_each_level(client: FlaskClient, dev_env: Any, level: PadesLevel) -> None:
    response = post_seal(client, api_key(dev_env, "demo-co"), {"level": level.value})
    assert response.status_code == 200, response.data[:500]
    assert response.mimetype == "application/pdf"
    assert response.headers["X-Pakat-Level"] == level.value
    assert response.headers["X-Pakat-SHA256"] == sha256(response.data)
    assert int(response.headers["Content-Length"]) == len(response.data)
    assert 'filename=envelope-sealed.pdf' in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    check_sealed(response.data, dev_env.root_cert_path, level)


def test_seal_defaults_to_b_b_and_records_reason_location_contact(client: FlaskClient, dev_env: Any) -> None:
    response = post_seal(
        client, api_key(dev_env, "demo-gov"),
        {"organisation": "demo-gov", "reason": "پاکت ب — پیشنهاد فنی", "location": "تهران",
         "contact": "tender@example.ir"},
        filename="پاکت-ب.pdf",
    )
    assert response.status_code == 200, response.data[:500]
    assert response.headers["X-Pakat-Level"] == "B-B"
    # Persian file names survive, as RFC 5987 filename*.
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    assert "-sealed.pdf" in response.headers["Content-Disposition"]
    check_sealed(response.data, dev_env.root_cert_path, PadesLevel.B_B)
    sig = PdfFileReader(io.BytesIO(response.data)).embedded_regular_signatures[0].sig_object
    assert sig["/Reason"] == "پاکت ب — پیشنهاد فنی"
    assert sig["/Location"] == "تهران"
    assert sig["/ContactInfo"] == "tender@example.ir"


def test_level_names_are_forgiving(client: FlaskClient, dev_env: Any) -> None:
    response = post_seal(client, api_key(dev_env, "demo-co"), {"level": "b-t"})
    assert response.status_code == 200, response.data[:500]
    assert response.headers["X-Pakat-Level"] == "B-T"


# -- refusals --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_pdf_is_refused(client: FlaskClient, dev_env: Any, secrets: list[str], name: str) -> None:
    data, code = BAD_INPUTS[name]
    response = post_seal(client, api_key(dev_env, "demo-co"), {"level": "B-LTA"}, pdf=data)
    error = assert_error(response, 422, code, secrets)
    assert "Traceback" not in str(error)


def test_missing_pdf(client: FlaskClient, dev_env: Any, secrets: list[str]) -> None:
    assert_error(post_seal(client, api_key(dev_env, "demo-co"), {"level": "B-B"}, pdf=None),
                 400, "PDF_MISSING", secrets)


def test_unknown_level(client: FlaskClient, dev_env: Any, secrets: list[str]) -> None:
    error = assert_error(post_seal(client, api_key(dev_env, "demo-co"), {"level": "B-XL"}),
                         400, "LEVEL_UNKNOWN", secrets)
    assert error["detail"] == "B-XL"


@pytest.mark.parametrize("header", [None, "", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"])
def test_api_key_missing(client: FlaskClient, secrets: list[str], header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = client.post("/api/v1/seal", headers=headers,
                           data={"pdf": (io.BytesIO(SAMPLE), "a.pdf")}, content_type="multipart/form-data")
    assert_error(response, 401, "API_KEY_MISSING", secrets)


def test_api_key_invalid_is_not_echoed(client: FlaskClient, secrets: list[str]) -> None:
    wrong = "not-a-real-key-8c1f0e7d"
    response = post_seal(client, wrong)
    error = assert_error(response, 401, "API_KEY_INVALID", secrets)
    assert wrong not in response.get_data(as_text=True) and "detail" not in error


def test_key_of_another_organisation(client: FlaskClient, dev_env: Any, secrets: list[str]) -> None:
    response = post_seal(client, api_key(dev_env, "demo-co"), {"organisation": "demo-gov"})
    assert assert_error(response, 403, "ORGANISATION_FORBIDDEN", secrets)["detail"] == "demo-gov"


def test_unknown_organisation(client: FlaskClient, dev_env: Any, secrets: list[str]) -> None:
    response = post_seal(client, api_key(dev_env, "demo-co"), {"organisation": "no-such-org"})
    assert_error(response, 404, "UNKNOWN_ORGANISATION", secrets)


@pytest.mark.parametrize(("org_id", "code"), [("demo-revoked", "SEAL_CERT_REVOKED"),
                                              ("demo-expired", "SEAL_CERT_EXPIRED")])
def test_refused_seal_certificate(client: FlaskClient, dev_env: Any, secrets: list[str],
                                  org_id: str, code: str) -> None:
    response = post_seal(client, api_key(dev_env, org_id), {"level": "B-T"})
    assert_error(response, 422, code, secrets)


def test_oversized_pdf(client: FlaskClient, dev_env: Any, secrets: list[str]) -> None:
    key = api_key(dev_env, "demo-co")
    # Just over the limit: passes the upload cap, refused by the seal service.
    response = post_seal(client, key, pdf=pdf_bytes(pad_to=UPLOAD_LIMIT + 5_000))
    assert_error(response, 413, "PDF_TOO_LARGE", secrets)
    # Far over: refused by the upload cap while streaming.
    response = post_seal(client, key, pdf=pdf_bytes(pad_to=UPLOAD_LIMIT + UPLOAD_MARGIN_BYTES + 50_000))
    assert_error(response, 413, "PDF_TOO_LARGE", secrets)
    # Under the limit still works.
    response = post_seal(client, key, pdf=pdf_bytes(pad_to=UPLOAD_LIMIT // 2))
    assert response.status_code == 200, response.data[:500]


def test_internal_errors_hide_their_details(app: Flask, caplog: pytest.LogCaptureFixture,
                                            secrets: list[str]) -> None:
    # A fresh app with the same wiring: the shared one must not gain a route.
    probe = create_app(app.extensions["pakat"].settings)

    @probe.get("/boom")
    def boom() -> str:
        raise RuntimeError("database password is hunter2")

    response = probe.test_client().get("/boom")
    error = assert_error(response, 500, "INTERNAL", secrets)
    assert "hunter2" not in response.get_data(as_text=True) and "detail" not in error
    assert "Traceback" in caplog.text and "RuntimeError" in caplog.text


def test_uploads_are_streamed_to_named_files_in_pakat_tmp(app: Flask) -> None:
    with app.test_request_context("/api/v1/seal", method="POST",
                                  data={"pdf": (io.BytesIO(SAMPLE), "a.pdf")}):
        from flask import request

        assert isinstance(request._get_current_object(), UploadRequest)  # type: ignore[attr-defined]
        stream = request.files["pdf"].stream
        path = Path(stream.name)
        assert path.parent == Path(app.config["PAKAT_TMP"])
        stream.flush()
        assert path.read_bytes() == SAMPLE
    assert not path.exists()


# -- a real server -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path, int]]:
    home = tmp_path_factory.mktemp("serve-home")
    with pakat_server(dev_env.deployment_path, home, workers=2) as (url, log_path, pid):
        yield url, home / "tmp", log_path, pid


def test_real_server_seals_concurrently(server: tuple[str, Path, Path, int], dev_env: Any,
                                        secrets: list[str]) -> None:
    url, tmp, log_path, _ = server
    key = api_key(dev_env, "demo-co")
    levels = [PadesLevel.B_B, PadesLevel.B_T, PadesLevel.B_LT, PadesLevel.B_LTA] * 2

    def seal(level: PadesLevel) -> tuple[PadesLevel, requests.Response]:
        response = requests.post(f"{url}/api/v1/seal", headers={"Authorization": f"Bearer {key}"},
                                 data={"level": level.value},
                                 files={"pdf": ("envelope.pdf", SAMPLE, "application/pdf")}, timeout=120)
        return level, response

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(seal, levels))
    for level, response in results:
        assert response.status_code == 200, response.text[:500]
        assert response.headers["X-Pakat-SHA256"] == sha256(response.content)
        check_sealed(response.content, dev_env.root_cert_path, level)

    refused = requests.post(f"{url}/api/v1/seal", headers={"Authorization": f"Bearer {key}"},
                            files={"pdf": ("x.pdf", b"not a pdf at all", "application/pdf")}, timeout=30)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "NOT_A_PDF"
    assert list(tmp.iterdir()) == []
    assert_no_secret([log_path.read_bytes()], secrets)
    assert b"Traceback" not in log_path.read_bytes()


def _loads_pkcs11_module(pid: int, module: str) -> bool:
    return Path(module).name in Path(f"/proc/{pid}/maps").read_text()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_pkcs11_is_initialised_only_after_fork(server: tuple[str, Path, Path, int], dev_env: Any) -> None:
    """The serving master never loads the PKCS#11 module; the processes that sealed did."""
    url, _, _, master = server
    headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    response = requests.post(f"{url}/api/v1/seal", headers=headers,
                             files={"pdf": ("e.pdf", SAMPLE, "application/pdf")}, timeout=60)
    assert response.status_code == 200, response.text[:500]
    module = dev_env.softhsm_module
    assert not _loads_pkcs11_module(master, module)
    workers = _children(master)
    assert len(workers) == 2
    assert any(_loads_pkcs11_module(pid, module) for pid in workers)
