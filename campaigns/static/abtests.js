// A/B tests: the setup form's live sample-size advice and the results page's charts (Chart.js from
// /static/vendor). Data come from the page (a JSON block) and /ab/advice.json; nothing else is fetched.
(function () {
  "use strict";
  var COLORS = ["#2f6fde", "#1f8a4c", "#c27c0e", "#8e44ad", "#c23b3b"];

  // ---- setup form
  var form = document.getElementById("ab-form");
  if (form) {
    var table = form.querySelector("table.ab-variants");
    var kind = form.querySelector("#kind");
    var advice = document.getElementById("ab-advice");
    var timer = null;
    var fieldOf = function (k) { return k === "content" ? "template_id" : k; };
    var variantCount = function () {
      var k = fieldOf(kind.value), n = 1;
      for (var i = 1; i < 5; i++) {
        var input = form.querySelector("[name=v" + i + "_" + k + "]");
        if (input && input.value.trim()) { n++; }
      }
      return Math.max(2, n);
    };
    var refresh = function () {
      var params = new URLSearchParams({
        baseline: form.querySelector("#baseline").value, lift: form.querySelector("#lift").value,
        variants: String(variantCount()),
        portion: form.querySelector("#portion") ? form.querySelector("#portion").value : "100",
        broadcast_id: form.getAttribute("data-broadcast-id") || ""
      });
      fetch(form.getAttribute("data-advice-url") + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          advice.textContent = data.error || data.message_local;
          advice.classList.toggle("warn", data.enough === false || !!data.error);
          advice.setAttribute("data-per-variant", data.per_variant || "");
        })
        .catch(function () { /* the advice is shown again after submit */ });
    };
    var later = function () { clearTimeout(timer); timer = setTimeout(refresh, 250); };
    kind.addEventListener("change", function () { table.setAttribute("data-kind", kind.value); later(); });
    form.addEventListener("input", later);
    refresh();
  }

  // ---- results page
  var holder = document.getElementById("ab-data");
  if (!holder || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(holder.textContent);
  var pct = function (x) { return Math.round(x * 10000) / 100; };

  var intervals = document.getElementById("ab-interval-chart");
  if (intervals) {
    new window.Chart(intervals, {
      type: "bar",
      data: {
        labels: data.keys,
        datasets: [
          { type: "line", label: data.labels.rate, data: data.variants.map(function (v) { return pct(v.rate); }),
            showLine: false, borderColor: "#1d4fae", backgroundColor: "#1d4fae", pointRadius: 6, pointStyle: "rectRot" },
          { type: "bar", label: data.labels.interval, data: data.variants.map(function (v) { return [pct(v.interval[0]), pct(v.interval[1])]; }),
            backgroundColor: data.keys.map(function (_k, i) { return COLORS[i % COLORS.length] + "66"; }), barPercentage: 0.4 }
        ]
      },
      options: { animation: false, indexAxis: "x", scales: { y: { beginAtZero: true, ticks: { callback: function (v) { return v + "%"; } } } } }
    });
    intervals.setAttribute("data-rendered", String(data.keys.length));
  }

  var line = function (canvas, labels, series, percent, xTitle) {
    if (!canvas) { return; }
    new window.Chart(canvas, {
      type: "line",
      data: {
        labels: labels,
        datasets: data.keys.map(function (k, i) {
          return { label: k, data: (series[k] || []).map(function (y) { return percent ? pct(y) : y; }),
                   borderColor: COLORS[i % COLORS.length], backgroundColor: COLORS[i % COLORS.length],
                   tension: 0.2, pointRadius: labels.length > 60 ? 0 : 2 };
        })
      },
      options: { animation: false, interaction: { mode: "index", intersect: false },
                 scales: { x: xTitle, y: { beginAtZero: true, ticks: percent ? { callback: function (v) { return v + "%"; } } : { precision: 0 } } } }
    });
    canvas.setAttribute("data-rendered", String(labels.length));
  };
  line(document.getElementById("ab-aligned-chart"), data.aligned.hours.map(function (h) { return h + "h"; }), data.aligned.curves, true, {});
  // the timeline's hours are in the account's zone (the page writes them); its axis says which zone
  line(document.getElementById("ab-timeline-chart"), data.timeline.labels, data.timeline.series, false,
       data.labels.zone ? { title: { display: true, text: data.labels.zone } } : {});
})();
