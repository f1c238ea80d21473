// Segment editor: the rule tree drawn in words (nested "all of / any of" groups inside bordered boxes;
// contact fields, events, email engagement and list membership as rows numbered "Condition 1, 2 ..."),
// written to the JSON textarea (behind "Advanced"), with the live count and a sample.
// Served as a static file: the CSP allows no inline scripts. The words come from data-vocabulary
// (campaigns.audience.describe.vocabulary, in the page's language), the pickers from data-options.
(function () {
  "use strict";

  var builder = document.getElementById("rule-builder");
  var textarea = document.getElementById("rules");
  if (!builder || !textarea) { return; }
  var countEl = document.getElementById("segment-count");
  var errorEl = document.getElementById("segment-error");
  var sampleEl = document.getElementById("segment-sample");
  var advanced = document.getElementById("rules-advanced");
  var D = builder.dataset;
  var OPTIONS = parse(D.options);
  var V = parse(D.vocabulary);
  var W = V.labels || {};
  var OPS = V.ops || {};
  var ALL_ATTRIBUTE_OPS = ["eq", "neq", "contains", "starts_with", "in", "gt", "lt", "between", "exists", "exists:false"];
  var MAX_DEPTH = 3;
  var numberFormat = window.Intl ? new Intl.NumberFormat(document.documentElement.lang || undefined) : null;
  var countTimer = null;
  var requestSeq = 0;
  var root = null;
  var rows = new WeakMap();  // condition object -> its row, for the focus after a re-render

  function parse(text) {
    try { return JSON.parse(text || "{}") || {}; } catch (e) { return {}; }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function select(role, label, options, value) {
    // options: [value, label] pairs
    var s = el("select", { "data-role": role, "aria-label": label || "" });
    options.forEach(function (o) {
      var opt = el("option", { value: String(o[0]) }, [String(o[1])]);
      if (String(o[0]) === String(value)) { opt.selected = true; }
      s.appendChild(opt);
    });
    return s;
  }

  function input(role, label, value, attrs) {
    var i = el("input", Object.assign({ "data-role": role, "aria-label": label || "", placeholder: label || "" }, attrs || {}));
    i.value = value === undefined || value === null ? "" : String(value);
    return i;
  }

  // "in the last %(n)s days" with an input where %(n)s is: the unit stays in the sentence's own order (過去 [30] 日以内)
  function phrase(template, control) {
    var parts = String(template).split("%(n)s");
    var span = el("span", { "class": "rule-phrase" });
    span.appendChild(document.createTextNode(parts[0] || ""));
    span.appendChild(control);
    span.appendChild(document.createTextNode(parts[1] || ""));
    return span;
  }

  function fmt(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (m, k) { return values[k] === undefined ? m : values[k]; });
  }

  function kindOf(c) {
    if (c && (c.all || c.any)) { return "group"; }
    if ("event" in c) { return "event"; }
    if ("engagement" in c) { return "engagement"; }
    if ("list_id" in c) { return "list"; }
    if ("visited" in c) { return "visit"; }  // website conditions (campaigns/audience/web_conditions.py)
    if ("utm_source" in c) { return "utm"; }
    if ("organisation" in c) { return "organisation"; }
    return "attribute";
  }

  function fresh(kind) {
    if (kind === "event") { return { event: "", within_days: 30 }; }
    if (kind === "engagement") { return { engagement: "opened", within_days: 30 }; }
    if (kind === "visit") { return { visited: "/pricing*", within_days: 30 }; }
    if (kind === "utm") { return { utm_source: "", within_days: 30 }; }
    if (kind === "organisation") { return { organisation: "", op: "eq" }; }
    if (kind === "list") {
      var first = (OPTIONS.lists || [])[0];
      return { list_id: first ? first.id : 0 };
    }
    return { field: "job_title", op: "contains", value: "" };
  }

  function isNumberField(field) { return (V.numberFields || []).indexOf(field) >= 0; }

  function opKey(cond) {
    return cond.op === "exists" && cond.value === false ? "exists:false" : cond.op;
  }

  function opsFor(field) {
    if (field === "stage") { return V.stageOps || []; }
    if (isNumberField(field)) { return V.numberOps || []; }
    if (field.indexOf("attributes.") === 0) { return ALL_ATTRIBUTE_OPS; }
    return V.textOps || [];
  }

  function numberOrText(text) {
    var t = String(text).trim();
    return t !== "" && !isNaN(Number(t)) ? Number(t) : t;
  }

  function days(text) {
    var t = text.trim();
    return t === "" ? undefined : (isNaN(Number(t)) ? t : Number(t));
  }

  function setOrDrop(obj, key, value) {
    if (value === undefined || value === "") { delete obj[key]; } else { obj[key] = value; }
  }

  function listen(controls, handler) {
    controls.forEach(function (c) {
      c.addEventListener("input", handler);
      c.addEventListener("change", handler);
    });
  }

  // ------------------------------------------------------------ one condition row
  function conditionRow(cond, parentItems) {
    var row = el("div", { "class": "rule-row", role: "group" });
    var number = el("span", { "class": "rule-num", "data-role": "number" });
    var controls = el("div", { "class": "rule-controls" });
    rows.set(cond, row);

    function draw(focusRole) {
      row.innerHTML = "";
      controls.innerHTML = "";
      row.appendChild(number);
      var kind = kindOf(cond);
      var type = select("type", W.kind, V.kinds || [], kind);
      type.addEventListener("change", function () {
        Object.keys(cond).forEach(function (k) { delete cond[k]; });
        var f = fresh(type.value);
        Object.keys(f).forEach(function (k) { cond[k] = f[k]; });
        draw("type");
        changed();
      });
      controls.appendChild(type);
      if (kind === "attribute") { drawAttribute(); }
      if (kind === "event") { drawEvent(); }
      if (kind === "engagement") { drawEngagement(); }
      if (kind === "list") { drawList(); }
      if (kind === "visit") { drawVisit(); }
      if (kind === "utm") { drawUtm(); }
      if (kind === "organisation") { drawOrganisation(); }
      row.appendChild(controls);
      var remove = el("button", { type: "button", "class": "danger small", "data-role": "remove" }, [W.remove]);
      remove.addEventListener("click", function () {
        parentItems.splice(parentItems.indexOf(cond), 1);
        rerender();
      });
      row.appendChild(remove);
      if (focusRole) {
        var again = controls.querySelector('[data-role="' + focusRole + '"]');
        if (again) { again.focus(); }
      }
    }

    function drawAttribute() {
      var fieldName = cond.field || "";
      var isAttr = fieldName.indexOf("attributes.") === 0;
      var field = select("field", W.field, V.fields || [], isAttr ? "attributes." : fieldName);
      controls.appendChild(field);
      var attr = input("attr", W.customField, isAttr ? fieldName.slice(11) : "", { size: "12" });
      attr.hidden = !isAttr;
      controls.appendChild(attr);
      var ops = opsFor(isAttr ? "attributes." : fieldName);
      var key = opKey(cond);
      if (ops.indexOf(key) < 0) { key = ops[0]; setOp(key); }
      var op = select("op", W.operator, ops.map(function (o) { return [o, OPS[o] || o]; }), key);
      controls.appendChild(op);

      field.addEventListener("change", function () {
        cond.field = field.value === "attributes." ? "attributes." + attr.value.trim() : field.value;
        if (opsFor(field.value).indexOf(opKey(cond)) < 0) { setOp(opsFor(field.value)[0]); }
        if (field.value === "stage" && cond.op !== "in") { cond.value = (V.stages[0] || [""])[0]; }
        else if (fieldName === "stage") { cond.value = ""; }
        draw("field");
        changed();
      });
      attr.addEventListener("input", function () {
        cond.field = "attributes." + attr.value.trim();
        changed();
      });
      op.addEventListener("change", function () {
        var before = opKey(cond);
        setOp(op.value);
        if (op.value === "between") { cond.value = ["", ""]; }
        else if (op.value === "in") {  // a typed text carries over; a stage is picked again from the boxes
          cond.value = fieldName === "stage" ? [] : (Array.isArray(cond.value) ? cond.value : (cond.value ? [cond.value] : []));
        }
        else if (before === "in" || before === "between" || before.indexOf("exists") === 0) {
          cond.value = fieldName === "stage" ? (V.stages[0] || [""])[0] : "";
        }
        draw("op");
        changed();
      });

      var k = opKey(cond);
      if (k === "exists" || k === "exists:false") { return; }
      if (k === "between") {
        var range = Array.isArray(cond.value) ? cond.value : ["", ""];
        var low = input("low", W.low, range[0], { type: "number", size: "6", "class": "num" });
        var high = input("high", W.high, range[1], { type: "number", size: "6", "class": "num" });
        controls.appendChild(low);
        controls.appendChild(el("span", { "class": "rule-phrase" }, ["–"]));
        controls.appendChild(high);
        listen([low, high], function () { cond.value = [numberOrText(low.value), numberOrText(high.value)]; changed(); });
        return;
      }
      if (fieldName === "stage" && k === "in") {
        var chosen = Array.isArray(cond.value) ? cond.value : [];
        var box = el("span", { "class": "rule-choices" });
        (V.stages || []).forEach(function (st) {
          var check = el("input", { type: "checkbox", value: st[0], "data-role": "stage-choice" });
          check.checked = chosen.indexOf(st[0]) >= 0;
          check.addEventListener("change", function () {
            cond.value = Array.prototype.filter.call(box.querySelectorAll("input:checked"), function () { return true; })
              .map(function (c) { return c.value; });
            changed();
          });
          box.appendChild(el("label", { "class": "rule-choice" }, [check, " " + st[1]]));
        });
        controls.appendChild(box);
        return;
      }
      if (fieldName === "stage") {
        var stage = select("value", W.value, V.stages || [], cond.value);
        stage.addEventListener("change", function () { cond.value = stage.value; changed(); });
        controls.appendChild(stage);
        return;
      }
      if (k === "in") {
        var many = input("value", W.commaHint, Array.isArray(cond.value) ? cond.value.join(", ") : cond.value, { size: "20" });
        listen([many], function () {
          cond.value = many.value.split(/[,、，]/).map(function (s) { return s.trim(); }).filter(Boolean)
            .map(function (s) { return isNumberField(fieldName) ? numberOrText(s) : s; });
          changed();
        });
        controls.appendChild(many);
        return;
      }
      var numeric = isNumberField(fieldName) || k === "gt" || k === "lt";
      var value = input("value", W.value, cond.value, numeric ? { type: "number", size: "8", "class": "num" } : { size: "16" });
      listen([value], function () { cond.value = numeric ? numberOrText(value.value) : value.value; changed(); });
      controls.appendChild(value);
    }

    function setOp(key) {
      if (key === "exists:false") { cond.op = "exists"; cond.value = false; }
      else if (key === "exists") { cond.op = "exists"; cond.value = true; }
      else { cond.op = key; }
    }

    function withinControl() {
      var within = input("within", W.anyTime, cond.within_days, { type: "number", min: "1", size: "4", "class": "num", title: W.anyTime });
      within.setAttribute("aria-label", fmt(W.withinDays, { n: "" }).trim());
      listen([within], function () { setOrDrop(cond, "within_days", days(within.value)); changed(); });
      return phrase(W.withinDays, within);
    }

    function drawEvent() {
      var name = input("event-name", W.eventName, cond.event, { size: "18", "data-event-names": "" }); // static/event_names.js
      var occurred = select("occurred", W.eventName, [["true", W.happened], ["false", W.notHappened]],
                            cond.occurred === false ? "false" : "true");
      var prop = input("property", W.property, cond.property, { size: "12" });
      var value = input("prop-value", W.value, cond.value, { size: "10" });
      listen([name, occurred, prop, value], function () {
        cond.event = name.value.trim();
        setOrDrop(cond, "occurred", occurred.value === "false" ? false : undefined);
        setOrDrop(cond, "property", prop.value.trim());
        if (cond.property) { cond.value = value.value; } else { delete cond.value; }
        changed();
      });
      [name, occurred, withinControl(), prop, value].forEach(function (c) { controls.appendChild(c); });
    }

    function drawEngagement() {
      var kind = select("engagement", W.kind, V.engagements || [], cond.engagement);
      var targets = [["", W.anyMail]];
      (OPTIONS.broadcasts || []).forEach(function (b) { targets.push(["b" + b.id, W.broadcast + ": " + b.name]); });
      (OPTIONS.steps || []).forEach(function (s) { targets.push(["s" + s.id, W.step + ": " + s.name]); });
      var current = cond.broadcast_id ? "b" + cond.broadcast_id : (cond.step_id ? "s" + cond.step_id : "");
      var target = select("target", W.anyMail, targets, current);
      listen([kind, target], function () {
        cond.engagement = kind.value;
        delete cond.broadcast_id;
        delete cond.step_id;
        if (target.value.charAt(0) === "b") { cond.broadcast_id = Number(target.value.slice(1)); }
        if (target.value.charAt(0) === "s") { cond.step_id = Number(target.value.slice(1)); }
        changed();
      });
      [kind, target, withinControl()].forEach(function (c) { controls.appendChild(c); });
    }

    function drawList() {
      var member = select("member", W.onList, [["true", W.onList], ["false", W.notOnList]],
                          cond.member === false ? "false" : "true");
      var lists = (OPTIONS.lists || []).map(function (l) { return [l.id, l.name]; });
      if (!lists.length) { lists = [[0, W.noLists]]; }
      var list = select("list", W.onList, lists, cond.list_id);
      listen([member, list], function () {
        cond.list_id = Number(list.value);
        setOrDrop(cond, "member", member.value === "false" ? false : undefined);
        changed();
      });
      controls.appendChild(member);
      controls.appendChild(list);
    }

    // "visited [page] [at least n times] [in the last n days]"
    function drawVisit() {
      var page = input("visit-page", W.visitPattern, cond.visited, { size: "22", title: W.visitHint });
      page.setAttribute("placeholder", W.visitHint || "");
      var times = input("visit-times", "", cond.at_least || 1, { type: "number", min: "1", size: "3", "class": "num" });
      times.setAttribute("aria-label", fmt(W.visitAtLeast, { n: "" }).trim());
      listen([page, times], function () {
        cond.visited = page.value.trim();
        var n = days(times.value);
        setOrDrop(cond, "at_least", n === 1 ? undefined : n);
        changed();
      });
      [page, phrase(W.visitAtLeast, times), withinControl()]
        .forEach(function (c) { controls.appendChild(c); });
    }

    function drawUtm() {
      var source = input("utm-source", W.utmSource, cond.utm_source, { size: "14" });
      listen([source], function () { cond.utm_source = source.value.trim(); changed(); });
      [source, withinControl()].forEach(function (c) { controls.appendChild(c); });
    }

    function drawOrganisation() {
      var op = select("org-op", W.operator, [["eq", OPS.eq || "is"], ["contains", OPS.contains || "contains"]],
                      cond.op === "contains" ? "contains" : "eq");
      var name = input("org-name", W.organisation, cond.organisation, { size: "16" });
      listen([op, name], function () { cond.op = op.value; cond.organisation = name.value.trim(); changed(); });
      [op, name].forEach(function (c) { controls.appendChild(c); });
    }

    draw();
    return row;
  }

  // ------------------------------------------------------------ a group (all of / any of) and its items
  function groupBox(group, depth, parentItems) {
    var kind = group.any ? "any" : "all";
    if (!Array.isArray(group[kind])) { group[kind] = []; }
    var items = group[kind];
    var box = el("div", { "class": "rule-group", "data-depth": String(depth), role: "group" });
    var head = el("div", { "class": "rule-group-head" });
    var kindSel = select("kind", W.kind, [["all", W.groupAll], ["any", W.groupAny]], kind);
    kindSel.addEventListener("change", function () {
      delete group[kind];
      group[kindSel.value] = items;
      rerender();
    });
    var parts = String(depth === 0 ? W.groupHead : W.subgroupHead).split("%(choice)s");
    head.appendChild(el("span", {}, [parts[0] || ""]));
    head.appendChild(kindSel);
    head.appendChild(el("span", {}, [parts[1] || ""]));
    if (parentItems) {
      var remove = el("button", { type: "button", "class": "danger small", "data-role": "remove-group" }, [W.removeGroup]);
      remove.addEventListener("click", function () {
        parentItems.splice(parentItems.indexOf(group), 1);
        rerender();
      });
      head.appendChild(remove);
    }
    box.appendChild(head);
    var list = el("div", { "class": "rule-items" });
    items.forEach(function (item, i) {
      if (i > 0) { list.appendChild(el("div", { "class": "rule-join", "aria-hidden": "true" }, [kind === "all" ? W.and : W.or])); }
      list.appendChild(kindOf(item) === "group" ? groupBox(item, depth + 1, items) : conditionRow(item, items));
    });
    if (!items.length && depth === 0) { list.appendChild(el("p", { "class": "muted small" }, [W.empty])); }
    box.appendChild(list);
    var actions = el("div", { "class": "rule-group-actions" });
    var add = el("button", { type: "button", "class": "small", "data-role": "add" }, ["+ " + W.add]);
    add.addEventListener("click", function () {
      var cond = fresh("attribute");
      items.push(cond);
      rerender();
      focusRowOf(cond);
    });
    actions.appendChild(add);
    if (depth < MAX_DEPTH) {
      var addGroup = el("button", { type: "button", "class": "small", "data-role": "add-group" }, ["+ " + W.addGroup]);
      addGroup.addEventListener("click", function () {
        var first = fresh("attribute");
        items.push({ any: [first] });
        rerender();
        focusRowOf(first);
      });
      actions.appendChild(addGroup);
    }
    box.appendChild(actions);
    return box;
  }

  // after a re-render the old elements are gone: the new row of a condition object takes the focus
  function focusRowOf(cond) {
    var row = rows.get(cond);
    var first = row && row.querySelector("select");
    if (first) { first.focus(); }
  }

  function numberRows() {
    Array.prototype.forEach.call(builder.querySelectorAll(".rule-row"), function (row, i) {
      row.querySelector(".rule-num").textContent = fmt(W.condition, { n: i + 1 });
      row.dataset.condition = String(i + 1);
    });
  }

  function rerender() {
    var active = document.activeElement;
    var path = active && builder.contains(active) ? pathOf(active) : null;
    builder.innerHTML = "";
    builder.appendChild(groupBox(root, 0, null));
    numberRows();
    if (path) { restoreFocus(path); }
    changed();
  }

  // a focused control's place: (index among the builder's controls of its role)
  function pathOf(node) {
    var role = node.getAttribute("data-role");
    if (!role) { return null; }
    var same = builder.querySelectorAll('[data-role="' + role + '"]');
    return { role: role, index: Array.prototype.indexOf.call(same, node) };
  }

  function restoreFocus(path) {
    var same = builder.querySelectorAll('[data-role="' + path.role + '"]');
    var target = same[Math.min(path.index, same.length - 1)];
    if (target) { target.focus(); }
  }

  function render() {
    var parsed = parse(textarea.value);
    if (typeof parsed !== "object" || Array.isArray(parsed)) { return false; }
    if (Object.keys(parsed).length === 0) { parsed = { all: [] }; }
    if (!parsed.all && !parsed.any) { return false; }
    root = parsed;
    builder.innerHTML = "";
    builder.hidden = false;
    builder.appendChild(groupBox(root, 0, null));
    numberRows();
    return true;
  }

  function changed() {
    textarea.value = JSON.stringify(root, null, 2);
    numberRows();
    scheduleCount();
  }

  function markCondition(number) {
    Array.prototype.forEach.call(builder.querySelectorAll(".rule-row"), function (row) {
      row.classList.toggle("has-error", number !== null && row.dataset.condition === String(number));
    });
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
      body.appendChild(el("tr", {}, [el("td", {}, [link]), el("td", {}, [c.name || ""]), el("td", {}, [c.company || ""]),
                                      el("td", {}, [c.job_title || ""]), el("td", {}, [c.stage_label || c.stage]),
                                      el("td", { "class": "num" }, [String(c.score)])]));
    });
    sampleEl.hidden = rows.length === 0;
  }

  function updateCount() {
    var rules;
    try { rules = JSON.parse(textarea.value || "{}"); } catch (e) { showError(e.message); countEl.textContent = "—"; return; }
    var mine = ++requestSeq;  // answers can arrive out of order: only the latest one is shown
    fetch(D.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": D.csrf },
      body: JSON.stringify({ rules: rules, limit: 10 }),
    })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (mine !== requestSeq) { return; }
        if (data.count === undefined) {
          countEl.textContent = "—";
          showError(data.message || data.error || "error");
          markCondition(data.condition || null);
          showSample([]);
          return;
        }
        showError("");
        markCondition(null);
        countEl.textContent = numberFormat ? numberFormat.format(data.count) : String(data.count);
        showSample(data.sample || []);
      })
      .catch(function () { if (mine === requestSeq) { countEl.textContent = "—"; } });
  }

  textarea.addEventListener("input", scheduleCount);
  textarea.addEventListener("change", function () {
    if (!render()) { showNotEditable(); }
  });

  function showNotEditable() {
    builder.innerHTML = "";
    builder.hidden = false;
    builder.appendChild(el("p", { "class": "muted" }, [W.notEditable]));
    if (advanced) { advanced.open = true; }
  }

  if (!render()) { showNotEditable(); }
  if (D.errorCondition) { markCondition(Number(D.errorCondition)); }
  scheduleCount();
})();
