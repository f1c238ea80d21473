// The event browser's contact picker (addresses and names as a <datalist>) and the event import's
// progress polling. No inline scripts (CSP).
(function () {
  "use strict";

  // ------------------------------------------------------------ test event: contact search
  var input = document.querySelector("input[data-contact-search]");
  if (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    var last = "";
    input.addEventListener("input", function () {
      var q = input.value.trim();
      if (q.length < 2 || q === last) { return; }
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        last = q;
        fetch(input.dataset.contactSearch + "?q=" + encodeURIComponent(q),
              { headers: { Accept: "application/json" }, credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { contacts: [] }; })
          .then(function (data) {
            list.textContent = "";
            (data.contacts || []).forEach(function (c) {
              var option = document.createElement("option");
              option.value = c.email;
              option.label = c.label || c.email;
              option.textContent = c.label || "";
              list.appendChild(option);
            });
          })
          .catch(function () { /* typing the address still works */ });
      }, 200);
    });
  }

  // ------------------------------------------------------------ event import progress
  var progress = document.getElementById("event-import-progress");
  if (progress && progress.dataset.done !== "true") {
    var url = progress.dataset.statusUrl;
    var poll = function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (s) {
          ["processed", "recorded", "matched", "created", "already", "failed_rows", "percent", "state_label"].forEach(function (k) {
            var el = progress.querySelector('[data-field="' + k + '"]');
            if (el) { el.textContent = s[k]; }
          });
          var bar = progress.querySelector('[data-field="bar"]');
          if (bar) { bar.style.width = s.percent + "%"; }
          if (s.finished || s.failed) {
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
