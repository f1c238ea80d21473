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

// Contact list: tick all, the count of ticked contacts, only the bulk action's own choice shown, and the
// progress of a background bulk action.
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  if (form) {
    var boxes = function () { return document.querySelectorAll('input[name="ids"][form="bulk-form"]'); };
    var counter = form.querySelector("[data-selected-count]");
    var count = function () {
      var n = 0;
      boxes().forEach(function (b) { if (b.checked) { n += 1; } });
      if (counter) { counter.textContent = n; }
    };
    var all = document.querySelector("[data-select-all]");
    if (all) {
      all.addEventListener("change", function () {
        boxes().forEach(function (b) { b.checked = all.checked; });
        count();
      });
    }
    boxes().forEach(function (b) { b.addEventListener("change", count); });
    count();
    var action = form.querySelector("[data-bulk-action]");
    var sync = function () {
      form.querySelectorAll("[data-for]").forEach(function (el) {
        var show = el.dataset.for.split(" ").indexOf(action.value) >= 0;
        el.hidden = !show;
        el.disabled = !show;
      });
    };
    if (action) { action.addEventListener("change", sync); sync(); }
  }

  var progress = document.getElementById("bulk-progress");
  if (progress && progress.dataset.done !== "true") {
    var url = progress.dataset.statusUrl;
    var poll = function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (s) {
          ["done", "total", "changed", "state_label"].forEach(function (k) {
            var el = progress.querySelector('[data-field="' + k + '"]');
            if (el) { el.textContent = s[k]; }
          });
          var bar = progress.querySelector('[data-field="bar"]');
          if (bar) { bar.style.width = s.percent + "%"; }
          if (s.finished || s.failed) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 500);
  }
})();

// The filter form sends only the fields that hold a value (short links that read well when shared).
(function () {
  "use strict";
  var filters = document.querySelector("[data-testid=contact-filters]");
  if (filters) {
    filters.addEventListener("submit", function () {
      filters.querySelectorAll("input, select").forEach(function (el) {
        if (el.name && el.value === "") { el.disabled = true; }
      });
    });
  }
})();
