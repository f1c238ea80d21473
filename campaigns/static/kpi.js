// KPI dashboard: draws the funnel, MQLs per month (stacked by source), contacts by source and stage, and
// days to MQL with Chart.js (served from /static/vendor). Data come from each canvas's data-chart
// attribute (JSON written by the server): no inline script, so the page keeps its strict CSP.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") { return; }
  var PALETTE = ["#2f6fde", "#1f8a4c", "#e08a1e", "#8e44ad", "#c23b3b", "#16a2b8", "#6b7385", "#b5a300",
                 "#d35400", "#2c3e50"];

  function data(canvas) {
    try { return JSON.parse(canvas.getAttribute("data-chart") || "{}"); }
    catch (err) { canvas.setAttribute("data-error", String(err)); return null; }
  }

  function named(values, none) {
    return values.map(function (v) { return v === "" || v === null ? none : v; });
  }

  function draw(id, build) {
    var canvas = document.getElementById(id);
    if (!canvas || canvas.hidden) { return; }
    var d = data(canvas);
    if (!d) { return; }
    var config = build(d);
    // One or two bars (the first month, a single source) would each fill half the chart: keep bars slim
    if (config.type === "bar") {
      config.data.datasets.forEach(function (set) { if (set.maxBarThickness === undefined) { set.maxBarThickness = 56; } });
    }
    var existing = window.Chart.getChart(canvas);
    if (existing) { existing.destroy(); }
    new window.Chart(canvas, config);
    canvas.setAttribute("data-rendered", String((d.labels || []).length));
  }

  var COUNT_AXIS = { beginAtZero: true, ticks: { precision: 0 } };

  draw("funnel-chart", function (d) {
    return {
      type: "bar",
      data: { labels: d.labels, datasets: [{ label: d.title, data: d.values, backgroundColor: "#2f6fde" }] },
      options: { animation: false, indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: COUNT_AXIS } }
    };
  });

  draw("mql-chart", function (d) {
    var names = named(d.names, d.none);
    return {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: d.series.map(function (values, i) {
          return { label: names[i], data: values, backgroundColor: PALETTE[i % PALETTE.length] };
        })
      },
      options: { animation: false, interaction: { mode: "index", intersect: false },
                 scales: { x: { stacked: true }, y: Object.assign({ stacked: true }, COUNT_AXIS) } }
    };
  });

  draw("source-chart", function (d) {
    return {
      type: "doughnut",
      data: { labels: named(d.labels, d.none), datasets: [{ data: d.values,
              backgroundColor: d.values.map(function (_v, i) { return PALETTE[i % PALETTE.length]; }) }] },
      options: { animation: false, aspectRatio: 2, plugins: { legend: { position: "right" } } }
    };
  });

  draw("stage-chart", function (d) {
    return {
      type: "bar",
      data: { labels: d.labels, datasets: [{ label: d.title, data: d.values, backgroundColor: "#1f8a4c" }] },
      options: { animation: false, plugins: { legend: { display: false } }, scales: { y: COUNT_AXIS } }
    };
  });

  draw("ttm-chart", function (d) {
    return {
      type: "bar",
      data: { labels: named(d.labels, d.none), datasets: [
        { label: d.avg_label, data: d.avg, backgroundColor: "#2f6fde" },
        { label: d.median_label, data: d.median, backgroundColor: "#e08a1e" }
      ] },
      // at least a one-day axis: conversions within minutes must not fill the chart as if they took long
      options: { animation: false, scales: { y: { beginAtZero: true, suggestedMax: 1 } } }
    };
  });
})();
