// Dashboard trends: the weekly series as Chart.js charts (served from /static/vendor). Data come from each
// canvas's data-chart attribute ({labels, sets: [[name, values], ...]}), no inline script (strict CSP).
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") { return; }
  var PALETTE = ["#2f6fde", "#1f8a4c", "#e08a1e"];
  ["mail-trend", "lead-trend"].forEach(function (id) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    var d;
    try { d = JSON.parse(canvas.getAttribute("data-chart") || "{}"); }
    catch (err) { canvas.setAttribute("data-error", String(err)); return; }
    var bars = id === "lead-trend";
    new window.Chart(canvas, {
      type: bars ? "bar" : "line",
      data: {
        labels: d.labels,
        datasets: d.sets.map(function (set, i) {
          return { label: set[0], data: set[1], borderColor: PALETTE[i], backgroundColor: PALETTE[i],
                   tension: 0.25, pointRadius: 2, maxBarThickness: 28 };
        })
      },
      options: { animation: false, maintainAspectRatio: true, plugins: { legend: { position: "bottom" } },
                 scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
    canvas.setAttribute("data-rendered", String((d.labels || []).length));
  });
})();
