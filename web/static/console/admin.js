// The administration pages: the copy button of a key shown once (no inline script: the CSP allows none).
"use strict";
(function () {
  const button = document.getElementById("copy-key");
  if (!button) {
    return;
  }
  const source = document.getElementById(button.dataset.target);
  const status = document.getElementById("copy-status");
  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }
  function selectKey() {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    const text = source.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () {
        say(button.dataset.copied);
      }, function () {
        selectKey();
        say(button.dataset.failed);
      });
      return;
    }
    // Plain http off loopback has no clipboard API: select the key and ask the browser to copy the selection.
    selectKey();
    let done = false;
    try {
      done = document.execCommand("copy");
    } catch (e) {
      done = false;
    }
    say(done ? button.dataset.copied : button.dataset.failed);
  });
}());
