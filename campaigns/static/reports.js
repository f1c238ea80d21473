// Reports: draws the opens/clicks-over-time chart and the sequence funnel with Chart.js (served from
// /static/vendor, no CDN). Data come from the page's data- attributes and the series.json endpoint.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") { return; }
  var COLORS = {
    unique_open: "#2f6fde", unique_click: "#1f8a4c", open_machine_open: "#9aa3b5", click_scanner: "#c23b3b"
  };

  function drawSeries(canvas, data, names) {
    // names: [[metric, label], ...] in display order (a JSON object would lose the order).
    // One or two hours (or days) of data make no line: a lone dot at the left edge. They are drawn as
    // slim grouped bars, centred, until there are enough points for a line.
    var few = data.labels.length < 3;
    var datasets = names.map(function (pair) {
      var metric = pair[0];
      return {
        label: pair[1], data: data.series[metric] || [], borderColor: COLORS[metric],
        backgroundColor: COLORS[metric], tension: 0.2, pointRadius: data.labels.length > 60 ? 0 : 3,
        maxBarThickness: 36, categoryPercentage: 0.35,  // the bars of one hour stand together, centred
        borderDash: !few && (metric === "open_machine_open" || metric === "click_scanner") ? [4, 4] : []
      };
    });
    var narrow = canvas.clientWidth > 0 && canvas.clientWidth < 560;
    var existing = window.Chart.getChart(canvas);
    if (existing) { existing.destroy(); }
    new window.Chart(canvas, {
      type: few ? "bar" : "line",
      data: { labels: data.labels, datasets: datasets },
      // on a phone the legend wraps to several lines: a taller chart keeps a readable plot under it
      options: { animation: false, responsive: true, interaction: { mode: "index", intersect: false },
                 aspectRatio: narrow ? 1.1 : undefined,
                 plugins: { legend: { labels: { boxWidth: narrow ? 14 : 40 } } },
                 scales: { x: { offset: true }, y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
    canvas.setAttribute("data-rendered", String(data.labels.length));
    canvas.setAttribute("data-chart-type", few ? "bar" : "line");
  }

  function loadSeries(canvas, granularity) {
    var names = JSON.parse(canvas.getAttribute("data-labels") || "[]");
    var url = canvas.getAttribute("data-series-url") + "?granularity=" + encodeURIComponent(granularity);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) { drawSeries(canvas, data, names); })
      .catch(function (err) { canvas.setAttribute("data-error", String(err)); });
    document.querySelectorAll("button.granularity").forEach(function (b) {
      b.classList.toggle("primary", b.getAttribute("data-granularity") === granularity);
    });
  }

  var series = document.getElementById("series-chart");
  if (series) {
    loadSeries(series, "hour");
    document.querySelectorAll("button.granularity").forEach(function (b) {
      b.addEventListener("click", function () { loadSeries(series, b.getAttribute("data-granularity")); });
    });
  }

  var funnel = document.getElementById("funnel-chart");
  if (funnel) {
    var f = JSON.parse(funnel.getAttribute("data-funnel"));
    new window.Chart(funnel, {
      type: "bar",
      data: { labels: f.labels, datasets: [{ label: f.title, data: f.values, backgroundColor: "#2f6fde",
                                              maxBarThickness: 40 }] },
      options: { animation: false, indexAxis: "y", plugins: { legend: { display: false } },
                 scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
    funnel.setAttribute("data-rendered", String(f.values.length));
  }
})();
