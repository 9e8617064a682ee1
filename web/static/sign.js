/* The signing page's script (/sign/<id>#<view token>).
 *
 * The view token lives only in the URL fragment, which browsers never send to a
 * server; this script sends it in the X-Pakat-View-Token header to the page's JSON
 * endpoints, polls the session's state until it is final, and fetches the previews
 * and the signed PDFs the same way (as blob: URLs). A session may cover several
 * documents (an envelope's): the first document's block is in the page, and is
 * cloned for each further one. It never asks for a PIN.
 */
(function () {
  "use strict";

  var root = document.getElementById("sign");
  var base = root.getAttribute("data-base");
  var lang = root.getAttribute("data-lang");
  var pollMs = parseInt(root.getAttribute("data-poll-ms"), 10) || 3000;
  var token = decodeURIComponent(window.location.hash.replace(/^#/, ""));
  var headers = { "X-Pakat-View-Token": token };
  var deadline = null;
  var timer = null;
  var blocks = [];

  function $(id) { return document.getElementById(id); }
  function show(id, visible) { $(id).hidden = !visible; }
  function text(id, value) { $(id).textContent = value == null ? "" : String(value); }

  function digits(value) {
    if (lang !== "fa") { return value; }
    return value.replace(/[0-9]/g, function (d) { return "۰۱۲۳۴۵۶۷۸۹".charAt(+d); });
  }

  // Switching language keeps the fragment (and so the access) without sending it anywhere.
  var switcher = $("lang-switch");
  switcher.setAttribute("href", switcher.getAttribute("href") + window.location.hash);

  function notFound() {
    show("loading", false);
    show("session", false);
    show("not-found", true);
    stop();
  }

  function stop() {
    if (timer !== null) { window.clearTimeout(timer); timer = null; }
  }

  function tick() {
    if (deadline === null) { return; }
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    var minutes = Math.floor(left / 60);
    var seconds = left % 60;
    text("countdown", digits(minutes + ":" + (seconds < 10 ? "0" : "") + seconds));
    if (left === 0) { deadline = null; poll(); }
  }

  function render(s) {
    show("loading", false);
    show("not-found", false);
    show("session", true);
    text("platform", s.platform);
    text("level", s.level);
    text("expires", s.expires_at_text);
    var several = s.documents.length > 1;
    show("why-one", !several);
    show("why-several", several);
    s.documents.forEach(function (d, n) { renderDocument(block(n), d, several); });
    var expected = s.expected_signer || {};
    text("expected-id", expected.national_id);
    text("expected-role", expected.role);
    show("expected-id-row", !!expected.national_id);
    show("expected-role-row", !!expected.role);
    show("expected-anyone", !expected.national_id && !expected.role);
    text("signer", s.signer);
    show("signer", !!s.signer);
    show("signer-label", !!s.signer);

    var phase = $("phase");
    phase.setAttribute("data-phase", s.phase);
    phase.textContent = s.phase_label;
    document.body.setAttribute("data-phase", s.phase);

    var open = !!s.pairing_link;
    show("act", open);
    if (open) {
      $("sign-button").setAttribute("href", s.pairing_link);
      if ($("qr").getAttribute("src") !== s.qr_svg) { $("qr").setAttribute("src", s.qr_svg); }
    } else {
      $("sign-button").setAttribute("href", "#");
      $("qr").removeAttribute("src");
    }
    show("countdown-row", open);
    deadline = open ? Date.now() + s.seconds_left * 1000 : null;
    tick();

    show("failure", !!s.error);
    if (s.error) { text("failure-message", s.error.message); text("failure-code", s.error.code); }

    show("done", s.final && !!s.return_url);
    if (s.return_url && s.final) {
      $("return").setAttribute("href", s.return_url);
      show("return", true);
    } else {
      show("return", false);
    }
  }

  // The block of document n: the page's own for the first, a clone without ids for the others.
  function block(n) {
    if (blocks.length === 0) { blocks.push(wire($("document-0"), 0)); }
    while (blocks.length <= n) {
      var copy = $("document-0").cloneNode(true);
      copy.removeAttribute("id");
      Array.prototype.forEach.call(copy.querySelectorAll("[id]"), function (e) { e.removeAttribute("id"); });
      copy.setAttribute("data-number", String(blocks.length));
      $("documents").appendChild(copy);
      blocks.push(wire(copy, blocks.length));
    }
    return blocks[n];
  }

  function wire(element, n) {
    var b = { element: element, number: n, name: "signed.pdf", previewLoaded: false };
    part(b, "download").addEventListener("click", function () { download(b); });
    return b;
  }

  function part(b, role) { return b.element.querySelector('[data-role="' + role + '"]'); }

  function field(b, name, value) {
    b.element.querySelector('[data-field="' + name + '"]').textContent = value == null ? "" : String(value);
  }

  function renderDocument(b, d, several) {
    b.name = d.name || b.name;
    field(b, "heading", several ? d.heading : b.element.getAttribute("data-title"));
    field(b, "name", d.name);
    field(b, "pages_text", d.pages_text);
    field(b, "size_text", d.size_text);
    field(b, "sha256", d.sha256);
    field(b, "phase_label", d.phase_label);
    part(b, "phase").setAttribute("data-phase", d.phase);
    Array.prototype.forEach.call(b.element.querySelectorAll('[data-role="state"]'), function (e) {
      e.hidden = !several;
    });
    part(b, "error").hidden = !(several && d.error);
    if (d.error) { field(b, "error_message", d.error.message); field(b, "error_code", d.error.code); }
    part(b, "download").hidden = !d.download;
    if (!b.previewLoaded) { b.previewLoaded = true; loadPreview(b); }
  }

  function loadPreview(b) {
    fetch(base + "/documents/" + b.number + "/preview.png", { headers: headers, cache: "no-store", credentials: "omit" })
      .then(function (r) { return r.ok ? r.blob() : null; })
      .then(function (blob) {
        if (blob) {
          part(b, "preview").setAttribute("src", URL.createObjectURL(blob));
          part(b, "preview-box").hidden = false;
        }
      })
      .catch(function () { /* no preview: the page count and digest still say what is signed */ });
  }

  function download(b) {
    fetch(base + "/documents/" + b.number + "/signed.pdf", { headers: headers, cache: "no-store", credentials: "omit" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.blob(); })
      .then(function (blob) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = b.name;
        document.body.appendChild(link);
        link.click();
        link.remove();
      })
      .catch(function () { poll(); });
  }

  function poll() {
    stop();
    if (!token) { notFound(); return; }
    fetch(base + "/state?lang=" + lang, { headers: headers, cache: "no-store", credentials: "omit" })
      .then(function (r) {
        if (r.status === 404) { notFound(); return null; }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (s) {
        if (s === null) { return; }
        render(s);
        if (!s.final) { timer = window.setTimeout(poll, pollMs); }
      })
      .catch(function () {
        // A network hiccup: try again; the state is the server's, nothing is lost.
        timer = window.setTimeout(poll, pollMs);
      });
  }

  window.setInterval(tick, 1000);
  poll();
}());
