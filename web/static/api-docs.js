// /api/docs: render the OpenAPI description with the vendored Redoc (web/static/vendor/redoc).
// A file, not an inline script: the page's CSP allows script from this server only.
(function () {
  "use strict";
  var box = document.getElementById("redoc");
  if (!box || !window.Redoc) { return; }
  var options = {
    hideDownloadButton: false,
    disableSearch: false,
    expandResponses: "200,201",
    scrollYOffset: 0,
    theme: {
      colors: { primary: { main: "#0b6e4f" } },
      typography: {
        fontFamily: "Vazirmatn, Tahoma, sans-serif",
        headings: { fontFamily: "Vazirmatn, Tahoma, sans-serif" },
        code: { fontFamily: "\"DejaVu Sans Mono\", Consolas, monospace" }
      },
      sidebar: { backgroundColor: "#f4f2ec" }
    }
  };
  window.Redoc.init(box.getAttribute("data-spec-url"), options, box);
})();
