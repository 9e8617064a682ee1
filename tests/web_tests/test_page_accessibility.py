"""Every HTML page of the app is accessible (issue 16): labels, names, one <h1>, focus, contrast, 390 px.

Part one renders, in process with Flask's test client and in Persian and English,
every page a person can open: each GET rule of ``app.url_map`` without variables
(so a new page is covered as soon as it is registered), fetched signed out and as
an administrator, plus the pages of real objects (a tender with an envelope and
its signing page, a batch, an API key's revoke page), the validation report, and
the error pages (404, 403 ROLE_FORBIDDEN). Each HTML answer is parsed with
``html.parser`` and must have: ``<html lang dir>``; one ``<h1>``; a label
(``<label for>``, an enclosing ``<label>``, ``aria-label`` or ``aria-labelledby``)
on every visible input, select and textarea; a name (text, ``aria-label`` or an
image's alt) on every link and button; ``alt`` on every image; unique ids; no
positive ``tabindex``; ``<th scope>`` in tables.

Part two, in a real headless Chromium against the same app served over loopback,
for a sample of pages in Persian and English: text, links and buttons contrast
at least 4.5:1 with what is behind them (computed colours), every link, button
and field reached by Tab shows a focus outline, and nothing scrolls sideways at
390 px. Screenshots at 1280 and 390 px go to a folder that is printed.
"""

from __future__ import annotations

import html
import io
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from browser_kit import screenshot_folder
from console_kit import Console, at_width, browser_sign_in
from flask import Flask
from flask.testing import FlaskClient
from pakat_testkit import pdf_bytes
from werkzeug.serving import make_server

from envelopes.people import Role
from envelopes.sealing import SealService
from hsm_config.deployment import load_deployment
from signer.levels import PadesLevel

LANGS = ("fa", "en")
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
#: Fields a person does not see or operate (a hidden input carries data; the others are not fields).
UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}
#: Paths whose GET answers are not pages (downloads, JSON, probes): the walk skips what is not text/html anyway.
NOT_PAGES = ("/api/v1/", "/agent/", "/static/", "/metrics", "/healthz", "/readyz")


# ---------------------------------------------------------------- part one: the markup


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None
    children: list[Node] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def all_text(self) -> str:
        """The text a screen reader reads for this element: its text and its images' alt."""
        parts = list(self.text)
        for child in self.children:
            if child.tag == "img":
                parts.append(child.attrs.get("alt", ""))
            elif "hidden" not in child.attrs and child.attrs.get("aria-hidden") != "true":
                parts.append(child.all_text())
        return " ".join(p.strip() for p in parts if p.strip())


