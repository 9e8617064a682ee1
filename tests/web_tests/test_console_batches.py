"""Bulk sealing in the console (/console/batches), in-process with Flask's test client and a real worker.

Roles (a viewer reads, an operator seals and deletes), the CSRF token on every
post, another organisation's batch never listed or reached (404), the limits
and refusals of the API's batch form answered with their bilingual message and
code (as JSON to the page's script, as the page without it), the batch owned by
the organisation with the person as the audit log's actor, the progress and
failed items' JSON, the results zip and deletion.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from console_kit import JSON, Console, audit_entries, code_of
from flask import Flask
from markupsafe import escape
from pakat_testkit import check_sealed, pakat_worker, pdf_bytes, unparseable_pdf_bytes
from werkzeug.test import TestResponse

from envelopes import audit
from envelopes.people import Role
from pakat import errors
from signer.levels import PadesLevel

#: The module app's PDF limit: a batch's per-file limit too (Services.batch_limits).
UPLOAD_LIMIT = 256 * 1024


@pytest.fixture(scope="module", autouse=True)
def worker(app: Flask, dev_env: Any, redis_url: str) -> Iterator[None]:
    """A real ``pakat worker`` on the module app's home and queue: it seals what the console sends."""
    settings = app.extensions["pakat"].settings
    env = {"PAKAT_CONFIG": str(settings.config), "REDIS_URL": redis_url, "PAKAT_QUEUE": settings.queue,
           "PAKAT_BATCH_SWEEP_SECONDS": "2"}
    with pakat_worker(settings.home, env):
        yield


class Person(Console):
    """Someone of an organisation signed in to the console, and the new-batch form as they send it."""

    def send(self, *, files: list[tuple[bytes, str]] | None = None, archive: tuple[bytes, str] | None = None,
             script: bool = True, csrf: bool = True, **form: str) -> TestResponse:
        """The new-batch form: as the page's script sends it (header token, JSON answer) or as a plain form."""
        data: dict[str, Any] = dict(form)
        data["files"] = [(io.BytesIO(content), name) for content, name in files or []]
        if archive is not None:
            data["archive"] = (io.BytesIO(archive[0]), archive[1])
        headers: dict[str, str] = {}
        if csrf and script:
            headers = {"X-CSRF-Token": self.csrf(), **JSON}
        elif csrf:
            data["csrf_token"] = self.csrf()
        return self.client.post("/console/batches", data=data, headers=headers, content_type="multipart/form-data")


def batch_of(answer: TestResponse) -> str:
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["url"] == f"/console/batches/{body['id']}" == answer.headers["Location"]
    return str(body["id"])


