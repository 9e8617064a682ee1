/* The bulk-sealing pages' script (web/templates/console/batches_new.html and batches_batch.html).
 *
 * New batch: files come from the two pickers or are dropped on the drop zone (which
 * also opens the PDF picker with Enter or Space); the form goes up with
 * XMLHttpRequest so its upload progress can be shown, with the CSRF token in the
 * X-CSRF-Token header and "Accept: application/json": the answer is the new batch's
 * page (201) or the refusal, shown in Persian and English with its code. Without this
 * script the form still posts as an ordinary form.
 *
 * A batch's page: its progress is asked for every few seconds (a small JSON answer,
 * texts already in the page's language) until the batch has finished; the progress
 * bar (role=progressbar) gets aria-valuenow and aria-valuetext, the failed items'
 * table is rebuilt when their count changes, and the results link appears at the end.
 */
(function () {
  "use strict";

  var lang = document.documentElement.getAttribute("lang") === "en" ? "en" : "fa";

  function $(id) { return document.getElementById(id); }

  function digits(value) {
    var text = String(value);
    if (lang !== "fa") { return text; }
    return text.replace(/[0-9]/g, function (d) { return "۰۱۲۳۴۵۶۷۸۹".charAt(+d); });
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) { return key in values ? values[key] : all; });
  }

  function setBar(track, fillElement, percent, text) {
    var value = Math.max(0, Math.min(100, Math.floor(percent)));
    track.setAttribute("aria-valuenow", String(value));
    if (text) { track.setAttribute("aria-valuetext", text); }
    fillElement.style.width = value + "%";  // CSSOM, which the page's CSP allows (no inline style attribute)
  }

  // -- a new batch ----------------------------------------------------------------------------------

  function newBatch(form) {
    var zone = $("drop-zone");
    var filesInput = $("files");
    var archiveInput = $("archive");
    var send = $("send");
    var errorBox = $("batch-error");
    var dropped = null;  // files dropped on the zone; they replace what the pickers hold

    function isZip(file) {
      return /\.zip$/i.test(file.name) || file.type === "application/zip" || file.type === "application/x-zip-compressed";
    }

    function picked() {
      if (dropped) { return dropped; }
      var all = Array.prototype.slice.call(filesInput.files || []);
      return all.concat(Array.prototype.slice.call(archiveInput.files || []));
    }

    function size(bytes) {
      if (bytes < 1048576) {
        return fill(form.getAttribute("data-kilobytes"), { n: digits(Math.max(1, Math.round(bytes / 1024))) });
      }
      return fill(form.getAttribute("data-megabytes"), { n: digits((bytes / 1048576).toFixed(1)) });
    }

    function showList() {
      var files = picked();
      var list = $("chosen");
      list.textContent = "";
      files.forEach(function (file) {
        var item = document.createElement("li");
        var name = document.createElement("bdi");
        name.setAttribute("dir", "ltr");  // a file name reads left to right, whatever its script
        name.textContent = file.name;
        item.appendChild(name);
        item.appendChild(document.createTextNode(" — " + size(file.size)));
        list.appendChild(item);
      });
      $("chosen-box").hidden = files.length === 0;
    }

    function showError(fa, en, code) {
      errorBox.querySelector(".error-fa").textContent = fa;
      errorBox.querySelector(".error-en").textContent = en;
      errorBox.querySelector(".error-code").textContent = code || "";
      errorBox.querySelector(".code").hidden = !code;
      if (code) { errorBox.setAttribute("data-code", code); } else { errorBox.removeAttribute("data-code"); }
      errorBox.hidden = false;
    }

    function openPicker(event) {
      if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") { return; }
      event.preventDefault();
      filesInput.click();
    }

    zone.addEventListener("click", openPicker);
    zone.addEventListener("keydown", openPicker);
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("over");
      });
    });
    ["dragleave", "dragend"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("over");
      dropped = Array.prototype.slice.call(event.dataTransfer.files || []);
      filesInput.value = "";
      archiveInput.value = "";
      showList();
    });
    [filesInput, archiveInput].forEach(function (input) {
      input.addEventListener("change", function () { dropped = null; showList(); });
    });
    $("clear-chosen").addEventListener("click", function () {
      dropped = null;
      filesInput.value = "";
      archiveInput.value = "";
      showList();
      zone.focus();
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var files = picked();
      var zips = files.filter(isZip);
      if (zips.length && files.length > 1) {
        showError(form.getAttribute("data-mixed-fa"), form.getAttribute("data-mixed-en"), "");
        return;
      }
      var data = new FormData();
      ["csrf_token", "level", "reason"].forEach(function (name) { data.append(name, form.elements[name].value); });
      data.append("visible", $("visible").checked ? "true" : "false");
      files.forEach(function (file) { data.append(zips.length ? "archive" : "files", file, file.name); });

      var upload = $("upload");
      var track = $("upload-bar");
      var fillElement = $("upload-fill");
      var text = $("upload-text");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action"));
      xhr.setRequestHeader("X-CSRF-Token", form.elements.csrf_token.value);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (progress) {
        if (!progress.lengthComputable) { return; }
        var said = fill(form.getAttribute("data-progress"),
                        { sent: size(progress.loaded), total: size(progress.total) });
        setBar(track, fillElement, 100 * progress.loaded / progress.total, said);
        text.textContent = said;
      });
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (ignored) { body = null; }
        if (xhr.status === 201 && body && body.url) {
          window.location.assign(body.url);
          return;
        }
        send.disabled = false;
        upload.hidden = true;
        if (body && body.error) {
          showError(body.error.message_fa, body.error.message_en, body.error.code);
        } else {
          showError(form.getAttribute("data-failed-fa"), form.getAttribute("data-failed-en"), "");
        }
        errorBox.focus();
      });
      xhr.addEventListener("error", function () {
        send.disabled = false;
        upload.hidden = true;
        showError(form.getAttribute("data-failed-fa"), form.getAttribute("data-failed-en"), "");
      });
      errorBox.hidden = true;
      send.disabled = true;
      upload.hidden = false;
      setBar(track, fillElement, 0, "");
      text.textContent = "";
      xhr.send(data);
    });
    errorBox.setAttribute("tabindex", "-1");
  }

  // -- a batch's page -------------------------------------------------------------------------------

  function watch(root) {
    var track = $("progress");
    var fillElement = $("progress-fill");
    var pollMs = parseInt(root.getAttribute("data-poll-ms"), 10) || 1500;
    var failedCount = parseInt(root.getAttribute("data-failed-count"), 10) || 0;
    var pollError = $("poll-error");

    setBar(track, fillElement, parseInt(track.getAttribute("data-percent"), 10) || 0, "");
    if (root.getAttribute("data-finished") === "true") { return; }
    window.requestAnimationFrame(function () { track.classList.add("live"); });

    function ask(url) {
      return fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          return response.json().then(function (body) { return { ok: response.ok, status: response.status, body: body }; });
        });
    }

    function cell(row, value, attrs) {
      var td = document.createElement("td");
      Object.keys(attrs || {}).forEach(function (key) { td.setAttribute(key, attrs[key]); });
      td.textContent = value == null ? "" : String(value);
      row.appendChild(td);
      return td;
    }

    function showFailed() {
      return ask(root.getAttribute("data-failed-url")).then(function (answer) {
        if (!answer.ok) { return; }
        var rows = $("failed-rows");
        rows.textContent = "";
        answer.body.items.forEach(function (item) {
          var row = document.createElement("tr");
          cell(row, digits(item.number + 1));
          var name = document.createElement("bdi");
          name.setAttribute("dir", "ltr");
          name.textContent = item.name;
          cell(row, "").appendChild(name);
          cell(row, item.message_fa, { lang: "fa", dir: "rtl" });
          cell(row, item.message_en, { lang: "en", dir: "ltr" });
          var code = document.createElement("code");
          code.setAttribute("dir", "ltr");
          code.textContent = item.code || "";
          cell(row, "").appendChild(code);
          rows.appendChild(row);
        });
        $("failed-wrap").hidden = answer.body.items.length === 0;
        $("no-failures").hidden = answer.body.items.length !== 0;
      });
    }

    function show(view) {
      setBar(track, fillElement, view.percent, view.text);
      $("progress-text").textContent = view.text;
      $("sealed").textContent = digits(view.sealed);
      $("failed").textContent = digits(view.failed);
      $("total").textContent = digits(view.total);
      $("rate").textContent = view.rate_text;
      $("eta").textContent = view.eta_text;
      $("state").textContent = view.state_text;
      track.setAttribute("data-percent", String(view.percent));
    }

    function poll() {
      ask(root.getAttribute("data-progress-url")).then(function (answer) {
        if (!answer.ok) {
          // Signed out, or the batch is gone: asking again would not help.
          pollError.textContent = answer.body && answer.body.error
            ? (lang === "fa" ? answer.body.error.message_fa : answer.body.error.message_en) + " (" + answer.body.error.code + ")"
            : root.getAttribute("data-poll-failed");
          pollError.hidden = false;
          return;
        }
        pollError.hidden = true;
        var view = answer.body;
        show(view);
        var next = view.failed !== failedCount ? showFailed() : Promise.resolve();
        failedCount = view.failed;
        next.then(function () {
          if (view.finished) {
            root.setAttribute("data-finished", "true");
            $("finished-actions").hidden = false;
          } else {
            window.setTimeout(poll, pollMs);
          }
        });
      }).catch(function () {
        pollError.textContent = root.getAttribute("data-poll-failed");
        pollError.hidden = false;
        window.setTimeout(poll, pollMs * 2);
      });
    }

    window.setTimeout(poll, pollMs);
  }

  var form = $("batch-form");
  if (form) { newBatch(form); }
  var root = $("batch");
  if (root) { watch(root); }
}());