class Tree(HTMLParser):
    """An HTML document as a tree of ``Node`` (enough of HTML's rules for our own templates)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:  # a stray end tag is ignored, as browsers do
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        if self.current.tag not in ("script", "style"):
            self.current.text.append(data)


def hidden(node: Node) -> bool:
    """Not shown to anyone: the node or an ancestor has ``hidden``, or it is a template."""
    return any("hidden" in n.attrs or n.tag == "template" for n in (node, *node.ancestors()))


def problems_in(html: str) -> list[str]:
    """What the page breaks of the markup rules (empty when it keeps them all)."""
    tree = Tree(html)
    nodes = list(tree.root.walk())
    found: list[str] = []
    by_id: dict[str, int] = {}
    for node in nodes:
        if "id" in node.attrs:
            by_id[node.attrs["id"]] = by_id.get(node.attrs["id"], 0) + 1
    found += [f"id {key!r} is used {count} times" for key, count in by_id.items() if count > 1]
    labelled = {n.attrs.get("for") for n in nodes if n.tag == "label" and n.attrs.get("for")}

    html_nodes = [n for n in nodes if n.tag == "html"]
    if len(html_nodes) != 1 or not html_nodes[0].attrs.get("lang") or not html_nodes[0].attrs.get("dir"):
        found.append("<html> needs lang and dir")
    headings = [n for n in nodes if n.tag == "h1" and not hidden(n)]
    if len(headings) != 1:
        found.append(f"{len(headings)} <h1> (one is needed)")

    for node in nodes:
        described = f"<{node.tag} {' '.join(f'{k}={v!r}' for k, v in node.attrs.items() if k != 'value')}>"
        aria_name = node.attrs.get("aria-label", "").strip() or any(
            part in by_id for part in node.attrs.get("aria-labelledby", "").split())
        if node.tag in ("input", "select", "textarea") and not hidden(node) \
                and node.attrs.get("type", "text") not in UNLABELLED_TYPES:
            wrapped = any(a.tag == "label" for a in node.ancestors())
            if not (aria_name or wrapped or (node.attrs.get("id") and node.attrs["id"] in labelled)):
                found.append(f"{described} has no label")
        if node.tag in ("a", "button") and not hidden(node) and not (aria_name or node.all_text()):
            found.append(f"{described} has no text")
        if node.tag == "input" and node.attrs.get("type") in ("submit", "button") \
                and not (aria_name or node.attrs.get("value", "").strip()):
            found.append(f"{described} has no text")
        if node.tag == "img" and "alt" not in node.attrs:
            found.append(f"{described} has no alt")
        if node.tag == "label" and node.attrs.get("for") and node.attrs["for"] not in by_id:
            found.append(f"{described} labels nothing (no such id)")
        for reference in ("aria-describedby", "aria-labelledby", "aria-controls"):
            missing = [part for part in node.attrs.get(reference, "").split() if part not in by_id]
            if missing:
                found.append(f"{described} {reference} names no element: {missing}")
        tabindex = node.attrs.get("tabindex", "")
        if tabindex.lstrip("-").isdigit() and int(tabindex) > 0:
            found.append(f"{described} has a positive tabindex")
        if node.tag == "th" and node.attrs.get("scope") not in ("col", "row", "colgroup", "rowgroup"):
            found.append(f"{described} has no scope")
        if node.tag == "table" and not any(n.tag == "th" for n in node.walk()):
            found.append(f"{described} has no header cells")
    return found


@dataclass
class Site:
    """The app with real objects in it, and the pages of those objects."""

    app: Flask
    admin: Console
    guest: Console
    viewer: Console
    object_pages: list[str]
    sealed: bytes


@pytest.fixture(scope="module")
def site(app: Flask, dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Site:
    admin, guest, viewer = Console(app, "demo-co", Role.ADMIN), Console(app), Console(app, "demo-co", Role.VIEWER)
    (platform,) = app.extensions["pakat"].tenders().platforms("demo-co")
    page = admin.submit("/console/tenders", 201, {
        "platform": str(platform.api_key_sha256), "reference": f"A11Y-{uuid.uuid4().hex[:6]}",
        "title_fa": "خرید تجهیزات شبکه", "title_en": "Network equipment purchase",
        "deadline": (datetime.now(UTC) + timedelta(days=3)).isoformat()})
    (tender_id,) = set(re.findall(r'data-tender="([0-9a-f]{32})"', page))
    page = admin.submit(f"/console/tenders/{tender_id}/envelopes", 201, {
        "kind": "B", "bidder_national_id": "14000123453", "bidder_name_fa": "شرکت نمونه پاکت",
        "bidder_name_en": "Pakat Demo Co.", "signatories": "۰۰۱۲۳۴۵۶۷۸, مدیرعامل", "min_assurance": "",
        "seal_required": "yes"})
    (envelope_id,) = set(re.findall(r'data-envelope="([0-9a-f]{32})"', page))
    envelope = f"/console/tenders/{tender_id}/envelopes/{envelope_id}"
    page = admin.submit(f"{envelope}/documents", 201, {"pdf": [(io.BytesIO(pdf_bytes("guarantee")), "ضمانت.pdf")]})
    (document_id,) = set(re.findall(r'id="doc-([0-9a-f]{32})"', page))
    page = admin.submit(f"{envelope}/documents/{document_id}/sessions", 201, {"expected": "0012345678"})
    signing = re.findall(r'id="signing-page-url"[^>]*>[^<]*?(/sign/[^<\s]+)</a>', page)
    assert signing, "the envelope page gave no signing link"
    made = admin.submit("/console/admin/api-keys", 201, {"label": "ERP دسترسی", "scopes": "batches"})
    key_id = re.findall(r'id="new-key">pk_([0-9a-f]{12})_', made)[0]
    reply = admin.client.post("/console/batches", content_type="multipart/form-data", data={
        "csrf_token": admin.csrf(), "level": "B-B",
        "files": [(io.BytesIO(pdf_bytes("first")), "first.pdf")]})
    assert reply.status_code in (201, 303), reply.text[:2000]
    batch = reply.headers["Location"]
    pages = [f"/console/tenders/{tender_id}", envelope, batch, f"{batch}/delete",
             f"/console/admin/api-keys/{key_id}/revoke", signing[0]]
    folder = tmp_path_factory.mktemp("accessibility-sealed")
    (folder / "in.pdf").write_bytes(pdf_bytes("a sealed letter"))
    service = SealService(load_deployment(dev_env.deployment_path))
    try:
        service.seal("demo-co", folder / "in.pdf", folder / "out.pdf", PadesLevel.B_B)
    finally:
        service.close()
    return Site(app, admin, guest, viewer, pages, (folder / "out.pdf").read_bytes())


def html_of(client: FlaskClient, path: str, lang: str) -> tuple[int, str] | None:
    """The page's status and HTML in ``lang``, or None when the answer is not a page."""
    parts = urlsplit(html.unescape(path))
    reply = client.get(parts.path, query_string={**dict(parse_qsl(parts.query)), "lang": lang},
                       headers={"Accept": BROWSER_ACCEPT})
    if reply.status_code in (301, 302, 303) or not reply.content_type.startswith("text/html"):
        return None
    return reply.status_code, reply.text


