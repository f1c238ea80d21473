// Contacts area: import progress polling and the segment rule builder (no inline scripts: CSP).
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
          if (status) { status.textContent = s.status; }
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

  // ------------------------------------------------------------ segment rule builder
  var builder = document.getElementById("rule-builder");
  var textarea = document.getElementById("rules");
  if (!builder || !textarea) { return; }
  var countEl = document.getElementById("segment-count");
  var FIELDS = ["company", "job_title", "source", "stage", "timezone", "score", "email", "first_name",
                "last_name", "consent_method", "attributes."];
  var OPS = ["eq", "neq", "contains", "starts_with", "in", "gt", "lt", "exists"];
  var L = builder.dataset;
  var countTimer = null;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function select(options, value) {
    var s = el("select");
    options.forEach(function (o) {
      var opt = el("option", { value: o }, [o]);
      if (o === value) { opt.selected = true; }
      s.appendChild(opt);
    });
    return s;
  }

  function parse() {
    try { return JSON.parse(textarea.value || "{}"); } catch (e) { return null; }
  }

  // Simple rows only: one group of plain conditions. Anything else stays in the JSON editor.
  function isFlat(rules) {
    if (!rules || typeof rules !== "object") { return false; }
    var keys = Object.keys(rules);
    if (keys.length === 0) { return true; }
    if (keys.length !== 1 || (keys[0] !== "all" && keys[0] !== "any")) { return false; }
    return Array.isArray(rules[keys[0]]) && rules[keys[0]].every(function (c) { return c && typeof c.field === "string"; });
  }

  function valueText(v) {
    if (Array.isArray(v)) { return v.join(", "); }
    return v === undefined || v === null ? "" : String(v);
  }

  function valueFrom(op, text) {
    if (op === "in") { return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean); }
    if (op === "exists") { return text.trim() !== "false"; }
    if ((op === "gt" || op === "lt") && text.trim() !== "" && !isNaN(Number(text))) { return Number(text); }
    return text;
  }

  function render() {
    var rules = parse();
    builder.innerHTML = "";
    builder.hidden = false;
    if (!isFlat(rules)) {
      builder.appendChild(el("p", { "class": "muted" }, [L.labelNested]));
      return;
    }
    var kind = rules.any ? "any" : "all";
    var conditions = rules[kind] || [];
    var kindSel = el("select", { "data-role": "kind" }, [
      el("option", { value: "all" }, [L.labelAll]), el("option", { value: "any" }, [L.labelAny]),
    ]);
    kindSel.value = kind;
    builder.appendChild(kindSel);
    var table = el("div", { "class": "rule-rows" });
    conditions.forEach(function (c) { table.appendChild(row(c)); });
    builder.appendChild(table);
    var add = el("button", { type: "button" }, [L.labelAdd]);
    add.addEventListener("click", function () { table.appendChild(row({ field: "company", op: "eq", value: "" })); sync(); });
    builder.appendChild(add);
  }

  function row(c) {
    var isAttr = c.field.indexOf("attributes.") === 0;
    var field = select(FIELDS, isAttr ? "attributes." : c.field);
    var attr = el("input", { placeholder: "industry", size: "12", "data-role": "attr" });
    attr.value = isAttr ? c.field.slice(11) : "";
    attr.hidden = !isAttr;
    field.addEventListener("change", function () { attr.hidden = field.value !== "attributes."; });
    var op = select(OPS, c.op);
    var value = el("input", { "data-role": "value" });
    value.value = valueText(c.value);
    var remove = el("button", { type: "button", "class": "danger" }, [L.labelRemove]);
    var r = el("div", { "class": "rule-row" }, [field, attr, op, value, remove]);
    remove.addEventListener("click", function () { r.remove(); sync(); });
    return r;
  }

  function sync() {
    var kindEl = builder.querySelector('[data-role="kind"]');
    if (!kindEl) { return; }
    var kind = kindEl.value;
    var conditions = [];
    builder.querySelectorAll(".rule-row").forEach(function (r) {
      var parts = r.querySelectorAll("select, input");
      var field = parts[0].value === "attributes." ? "attributes." + parts[1].value.trim() : parts[0].value;
      conditions.push({ field: field, op: parts[2].value, value: valueFrom(parts[2].value, parts[3].value) });
    });
    var rules = {};
    rules[kind] = conditions;
    textarea.value = JSON.stringify(rules, null, 2);
    scheduleCount();
  }

  function scheduleCount() {
    if (countTimer) { window.clearTimeout(countTimer); }
    countTimer = window.setTimeout(updateCount, 400);
  }

  function updateCount() {
    var url = L.countUrl + "?rules=" + encodeURIComponent(textarea.value);
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) { countEl.textContent = data.count !== undefined ? data.count : (data.message || "—"); })
      .catch(function () { countEl.textContent = "—"; });
  }

  builder.addEventListener("input", sync);
  builder.addEventListener("change", sync);
  textarea.addEventListener("input", function () { scheduleCount(); });
  textarea.addEventListener("change", function () { render(); });
  render();
  scheduleCount();
})();