def wait_finished(person: Person, batch_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = person.client.get(f"/console/batches/{batch_id}/progress", headers=JSON).get_json()
        if view["finished"]:
            return dict(view)
        assert time.monotonic() < deadline, view
        time.sleep(0.3)


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return out.getvalue()


def audit_of(app: Flask, action: str, subject: str) -> list[Any]:
    return [e for e in audit_entries(app) if e.action == action and e.subject == subject]


def test_a_viewer_reads_and_an_operator_seals(app: Flask) -> None:
    viewer, operator = Person(app, "demo-co", Role.VIEWER), Person(app, "demo-co", Role.OPERATOR)
    listed = viewer.client.get("/console/batches")
    assert listed.status_code == 200 and 'id="new-batch"' not in listed.get_data(as_text=True)
    home = viewer.client.get("/console").get_data(as_text=True)
    assert 'href="/console/batches"' in home
    for answer in (viewer.client.get("/console/batches/new"),
                   viewer.send(files=[(pdf_bytes("viewer"), "v.pdf")], script=False),
                   viewer.send(files=[(pdf_bytes("viewer"), "v.pdf")])):
        assert answer.status_code == 403
    assert code_of(viewer.client.get("/console/batches/new")) == "ROLE_FORBIDDEN"
    assert viewer.send(files=[(pdf_bytes("viewer"), "v.pdf")]).get_json()["error"]["code"] == "ROLE_FORBIDDEN"

    assert 'id="new-batch"' in operator.client.get("/console/batches").get_data(as_text=True)
    form = operator.client.get("/console/batches/new").get_data(as_text=True)
    for control in ("files", "archive", "level", "visible", "reason"):
        assert f'for="{control}"' in form and f'id="{control}"' in form
    assert 'id="drop-zone" tabindex="0" role="button"' in form and "/static/console/batches.js" in form

    # A batch a viewer may open (read) but not delete.
    batch = batch_of(operator.send(files=[(pdf_bytes("for the viewer"), "one.pdf")]))
    wait_finished(operator, batch)
    page = viewer.client.get(f"/console/batches/{batch}").get_data(as_text=True)
    assert 'role="progressbar"' in page and f"/console/batches/{batch}/delete" not in page
    assert viewer.client.get(f"/console/batches/{batch}/results.zip").status_code == 200
    assert viewer.client.get(f"/console/batches/{batch}/delete").status_code == 403
    refused = viewer.client.post(f"/console/batches/{batch}/delete", data={"csrf_token": viewer.csrf()})
    assert refused.status_code == 403 and code_of(refused) == "ROLE_FORBIDDEN"
    assert operator.client.get(f"/console/batches/{batch}").status_code == 200  # still there


def test_every_post_needs_the_csrf_token(app: Flask) -> None:
    operator = Person(app, "demo-co", Role.OPERATOR)
    without = operator.send(files=[(pdf_bytes("no token"), "a.pdf")], csrf=False)
    assert without.status_code == 403 and code_of(without) == "CSRF_INVALID"
    wrong = operator.client.post("/console/batches", data={"files": [(io.BytesIO(pdf_bytes()), "a.pdf")]},
                                 headers={"X-CSRF-Token": "x" * 43, **JSON}, content_type="multipart/form-data")
    assert wrong.status_code == 403 and wrong.get_json()["error"]["code"] == "CSRF_INVALID"
    batch = batch_of(operator.send(files=[(pdf_bytes("kept"), "kept.pdf")]))
    wait_finished(operator, batch)
    refused = operator.client.post(f"/console/batches/{batch}/delete")
    assert refused.status_code == 403 and code_of(refused) == "CSRF_INVALID"
    assert operator.client.get(f"/console/batches/{batch}").status_code == 200
    listed = operator.client.get("/console/batches").get_data(as_text=True)
    assert f'id="batch-{batch}"' in listed


def test_a_batch_of_the_console_from_upload_to_deletion(app: Flask, dev_env: Any) -> None:
    operator = Person(app, "demo-co", Role.OPERATOR)
    sent = operator.send(files=[(pdf_bytes("first"), "first.pdf"), (pdf_bytes("second"), "دوم.pdf"),
                                (unparseable_pdf_bytes(), "broken.pdf")], level="B-T", visible="true",
                         reason="Console test")
    batch = batch_of(sent)
    services = app.extensions["pakat"]
    progress = services.batches().progress("demo-co", batch)  # the organisation's, whoever sent it
    assert progress.total == 3 and progress.level == "B-T"
    assert services.batches().options("demo-co", batch).visible
    created = audit_of(app, audit.BATCH_CREATED, batch)
    assert [e.actor for e in created] == [operator.actor]
    assert created[0].details["organisation"] == "demo-co"

    view = wait_finished(operator, batch)
    assert (view["percent"], view["sealed"], view["failed"], view["total"]) == (100, 2, 1, 3)
    assert "۳ از ۳" in view["text"] and view["state_text"] == "پایان‌یافته"
    english = operator.client.get(f"/console/batches/{batch}/progress?lang=en", headers=JSON).get_json()
    assert english["text"] == "3 of 3 done (100%): 2 sealed, 1 failed."

    failed = operator.client.get(f"/console/batches/{batch}/failed", headers=JSON).get_json()["items"]
    assert [(i["number"], i["name"]) for i in failed] == [(2, "broken.pdf")]
    assert failed[0]["code"] and failed[0]["message_fa"] and failed[0]["message_en"]
    page = operator.client.get(f"/console/batches/{batch}").get_data(as_text=True)
    assert 'aria-valuenow="100"' in page
    assert escape(failed[0]["message_fa"]) in page and escape(failed[0]["message_en"]) in page
    assert failed[0]["code"] in page and f'href="/console/batches/{batch}/results.zip"' in page

    listed = operator.client.get("/console/batches").get_data(as_text=True)
    row = listed[listed.index(f'id="batch-{batch}"'):]
    row = row[:row.index("</tr>")]
    assert re.search(r"۱۴[۰-۹]{2}/[۰-۹]{2}/[۰-۹]{2}", row) and "B-T" in row and "۲ / ۱ / ۳" in row

    results = operator.client.get(f"/console/batches/{batch}/results.zip")
    assert results.status_code == 200 and results.mimetype == "application/zip"
    assert results.headers["Cache-Control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(results.get_data())) as zf:
        assert sorted(zf.namelist()) == ["manifest.json", "sealed/first.pdf", "sealed/دوم.pdf"]
        for name in ("sealed/first.pdf", "sealed/دوم.pdf"):
            check_sealed(zf.read(name), dev_env.root_cert_path, PadesLevel.B_T)

    asked = operator.client.get(f"/console/batches/{batch}/delete")
    assert asked.status_code == 200 and 'id="confirm-delete"' in asked.get_data(as_text=True)
    deleted = operator.client.post(f"/console/batches/{batch}/delete", data={"csrf_token": operator.csrf()})
    assert deleted.status_code == 303 and deleted.headers["Location"] == "/console/batches?deleted=1"
    assert [e.actor for e in audit_of(app, audit.BATCH_DELETED, batch)] == [operator.actor]
    gone = operator.client.get(f"/console/batches/{batch}")
    assert gone.status_code == 404 and code_of(gone) == "BATCH_NOT_FOUND"


def test_a_running_batch_is_not_deleted(app: Flask) -> None:
    operator = Person(app, "demo-co", Role.OPERATOR)
    pdfs = [(pdf_bytes(f"running {n}"), f"r{n}.pdf") for n in range(6)]
    batch = batch_of(operator.send(files=pdfs, level="B-T"))
    refused = operator.client.post(f"/console/batches/{batch}/delete", data={"csrf_token": operator.csrf()})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 409 and code_of(refused) == "BATCH_RUNNING"
    assert escape(errors.BATCH_RUNNING.fa) in text and escape(errors.BATCH_RUNNING.en) in text
    assert 'role="progressbar"' in text  # the batch's page again, with the refusal
    assert audit_of(app, audit.BATCH_DELETED, batch) == []
    wait_finished(operator, batch)
    progress = operator.client.get(f"/console/batches/{batch}/progress", headers=JSON)
    assert progress.headers["Cache-Control"] == "no-store"


def test_the_form_works_without_the_script(app: Flask) -> None:
    operator = Person(app, "demo-co", Role.OPERATOR)
    sent = operator.send(archive=(zip_of({"a.pdf": pdf_bytes("a"), "b.pdf": pdf_bytes("b")}), "bids.zip"),
                         files=[(b"", "")], script=False, level="B-B")  # the empty file input a browser sends
    assert sent.status_code == 303
    batch = sent.headers["Location"].rsplit("/", 1)[1]
    assert sent.headers["Location"] == f"/console/batches/{batch}"
    assert wait_finished(operator, batch)["sealed"] == 2
    refused = operator.send(script=False)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400 and code_of(refused) == "BATCH_EMPTY"
    assert "در درخواست هیچ فایل PDF نیست." in text and "The request holds no PDF file." in text


@pytest.mark.parametrize(("form", "code", "status"), [
    ({}, "BATCH_EMPTY", 400),
    ({"files": [(b"plain text, not a PDF", "notes.pdf")]}, "ARCHIVE_MEMBER_NOT_PDF", 415),
    ({"files": [(pdf_bytes("big", pad_to=UPLOAD_LIMIT + 4096), "big.pdf")]}, "ARCHIVE_TOO_LARGE", 413),
    ({"archive": (zip_of({"../escape.pdf": pdf_bytes()}), "evil.zip")}, "ARCHIVE_UNSAFE_PATH", 400),
    ({"archive": (b"PK not really a zip", "broken.zip")}, "ARCHIVE_INVALID", 400),
    ({"files": [(pdf_bytes(), "a.pdf")], "level": "B-XL"}, "LEVEL_UNKNOWN", 400),
    ({"files": [(pdf_bytes(), "a.pdf")], "visible": "perhaps"}, "REQUEST_INVALID", 400),
    ({"files": [(pdf_bytes(), "a.pdf")], "archive": (zip_of({"b.pdf": pdf_bytes()}), "b.zip")},
     "REQUEST_INVALID", 400),
])
def test_limits_and_refusals_come_back_in_both_languages_with_their_code(
    app: Flask, form: dict[str, Any], code: str, status: int
) -> None:
    operator = Person(app, "demo-co", Role.OPERATOR)
    kind = errors.KINDS[code]
    before = len(app.extensions["pakat"].batches().page("demo-co", limit=100).batches)
    answer = operator.send(**form)
    body = answer.get_json()["error"]
    assert answer.status_code == status == kind.http_status
    assert (body["code"], body["message_fa"], body["message_en"]) == (code, kind.fa, kind.en)
    page = operator.send(script=False, **form)
    assert page.status_code == status and code_of(page) == code
    assert escape(kind.fa) in page.get_data(as_text=True) and escape(kind.en) in page.get_data(as_text=True)
    assert len(app.extensions["pakat"].batches().page("demo-co", limit=100).batches) == before


def test_another_organisations_batch_is_never_listed_or_reached(app: Flask) -> None:
    theirs_operator = Person(app, "demo-gov", Role.OPERATOR)
    batch = batch_of(theirs_operator.send(files=[(pdf_bytes("gov"), "gov.pdf")]))
    wait_finished(theirs_operator, batch)
    mine = Person(app, "demo-co", Role.OPERATOR)
    assert batch not in mine.client.get("/console/batches").get_data(as_text=True)
    for path in (f"/console/batches/{batch}", f"/console/batches/{batch}/results.zip",
                 f"/console/batches/{batch}/delete", f"/console/batches?before={batch}"):
        answer = mine.client.get(path)
        assert answer.status_code == 404 and code_of(answer) == "BATCH_NOT_FOUND", path
        assert "gov.pdf" not in answer.get_data(as_text=True)
    for path in (f"/console/batches/{batch}/progress", f"/console/batches/{batch}/failed"):
        answer = mine.client.get(path, headers=JSON)
        assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "BATCH_NOT_FOUND", path
    deleted = mine.client.post(f"/console/batches/{batch}/delete", data={"csrf_token": mine.csrf()})
    assert deleted.status_code == 404 and code_of(deleted) == "BATCH_NOT_FOUND"
    assert theirs_operator.client.get(f"/console/batches/{batch}").status_code == 200


def test_the_list_is_newest_first_and_pages_on(app: Flask) -> None:
    operator = Person(app, "demo-revoked", Role.OPERATOR)  # an organisation no other test sends batches for
    first = batch_of(operator.send(files=[(pdf_bytes("older"), "older.pdf")], level="B-B"))
    second = batch_of(operator.send(files=[(pdf_bytes("newer"), "newer.pdf")], level="B-B"))
    listed = operator.client.get("/console/batches").get_data(as_text=True)
    assert listed.index(f'id="batch-{second}"') < listed.index(f'id="batch-{first}"')
    older = operator.client.get(f"/console/batches?before={second}").get_data(as_text=True)
    assert f'id="batch-{first}"' in older and f'id="batch-{second}"' not in older and 'id="newest"' in older
    assert operator.client.get("/console/batches?before=no-such-batch").status_code == 404


def test_signed_out_people_are_sent_to_sign_in(app: Flask) -> None:
    stranger = app.test_client()
    answer = stranger.get("/console/batches")
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/console/sign-in?next=/console/batches")
    assert stranger.get("/console/batches/abc/progress", headers=JSON).status_code == 401