def walked_paths(app: Flask) -> list[str]:
    """Every GET rule without variables that could be a page: new pages are covered without a test change."""
    return sorted({rule.rule for rule in app.url_map.iter_rules()
                   if "GET" in (rule.methods or set()) and not rule.arguments
                   and not any(part in rule.rule for part in NOT_PAGES)})


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_keeps_the_markup_rules(site: Site, lang: str) -> None:
    checked: dict[str, list[str]] = {}

    def check(name: str, client: FlaskClient, path: str) -> None:
        answer = html_of(client, path, lang)
        if answer is not None:
            checked[f"{name} {path} ({answer[0]})"] = problems_in(answer[1])

    for path in walked_paths(site.app):
        check("guest", site.guest.client, path)
        check("admin", site.admin.client, path)
    for path in site.object_pages:
        check("admin", site.admin.client, path)
    check("guest", site.guest.client, "/no-such-page")
    check("admin", site.admin.client, "/console/no-such-page")
    check("viewer", site.viewer.client, "/console/admin/api-keys")  # 403 ROLE_FORBIDDEN
    for name, reply in [
        ("guest POST /validate refused", site.guest.client.post(  # an unsigned PDF: 422 with its code
            "/validate", query_string={"lang": lang}, content_type="multipart/form-data",
            data={"file": [(io.BytesIO(pdf_bytes("unsigned")), "نامه.pdf")]})),
        ("admin POST without CSRF", site.admin.client.post(  # 403 CSRF_INVALID
            "/console/admin/api-keys", query_string={"lang": lang}, data={"label": "x", "scopes": "batches"},
            headers={"Accept": BROWSER_ACCEPT})),
    ]:
        assert reply.content_type.startswith("text/html"), (name, reply.status_code, reply.content_type)
        checked[f"{name} ({reply.status_code})"] = problems_in(reply.text)
    report = site.guest.client.post("/validate", query_string={"lang": lang}, content_type="multipart/form-data",
                                    data={"file": [(io.BytesIO(site.sealed), "نامه.pdf")]})
    assert report.status_code == 200 and report.content_type.startswith("text/html"), report.text[:1000]
    checked[f"guest POST /validate ({report.status_code})"] = problems_in(report.text)

    names = " ".join(checked)
    for needed in ("guest / ", "guest /validate ", "guest /api/docs ", "guest /console/sign-in ",
                   "guest /no-such-page (404)", "(422)", "CSRF (403)",
                   "(403)", "admin /console ", "admin /console/admin/users ", "/envelopes/", "/revoke",
                   "/console/batches/", "guest POST /validate"):
        assert needed in names, f"{needed!r} was not checked: {sorted(checked)}"
    assert any("/sign/" in name for name in checked), sorted(checked)
    failures = {name: found for name, found in checked.items() if found}
    assert failures == {}, "\n".join(f"{name}: {found}" for name, found in failures.items())
    print(f"\n{len(checked)} pages checked in {lang}")


