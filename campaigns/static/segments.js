// Segment editor: a rule tree builder (nested all/any groups; contact fields, events, email engagement,
// list membership) that writes the JSON textarea and shows the live count and a sample.
// Served as a static file: the CSP allows no inline scripts. Options and labels come from data-attributes.
(function () {
  "use strict";

  var builder = document.getElementById("rule-builder");
  var textarea = document.getElementById("rules");
  if (!builder || !textarea) { return; }
  var countEl = document.getElementById("segment-count");
  var errorEl = document.getElementById("segment-error");
  var sampleEl = document.getElementById("segment-sample");
  var L = builder.dataset;
  var OPTIONS = {};
  try { OPTIONS = JSON.parse(L.options || "{}"); } catch (e) { OPTIONS = {}; }
  var FIELDS = ["company", "job_title", "source", "stage", "timezone", "score", "email", "first_name",
                "last_name", "consent_method", "attributes."];
  var OPS = ["eq", "neq", "contains", "starts_with", "in", "gt", "lt", "between", "exists"];
  var MAX_DEPTH = 3;
  var countTimer = null;
  var requestSeq = 0;
  var root = null;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function select(role, options, value) {
    // options: [value, label] pairs
    var s = el("select", { "data-role": role });
    options.forEach(function (o) {
      var opt = el("option", { value: String(o[0]) }, [String(o[1])]);
      if (String(o[0]) === String(value)) { opt.selected = true; }
      s.appendChild(opt);
    });
    return s;
  }

  function input(role, value, placeholder, size) {
    var i = el("input", { "data-role": role, placeholder: placeholder || "", size: String(size || 12) });
    i.value = value === undefined || value === null ? "" : String(value);
    return i;
  }

  function pairs(list) { return list.map(function (v) { return [v, v]; }); }

  function kindOf(c) {
    if (c.all || c.any) { return "group"; }
    if ("event" in c) { return "event"; }
    if ("engagement" in c) { return "engagement"; }
    if ("list_id" in c) { return "list"; }
    return "attribute";
  }

  function fresh(kind) {
    if (kind === "event") { return { event: "", within_days: 30 }; }
    if (kind === "engagement") { return { engagement: "opened", within_days: 30 }; }
    if (kind === "list") {
      var first = (OPTIONS.lists || [])[0];
      return { list_id: first ? first.id : 0 };
    }
    return { field: "company", op: "eq", value: "" };
  }

  function numberOrText(text) {
    var t = text.trim();
    return t !== "" && !isNaN(Number(t)) ? Number(t) : text;
  }

  function valueFrom(op, field, text) {
    if (op === "in") { return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean); }
    if (op === "exists") { return text.trim() !== "false"; }
    if (op === "between") { return text.split(",").map(function (s) { return numberOrText(s); }).slice(0, 2); }
    if (op === "gt" || op === "lt" || field === "score") { return numberOrText(text); }
    return text;
  }

  function valueText(v) {
    if (Array.isArray(v)) { return v.join(", "); }
    return v === undefined || v === null ? "" : String(v);
  }

  function days(text) {
    var t = text.trim();
    return t === "" ? undefined : (isNaN(Number(t)) ? t : Number(t));
  }

  function setOrDrop(obj, key, value) {
    if (value === undefined || value === "") { delete obj[key]; } else { obj[key] = value; }
  }

  // ------------------------------------------------------------ one condition row
  function conditionRow(cond, parentItems, changed) {
    var row = el("div", { "class": "rule-row" });
    function draw() {
      row.innerHTML = "";
      var kind = kindOf(cond);
      var type = select("type", [["attribute", L.labelAttribute], ["event", L.labelEvent],
                                 ["engagement", L.labelEngagement], ["list", L.labelList]], kind);
      type.addEventListener("change", function () {
        Object.keys(cond).forEach(function (k) { delete cond[k]; });
        var f = fresh(type.value);
        Object.keys(f).forEach(function (k) { cond[k] = f[k]; });
        draw();
        changed();
      });
      row.appendChild(type);
      if (kind === "attribute") { drawAttribute(); }
      if (kind === "event") { drawEvent(); }
      if (kind === "engagement") { drawEngagement(); }
      if (kind === "list") { drawList(); }
      var remove = el("button", { type: "button", "class": "danger", "data-role": "remove" }, [L.labelRemove]);
      remove.addEventListener("click", function () {
        parentItems.splice(parentItems.indexOf(cond), 1);
        row.remove();
        changed();
      });
      row.appendChild(remove);
    }

    function drawAttribute() {
      var isAttr = (cond.field || "").indexOf("attributes.") === 0;
      var field = select("field", pairs(FIELDS), isAttr ? "attributes." : cond.field);
      var attr = input("attr", isAttr ? cond.field.slice(11) : "", "industry");
      attr.hidden = !isAttr;
      var op = select("op", pairs(OPS), cond.op);
      var value = input("value", valueText(cond.value), L.labelValue, 16);
      function update() {
        attr.hidden = field.value !== "attributes.";
        cond.field = field.value === "attributes." ? "attributes." + attr.value.trim() : field.value;
        cond.op = op.value;
        cond.value = valueFrom(op.value, cond.field, value.value);
        changed();
      }
      [field, attr, op, value].forEach(function (c) {
        c.addEventListener("input", update);
        c.addEventListener("change", update);
        row.appendChild(c);
      });
    }

    function drawEvent() {
      var occurred = select("occurred", [["true", L.labelOccurred], ["false", L.labelNotOccurred]],
                            cond.occurred === false ? "false" : "true");
      var name = input("event-name", cond.event, L.labelEventName, 18);
      var within = input("within", cond.within_days, L.labelWithin, 5);
      var prop = input("property", cond.property, L.labelProperty, 10);
      var value = input("prop-value", cond.value, L.labelValue, 10);
      function update() {
        cond.event = name.value.trim();
        setOrDrop(cond, "occurred", occurred.value === "false" ? false : undefined);
        setOrDrop(cond, "within_days", days(within.value));
        setOrDrop(cond, "property", prop.value.trim());
        if (cond.property) { cond.value = value.value; } else { delete cond.value; }
        changed();
      }
      [name, occurred, within, prop, value].forEach(function (c) {
        c.addEventListener("input", update);
        c.addEventListener("change", update);
        row.appendChild(c);
      });
    }

    function drawEngagement() {
      var kind = select("engagement", [["opened", L.labelOpened], ["clicked", L.labelClicked],
                                       ["not_opened", L.labelNotOpened], ["not_clicked", L.labelNotClicked]],
                        cond.engagement);
      var targets = [["", L.labelAnyMail]];
      (OPTIONS.broadcasts || []).forEach(function (b) { targets.push(["b" + b.id, L.labelBroadcast + ": " + b.name]); });
      (OPTIONS.steps || []).forEach(function (s) { targets.push(["s" + s.id, L.labelStep + ": " + s.name]); });
      var current = cond.broadcast_id ? "b" + cond.broadcast_id : (cond.step_id ? "s" + cond.step_id : "");
      var target = select("target", targets, current);
      var within = input("within", cond.within_days, L.labelWithin, 5);
      function update() {
        cond.engagement = kind.value;
        delete cond.broadcast_id;
        delete cond.step_id;
        if (target.value.charAt(0) === "b") { cond.broadcast_id = Number(target.value.slice(1)); }
        if (target.value.charAt(0) === "s") { cond.step_id = Number(target.value.slice(1)); }
        setOrDrop(cond, "within_days", days(within.value));
        changed();
      }
      [kind, target, within].forEach(function (c) {
        c.addEventListener("input", update);
        c.addEventListener("change", update);
        row.appendChild(c);
      });
    }

    function drawList() {
      var member = select("member", [["true", L.labelMember], ["false", L.labelNotMember]],
                          cond.member === false ? "false" : "true");
      var lists = (OPTIONS.lists || []).map(function (l) { return [l.id, l.name]; });
      var list = select("list", lists, cond.list_id);
      function update() {
        cond.list_id = Number(list.value);
        setOrDrop(cond, "member", member.value === "false" ? false : undefined);
        changed();
      }
      [member, list].forEach(function (c) {
        c.addEventListener("change", update);
        row.appendChild(c);
      });
    }

    draw();
    return row;
  }

  // ------------------------------------------------------------ a group (all / any) and its items
  function groupBox(group, depth, parentItems, changed) {
    var kind = group.any ? "any" : "all";
    if (!Array.isArray(group[kind])) { group[kind] = []; }
    var box = el("div", { "class": "rule-group", "data-depth": String(depth) });
    var kindSel = select("kind", [["all", L.labelAll], ["any", L.labelAny]], kind);
    kindSel.addEventListener("change", function () {
      var items = group[kind];
      delete group[kind];
      kind = kindSel.value;
      group[kind] = items;
      changed();
    });
    box.appendChild(kindSel);
    var rows = el("div", { "class": "rule-rows" });
    box.appendChild(rows);
    group[kind].forEach(function (item) {
      rows.appendChild(kindOf(item) === "group" ? groupBox(item, depth + 1, group[kind], changed)
                                                 : conditionRow(item, group[kind], changed));
    });
    var add = el("button", { type: "button", "data-role": "add" }, [L.labelAdd]);
    add.addEventListener("click", function () {
      var cond = fresh("attribute");
      group[kind].push(cond);
      rows.appendChild(conditionRow(cond, group[kind], changed));
      changed();
    });
    box.appendChild(add);
    if (depth < MAX_DEPTH) {
      var addGroup = el("button", { type: "button", "data-role": "add-group" }, [L.labelAddGroup]);
      addGroup.addEventListener("click", function () {
        var sub = { any: [] };
        group[kind].push(sub);
        rows.appendChild(groupBox(sub, depth + 1, group[kind], changed));
        changed();
      });
      box.appendChild(addGroup);
    }
    if (parentItems) {
      var remove = el("button", { type: "button", "class": "danger", "data-role": "remove-group" }, [L.labelRemove]);
      remove.addEventListener("click", function () {
        parentItems.splice(parentItems.indexOf(group), 1);
        box.remove();
        changed();
      });
      box.appendChild(remove);
    }
    return box;
  }

  function render() {
    var parsed;
    try { parsed = JSON.parse(textarea.value || "{}"); } catch (e) { return false; }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) { return false; }
    if (Object.keys(parsed).length === 0) { parsed = { all: [] }; }
    if (!parsed.all && !parsed.any) { return false; }
    root = parsed;
    builder.innerHTML = "";
    builder.hidden = false;
    builder.appendChild(groupBox(root, 0, null, write));
    return true;
  }

  function write() {
    textarea.value = JSON.stringify(root, null, 2);
    scheduleCount();
  }

  // ------------------------------------------------------------ live count and sample
  function scheduleCount() {
    if (countTimer) { window.clearTimeout(countTimer); }
    countTimer = window.setTimeout(updateCount, 300);
  }

  function showError(message) {
    errorEl.textContent = message;
    errorEl.hidden = !message;
  }

  function showSample(rows) {
    var body = sampleEl.querySelector("tbody");
    body.innerHTML = "";
    rows.forEach(function (c) {
      var link = el("a", { href: c.url }, [c.email]);
      body.appendChild(el("tr", {}, [el("td", {}, [link]), el("td", {}, [c.name]), el("td", {}, [c.company]),
                                      el("td", {}, [c.job_title]), el("td", {}, [c.stage]), el("td", {}, [String(c.score)])]));
    });
    sampleEl.hidden = rows.length === 0;
  }

  function updateCount() {
    var rules;
    try { rules = JSON.parse(textarea.value || "{}"); } catch (e) { showError(e.message); countEl.textContent = "—"; return; }
    var mine = ++requestSeq;  // answers can arrive out of order: only the latest one is shown
    fetch(L.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": L.csrf },
      body: JSON.stringify({ rules: rules, limit: 10 }),
    })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (mine !== requestSeq) { return; }
        if (data.count === undefined) {
          countEl.textContent = "—";
          showError(data.message || data.error || "error");
          showSample([]);
          return;
        }
        showError("");
        countEl.textContent = String(data.count);
        showSample(data.sample || []);
      })
      .catch(function () { if (mine === requestSeq) { countEl.textContent = "—"; } });
  }

  textarea.addEventListener("input", scheduleCount);
  textarea.addEventListener("change", function () { render(); });
  if (!render()) { builder.hidden = true; }
  scheduleCount();
})();
