// The /validate page's one script: "view signed version" as in Acrobat, without the server keeping a byte.
//
// The report gives each signature's signed revision as a length and a SHA-256: the first `length` bytes of
// the file. This script keeps the files the person chose (the form is sent with fetch and the answer
// replaces the page, so the File objects survive), cuts that prefix with File.slice, checks its SHA-256
// with crypto.subtle against the report and offers it as a download. On a page reached without it (a
// reload), the button asks for the same file again. Without script, or without crypto.subtle (plain http
// on another host than localhost), the buttons stay hidden and the report still shows length and hash.
"use strict";

(function () {
  var kept = []; // the files of the last validation, in upload order (1-based data-file → kept[n - 1])
  var canHash = !!(window.crypto && window.crypto.subtle && window.fetch && window.DOMParser);

  function reveal() {
    if (!canHash) return;
    document.querySelectorAll(".signed-version, .signed-versions .js-only").forEach(function (el) {
      el.hidden = false;
    });
    document.querySelectorAll(".signed-versions .no-js").forEach(function (el) { el.hidden = true; });
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function say(button, text) {
    var status = button.parentNode.querySelector(".signed-status");
    if (status) status.textContent = text;
  }

  function offer(button, file) {
    var length = Number(button.dataset.length);
    var mismatch = button.closest(".signed-versions").dataset.mismatch;
    if (file.size < length) { say(button, mismatch); return; }
    file.slice(0, length).arrayBuffer().then(function (bytes) {
      return window.crypto.subtle.digest("SHA-256", bytes).then(function (digest) {
        if (hex(digest) !== button.dataset.sha256) { say(button, mismatch); return; }
        say(button, "");
        var url = URL.createObjectURL(new Blob([bytes], { type: "application/pdf" }));
        var link = document.createElement("a");
        link.href = url;
        link.download = button.dataset.name;
        link.hidden = true;
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      });
    }).catch(function () { say(button, mismatch); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".signed-version");
    if (!button) return;
    var file = kept[Number(button.dataset.file) - 1];
    if (file) { offer(button, file); return; }
    // Not chosen on this page: ask for the same file again.
    var picker = button.parentNode.querySelector(".signed-pick");
    if (picker) picker.click();
  });

  document.addEventListener("change", function (event) {
    var picker = event.target;
    if (!picker.classList || !picker.classList.contains("signed-pick") || !picker.files.length) return;
    var button = document.getElementById(picker.dataset.for);
    if (button) offer(button, picker.files[0]);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!canHash || !form.classList.contains("upload")) return;
    event.preventDefault();
    var input = form.querySelector("input[type=file][name=file]");
    var chosen = input ? Array.prototype.slice.call(input.files) : [];
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("text/html") !== 0) throw new Error("not a page");
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        kept = chosen;
        // The body is replaced, and the root's language and direction; the head stays (the same
        // stylesheets, no flash; a fresh icon link would send Chromium for /favicon.ico).
        ["lang", "dir"].forEach(function (name) {
          document.documentElement.setAttribute(name, page.documentElement.getAttribute(name) || "");
        });
        document.title = page.title;
        document.body.replaceWith(document.adoptNode(page.body));
        reveal();
        var main = document.querySelector("main");
        if (main) { main.setAttribute("tabindex", "-1"); main.focus(); }
      })
      .catch(function () {
        if (button) button.disabled = false;
        form.submit(); // the page without script: the report is still there, the buttons ask again
      });
  });

  reveal();
})();
