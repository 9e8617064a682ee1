// The tenders pages' live countdown: each .countdown counts its data-seconds down from the page's load.
// The server already wrote the same text, so without script the page is right when it was loaded.
(function () {
  "use strict";
  var PERSIAN = "۰۱۲۳۴۵۶۷۸۹";
  var started = Date.now();
  var timers = Array.prototype.slice.call(document.querySelectorAll(".countdown[data-seconds]"));
  if (!timers.length) { return; }

  function digits(text, lang) {
    return lang === "fa" ? text.replace(/[0-9]/g, function (d) { return PERSIAN[+d]; }) : text;
  }

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function text(el, left) {
    if (left <= 0) { return el.getAttribute("data-passed"); }
    var days = Math.floor(left / 86400);
    var rest = left % 86400;
    var clock = two(Math.floor(rest / 3600)) + ":" + two(Math.floor((rest % 3600) / 60)) + ":" + two(rest % 60);
    var shown = days ? days + " " + el.getAttribute("data-day") + " " + clock : clock;
    return digits(shown, el.getAttribute("data-lang"));
  }

  function tick() {
    var gone = Math.floor((Date.now() - started) / 1000);
    timers.forEach(function (el) {
      var left = Math.max(0, parseInt(el.getAttribute("data-seconds"), 10) - gone);
      var next = text(el, left);
      if (el.textContent !== next) { el.textContent = next; }
      el.setAttribute("data-left", String(left));
    });
  }

  tick();
  window.setInterval(tick, 1000);
}());