def test_the_markup_checker_sees_what_is_missing() -> None:
    """The checker itself: each rule catches a page that breaks it."""
    good = ('<html lang="fa" dir="rtl"><body><h1>x</h1><label for="a">A</label><input id="a">'
            '<input type="hidden" name="t"><a href="/">home</a><button aria-label="close"></button>'
            '<img src="x" alt=""><table><tr><th scope="col">h</th></tr></table></body></html>')
    assert problems_in(good) == []
    bad = ('<html lang="fa"><body><h1>x</h1><h1>y</h1><input id="a"><input id="a" type="text">'
           '<select name="s"></select><a href="/"></a><button><span> </span></button><img src="x">'
           '<p tabindex="2">x</p><table><tr><th>h</th></tr></table><label for="nowhere">n</label>'
           '<input aria-label="x" aria-describedby="gone"></body></html>')
    found = " | ".join(problems_in(bad))
    for expected in ("lang and dir", "2 <h1>", "id 'a' is used 2 times", "<select name='s'> has no label",
                     "<a href='/'> has no text", "<button > has no text", "has no alt", "positive tabindex",
                     "<th > has no scope", "labels nothing", "aria-describedby names no element: ['gone']"):
        assert expected in found, (expected, found)


# ---------------------------------------------------------------- part two: in the browser

#: Per element with its own text (headings aside), link, button and text field: the contrast of its text with
#: the colour behind it (the opaque backgrounds of it and its ancestors blended over white), and what falls
#: below 4.5:1. An element over a background image is not judged (its colour behind is not known).
CONTRAST_JS = r"""
const parse = c => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
  const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
const lum = ([r, g, b]) => {
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
const behind = el => { const layers = []; let skip = false;
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) { const s = getComputedStyle(n);
    if (s.backgroundImage !== 'none') skip = true;
    const c = parse(s.backgroundColor); if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
  let colour = [255, 255, 255, 1]; for (const c of layers.reverse()) colour = over(c, colour);
  return skip ? null : colour; };
const out = [];
for (const el of document.body.querySelectorAll('*')) {
  if (/^(H[1-6]|SCRIPT|STYLE|OPTION|svg)$/i.test(el.tagName)) continue;
  const field = ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName)
    && !['hidden', 'checkbox', 'radio', 'file', 'color', 'range'].includes(el.type);
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own && !field && !['A', 'BUTTON'].includes(el.tagName)) continue;
  if (!el.getClientRects().length || el.closest('[hidden],[aria-hidden="true"],:disabled')) continue;
  const s = getComputedStyle(el); if (s.visibility !== 'visible' || +s.opacity === 0) continue;
  const text = field ? `${el.type || el.tagName} field` : (el.innerText || '').trim(); if (!text) continue;
  const bg = behind(el); if (!bg) continue;
  const fg = over(parse(s.color), bg);
  const a = lum(fg), b = lum(bg), ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const where = `${el.tagName.toLowerCase()}.${el.className} "${text.slice(0, 30)}"`;
  const colours = `${s.color} on rgb(${bg.slice(0, 3).map(Math.round)})`;
  if (ratio < 4.5) out.push(`${where} ${colours} = ${ratio.toFixed(2)}`);
}
return out;
"""

#: The focused element, and whether its focus shows: an outline or a ring (box-shadow) of at least 2 px.
FOCUS_JS = r"""
const el = document.activeElement; if (!el || el === document.body) return null;
const s = getComputedStyle(el);
const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
const name = el.id || el.getAttribute('href') || el.name || '';
return [el.tagName.toLowerCase(), name, outline || s.boxShadow !== 'none'];
"""


