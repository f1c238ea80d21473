// Contacts area: import progress polling (no inline scripts: CSP). The segment rule editor is segments.js.
(function () {
  "use strict";

  // ------------------------------------------------------------ import progress
  var progress = document.getElementById("import-progress");
  if (progress && progress.dataset.done !== "true") {
    var url = progress.dataset.statusUrl;
    var poll = function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (s) {
          ["processed", "created", "updated", "skipped", "duplicates", "failed", "percent"].forEach(function (k) {
            var el = progress.querySelector('[data-field="' + k + '"]');
            if (el) { el.textContent = s[k]; }
          });
          var bar = progress.querySelector('[data-field="bar"]');
          if (bar) { bar.style.width = s.percent + "%"; }
          var status = progress.querySelector('[data-field="status"]');
          if (status) { status.textContent = s.status_label || s.status; }
          if (s.done) {
            window.location.reload(); // the finished page lists the rows with errors
          } else {
            window.setTimeout(poll, 1000);
          }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 500);
  }
})();