@pytest.fixture(scope="module")
def served(site: Site) -> Iterator[str]:
    """The module's app over loopback, for the browser."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request in the test's output
    server = make_server("127.0.0.1", 0, site.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture(scope="module")
def screens() -> Path:
    return screenshot_folder("accessibility")


#: Pages a guest reads (a signed-in person is sent on from the sign-in page).
GUEST_SAMPLE = ("/", "/validate", "/validate#report", "/api/docs", "/console/sign-in", "/no-such-page")


def console_sample(site: Site) -> list[str]:
    tender, envelope, batch = site.object_pages[:3]
    return ["/console", "/console/tenders", tender, envelope, "/console/batches/new", batch,
            "/console/admin/api-keys", "/console/admin/users", "/console/account/password", site.object_pages[-1]]


def focus_problems(driver: Any) -> list[str]:
    """Tab through the page (at most 60 stops): every link, button and field focused must show it."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    seen: list[Any] = []
    found: list[str] = []
    for _ in range(60):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        state = driver.execute_script(FOCUS_JS)
        if state is None or state in seen:
            break
        seen.append(state)
        if state[0] in ("a", "button", "input", "select", "textarea", "summary") and not state[2]:
            found.append(f"<{state[0]}> {state[1]!r} shows no focus")
    assert len(seen) >= 2, "Tab reached almost nothing on the page"
    return found


def test_the_browser_checks_see_what_is_wrong(browser: Any, served: str) -> None:
    """The checks themselves: faint text, a focus without outline and a too-wide box are each caught."""
    at_width(browser, 1280)
    browser.get(f"{served}/?lang=en")
    browser.execute_script("""  // through the CSSOM: the page's CSP refuses style attributes and elements
        const main = document.querySelector('main') || document.body;
        main.insertAdjacentHTML('afterbegin', '<p id="faint">faint text</p><button id="probe">probe</button>'
          + '<div id="wide">wide</div>');
        document.getElementById('faint').style.color = '#aaa';
        document.getElementById('wide').style.width = '900px';
        document.styleSheets[0].insertRule('#probe:focus-visible { outline: none; }', 0);""")
    assert any('"faint text"' in c for c in browser.execute_script(CONTRAST_JS))
    assert "<button> 'probe' shows no focus" in focus_problems(browser)
    at_width(browser, 390)
    assert browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth") > 0
    at_width(browser, 1280)


def test_pages_are_readable_focusable_and_fit_390_px(browser: Any, site: Site, served: str, screens: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    failures: list[str] = []

    sealed = screens / "نامه-مهرشده.pdf"
    sealed.write_bytes(site.sealed)

    def open_page(page: str) -> None:
        browser.get(page)
        if "#report" in page:  # the validation report: the form sent with a sealed PDF, as a person does
            old = browser.find_element(By.TAG_NAME, "body")
            browser.find_element(By.ID, "file").send_keys(str(sealed))
            browser.find_element(By.ID, "submit").click()
            WebDriverWait(browser, 60).until(expected_conditions.staleness_of(old))
            assert browser.find_elements(By.TAG_NAME, "h1"), "no report"

    def visit(path: str, lang: str, shot: str) -> None:
        parts = urlsplit(html.unescape(path))
        query = urlencode({**dict(parse_qsl(parts.query)), "lang": lang})
        page = f"{served}{parts.path}?{query}" + (f"#{parts.fragment}" if parts.fragment else "")
        what = f"{path} ({lang})"
        at_width(browser, 1280)
        open_page(page)
        failures.extend(f"{what}: contrast {c}" for c in browser.execute_script(CONTRAST_JS))
        failures.extend(f"{what}: {f}" for f in focus_problems(browser))
        browser.save_screenshot(str(screens / f"{shot}-1280.png"))
        at_width(browser, 390)
        open_page(page)
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            failures.append(f"{what}: scrolls sideways by {overflow} px at 390 px")
        failures.extend(f"{what} at 390 px: contrast {c}" for c in browser.execute_script(CONTRAST_JS))
        browser.save_screenshot(str(screens / f"{shot}-390.png"))

    for lang in LANGS:
        browser.get(f"{served}/console/sign-in")
        browser.delete_all_cookies()  # those of /console: signed out
        for number, path in enumerate(GUEST_SAMPLE):
            visit(path, lang, f"{lang}-guest-{number:02d}")
        at_width(browser, 1280)
        browser_sign_in(browser, served, site.admin.username, page=f"/console?lang={lang}")
        for number, path in enumerate(console_sample(site)):
            visit(path, lang, f"{lang}-admin-{number:02d}")
    at_width(browser, 1280)
    assert failures == [], "\n".join(failures)
