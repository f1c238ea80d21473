// Journey canvas: draws a journey's graph (docs/journeys.md) as a vertical flow chart with branches side by
// side, edits it (a "+" on every connection adds a step, a side panel edits the chosen step, exits carry
// their labels), checks it as you edit (cheap checks here, every rule on the server: graph.validate_graph),
// saves the draft, publishes after showing who is affected, and on a live journey shows each step's counts.
//
// Layout is hand-written on purpose: the canvas draws the graph as a tree from the start node (a node
// reached a second time, a merge or a loop back through a wait, is shown as a "then goes to" chip, as
// HubSpot and Mailchimp do), and nested flex boxes lay a tree out exactly, at any width, with no library.
// Served as a static file: the CSP allows no inline scripts. Everything it shows comes from #journey-data.
(function () {
  "use strict";

  var dataEl = document.getElementById("journey-data");
  var canvas = document.getElementById("journey-canvas");
  var panel = document.getElementById("journey-panel");
  if (!dataEl || !canvas || !panel) { return; }
  var D = JSON.parse(dataEl.textContent);
  var L = D.labels || {};
  var O = D.options || {};
  var U = D.urls || {};
  var editable = !!D.editable;
  var graph = normalise(D.graph);
  var settings = D.settings || {};
  var stats = D.stats;
  var liveNodes = {};
  (D.live_nodes || []).forEach(function (k) { liveNodes[k] = true; });
  var csrfInput = document.querySelector("input[name=csrf_token]");
  var csrf = csrfInput ? csrfInput.value : "";
  var nameInput = document.getElementById("journey-name");
  var stateEl = document.getElementById("save-state");
  var dialog = document.getElementById("publish-dialog");
  var selected = null;  // node id in the panel, or "settings"
  var serverProblem = null;  // {error, node}
  var dirty = false;
  var checkTimer = null;
  var checkSeq = 0;

  // ------------------------------------------------------------------ small helpers
  function t(key, params) {
    var text = L[key] || key;
    Object.keys(params || {}).forEach(function (k) { text = text.split("%(" + k + ")s").join(String(params[k])); });
    return text;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] === null || attrs[k] === undefined || attrs[k] === false) { return; }
      node.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) { return; }
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
    return node;
  }

  function button(label, cls, onClick, attrs) {
    var b = el("button", Object.assign({ type: "button", "class": cls || "" }, attrs || {}), [label]);
    b.addEventListener("click", onClick);
    return b;
  }

  function selectBox(options, value, onChange, attrs) {
    var s = el("select", attrs || {});
    options.forEach(function (o) {
      var opt = el("option", { value: String(o[0]) }, [String(o[1])]);
      if (String(o[0]) === String(value)) { opt.selected = true; }
      s.appendChild(opt);
    });
    s.addEventListener("change", function () { onChange(s.value); });
    return s;
  }

  function textBox(value, onChange, attrs) {
    var i = el("input", Object.assign({ type: "text" }, attrs || {}));
    i.value = value === undefined || value === null ? "" : String(value);
    i.addEventListener("input", function () { onChange(i.value); });
    return i;
  }

  function numberBox(value, onChange, attrs) {
    var i = el("input", Object.assign({ type: "number", step: "1", "class": "w-num" }, attrs || {}));
    i.value = value === undefined || value === null ? "" : String(value);
    i.addEventListener("input", function () { onChange(i.value === "" ? null : Number(i.value)); });
    return i;
  }

  function field(label, control, hint) {
    var id = "jf-" + Math.random().toString(36).slice(2, 9);
    if (control.tagName === "INPUT" || control.tagName === "SELECT" || control.tagName === "TEXTAREA") {
      control.id = id;
    }
    return el("div", { "class": "field" }, [el("label", { "for": id }, [label]), control,
                                              hint ? el("span", { "class": "hint" }, [hint]) : null]);
  }

  function named(list) { return (list || []).map(function (o) { return [o.id, o.name]; }); }

  function nameOf(list, id) {
    var found = (list || []).filter(function (o) { return String(o.id) === String(id); })[0];
    return found ? found.name : "";
  }

  function pct(rate) { return rate === null || rate === undefined ? "—" : (rate * 100).toFixed(1) + "%"; }

  function fmt(n) { return (n || 0).toLocaleString(); }

  function normalise(g) {
    g = g && typeof g === "object" ? JSON.parse(JSON.stringify(g)) : {};
    return { start: g.start || "", nodes: Array.isArray(g.nodes) ? g.nodes : [],
             edges: Array.isArray(g.edges) ? g.edges : [], layout: g.layout && typeof g.layout === "object" ? g.layout : {} };
  }

  // ------------------------------------------------------------------ the graph
  function nodeById(id) { return graph.nodes.filter(function (n) { return n.id === id; })[0] || null; }

  function exitsOf(node) {
    if (!node) { return []; }
    if (node.type === "send" || node.type === "wait" || node.type === "action") { return ["next"]; }
    if (node.type === "wait_for") { return ["happened", "timeout"]; }
    if (node.type === "branch") { return (node.branches || []).map(function (b) { return b.key; }).concat(["else"]); }
    if (node.type === "split") { return (node.paths || []).map(function (p) { return p.key; }); }
    return [];
  }

  function target(from, exit) {
    var e = graph.edges.filter(function (x) { return x.from === from && x.exit === exit; })[0];
    return e ? e.to : null;
  }

  function setEdge(from, exit, to) {
    graph.edges = graph.edges.filter(function (x) { return !(x.from === from && x.exit === exit); });
    if (to) { graph.edges.push({ from: from, exit: exit, to: to }); }
  }

  function dropStaleEdges(node) {
    // a branch or split whose keys changed: connections of exits that no longer exist go
    var exits = exitsOf(node);
    graph.edges = graph.edges.filter(function (x) { return x.from !== node.id || exits.indexOf(x.exit) >= 0; });
  }

  function newId() {
    var max = 0;
    graph.nodes.forEach(function (n) {
      var m = /^n(\d+)$/.exec(n.id);
      if (m) { max = Math.max(max, Number(m[1])); }
    });
    return "n" + (max + 1);
  }

  function freshKey(prefix, taken) {
    for (var i = 1; ; i++) { if (taken.indexOf(prefix + i) < 0) { return prefix + i; } }
  }

  function defaults(type) {
    var firstTemplate = (O.templates || [])[0];
    switch (type) {
      case "send": return firstTemplate ? { type: type, template_id: firstTemplate.id } : { type: type };
      case "wait": return { type: type, wait: { minutes: 1440 * 3 } };
      case "wait_for": return { type: type, until: { kind: "event", name: "" }, timeout: { minutes: 1440 * 7 } };
      case "branch": return { type: type, branches: [{ key: "clicked", label: "", condition: { previous_mail: "clicked" } }] };
      case "split": return { type: type, paths: [{ key: "A", percent: 50 }, { key: "B", percent: 50 }] };
      case "action": return { type: type, action: { kind: "add_score", points: 10 } };
      default: return { type: "end" };
    }
  }

  function reachable(start, nodes, edges) {
    var seen = {};
    var todo = start ? [start] : [];
    while (todo.length) {
      var id = todo.pop();
      if (seen[id]) { continue; }
      seen[id] = true;
      edges.forEach(function (e) { if (e.from === id && !seen[e.to]) { todo.push(e.to); } });
    }
    return nodes.filter(function (n) { return seen[n.id]; });
  }

  function insertNode(from, exit, type) {
    var node = defaults(type);
    node.id = newId();
    var oldTarget = from === null ? graph.start : target(from, exit);
    if (type === "end" && oldTarget) { flashState(t("end_only_last"), true); return; }
    graph.nodes.push(node);
    if (from === null) { graph.start = node.id; } else { setEdge(from, exit, node.id); }
    var exits = exitsOf(node);
    if (oldTarget && exits.length) { setEdge(node.id, exits[0], oldTarget); }
    changed();
    openNode(node.id);
  }

  function deletePlan(id) {
    // Incoming connections go on to the step after this one when there is exactly one; otherwise their path
    // ends here. Steps nobody can reach any more go too (the confirmation says how many).
    var node = nodeById(id);
    var connected = exitsOf(node).filter(function (e) { return target(id, e); });
    var cont = connected.length === 1 ? target(id, connected[0]) : null;
    if (cont === id) { cont = null; }
    var edges = graph.edges.filter(function (e) { return e.from !== id; }).map(function (e) {
      return e.to === id ? { from: e.from, exit: e.exit, to: cont } : e;
    }).filter(function (e) { return e.to; });
    var start = graph.start === id ? (cont || "") : graph.start;
    var rest = graph.nodes.filter(function (n) { return n.id !== id; });
    var kept = reachable(start, rest, edges);
    var keptIds = {};
    kept.forEach(function (n) { keptIds[n.id] = true; });
    return { start: start, nodes: kept, edges: edges.filter(function (e) { return keptIds[e.from] && keptIds[e.to]; }),
             lost: rest.length - kept.length };
  }

  function deleteNode(id) {
    var plan = deletePlan(id);
    var question = plan.lost ? t("delete_subtree", { n: plan.lost }) : t("delete_confirm");
    if (!window.confirm(question)) { return; }
    graph.start = plan.start;
    graph.nodes = plan.nodes;
    graph.edges = plan.edges;
    closePanel();
    changed();
  }

  // ------------------------------------------------------------------ words for nodes and exits
  function duration(minutes) {
    minutes = Number(minutes) || 0;
    if (minutes && minutes % 1440 === 0) { return [minutes / 1440, "days"]; }
    if (minutes && minutes % 60 === 0) { return [minutes / 60, "hours"]; }
    return [minutes, "minutes"];
  }

  function durationText(minutes) {
    var d = duration(minutes);
    return d[0] + " " + t(d[1]);
  }

  var DAY_KEYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

  function sendNodes() { return graph.nodes.filter(function (n) { return n.type === "send"; }); }

  function nodeTitle(node) {
    // a step's name, else what it does in words (the template, the wait, ...), else its type
    if (!node) { return ""; }
    if (node.name) { return node.name; }
    if (node.type === "send") { return nameOf(O.templates, node.template_id) || t("choose_template"); }
    return summary(node) || t("type_" + node.type);
  }

  function untilText(u) {
    u = u || {};
    if (u.kind === "event") { return t("until_event") + ": " + (u.name || "…"); }
    if (u.kind === "open") { return t("until_open") + ": " + nodeTitle(nodeById(u.node)); }
    if (u.kind === "click") { return t("until_click") + ": " + nodeTitle(nodeById(u.node)); }
    if (u.kind === "form") { return t("until_form") + ": " + nameOf(O.forms, u.form_id); }
    if (u.kind === "stage") { return t("until_stage") + ": " + nameOf(O.stages, u.stage); }
    return "";
  }

  function summary(node) {
    switch (node.type) {
      case "send": return nameOf(O.templates, node.template_id) + abSummary(node);
      case "wait":
        var w = node.wait || {};
        if (w.minutes) { return durationText(w.minutes); }
        if (w.window) {
          var days = (w.window.days || "").split("").map(function (d) { return t(DAY_KEYS[Number(d) - 1]); }).join(" ");
          return days + " " + w.window.start_hour + ":00–" + w.window.end_hour + ":00";
        }
        if (w.date) {
          return (w.date.attribute || w.date.event_property || "") + " " + (w.date.offset_days >= 0 ? "+" : "") +
            (w.date.offset_days || 0) + " " + t("days") + " " + (w.date.hour || 0) + ":00";
        }
        return "";
      case "wait_for": return untilText(node.until) + " · " + t("timeout") + " " + durationText((node.timeout || {}).minutes);
      case "branch": return exitsOf(node).map(function (e) { return exitLabel(node, e); }).join(" / ");
      case "split": return (node.paths || []).map(function (p) { return p.key + " " + p.percent + "%"; }).join(" · ");
      case "action":
        var a = node.action || {};
        var detail = { add_score: (a.points > 0 ? "+" : "") + (a.points || ""), set_stage: nameOf(O.stages, a.stage),
                       add_to_list: nameOf(O.lists, a.list_id), remove_from_list: nameOf(O.lists, a.list_id),
                       notify_sales: nameOf(O.triggers, a.trigger_id), webhook: a.url || "",
                       enrol_journey: nameOf(O.journeys, a.journey_id),
                       set_attribute: (a.key || "") + " = " + (a.value === undefined ? "" : a.value) }[a.kind] || "";
        return t("act_" + a.kind) + (detail ? ": " + detail : "");
      default: return "";
    }
  }

  function abSummary(node) {
    if (!node.ab) { return ""; }
    return " · " + t("ab_short") + " " + (node.ab.variants || []).map(function (v, i) {
      return "ABCDE".charAt(i) + " " + v.percent + "%";
    }).join(" / ");
  }

  function exitLabel(node, exit) {
    if (exit === "next") { return t("exit_next"); }
    if (exit === "happened" || exit === "timeout" || exit === "else") { return t("exit_" + exit); }
    if (node.type === "branch") {
      var b = (node.branches || []).filter(function (x) { return x.key === exit; })[0] || {};
      if (b.label) { return b.label; }
      var c = b.condition || {};
      if (c.previous_mail) { return t("cond_" + c.previous_mail); }
      return t("cond_rules");
    }
    if (node.type === "split") {
      var p = (node.paths || []).filter(function (x) { return x.key === exit; })[0] || {};
      return t("path") + " " + exit + " (" + (p.percent || 0) + "%)";
    }
    return exit;
  }

  // ------------------------------------------------------------------ cheap client-side checks
  function problemsOf(node) {
    var out = [];
    var positive = function (v) { return typeof v === "number" && v >= 1 && Math.floor(v) === v; };
    if (node.type === "send" && !node.template_id) { out.push(t("need_template")); }
    if (node.type === "send" && node.ab) {
      var variants = node.ab.variants || [];
      if (variants.length < 2) { out.push(t("ab_need_two")); }
      if (variants.some(function (v) { return !v.template_id; })) { out.push(t("ab_need_template")); }
      var abTotal = variants.reduce(function (sum, v) { return sum + (Number(v.percent) || 0); }, 0);
      if (abTotal !== 100) { out.push(t("percent_total", { n: abTotal })); }
    }
    if (node.type === "wait") {
      var w = node.wait || {};
      if ("minutes" in w && !positive(w.minutes)) { out.push(t("need_number")); }
      if (w.window && !w.window.days) { out.push(t("need_days")); }
      if (w.window && !(w.window.start_hour < w.window.end_hour)) { out.push(t("need_hours")); }
      if (w.date && !(w.date.attribute || w.date.event_property)) { out.push(t("need_key")); }
    }
    if (node.type === "wait_for") {
      var u = node.until || {};
      if (u.kind === "event" && !(u.name || "").trim()) { out.push(t("need_event")); }
      if ((u.kind === "open" || u.kind === "click") && !(nodeById(u.node) || {}).type) { out.push(t("need_mail")); }
      if (u.kind === "form" && !u.form_id) { out.push(t("need_form")); }
      if (!positive((node.timeout || {}).minutes)) { out.push(t("need_number")); }
    }
    if (node.type === "branch" && !(node.branches || []).length) { out.push(t("need_condition")); }
    if (node.type === "split") {
      var total = (node.paths || []).reduce(function (sum, p) { return sum + (Number(p.percent) || 0); }, 0);
      if (total !== 100) { out.push(t("percent_total", { n: total })); }
      var g = node.goal;
      if (g && g.kind === "event" && !(g.name || "").trim()) { out.push(t("need_event")); }
    }
    if (node.type === "action") {
      var a = node.action || {};
      if ((a.kind === "add_to_list" || a.kind === "remove_from_list") && !a.list_id) { out.push(t("need_list")); }
      if (a.kind === "add_score" && !(typeof a.points === "number" && a.points !== 0)) { out.push(t("need_points")); }
      if (a.kind === "notify_sales" && !a.trigger_id) { out.push(t("need_trigger")); }
      if (a.kind === "webhook" && !/^https?:\/\/\S+/i.test(a.url || "")) { out.push(t("need_url")); }
      if (a.kind === "enrol_journey" && !a.journey_id) { out.push(t("need_journey")); }
      if (a.kind === "set_attribute" && !(a.key || "").trim()) { out.push(t("need_key")); }
    }
    return out;
  }

  function clientProblems() {
    var out = [];
    graph.nodes.forEach(function (n) { problemsOf(n).forEach(function (m) { out.push({ node: n.id, error: m }); }); });
    return out;
  }

  // ------------------------------------------------------------------ drawing
  function nodeStats(id) { return stats && liveNodes[id] ? (stats.nodes || {})[id] : null; }

  function statsLine(node) {
    var s = nodeStats(node.id);
    if (!s) { return stats && !liveNodes[node.id] ? el("div", { "class": "jc-stats muted" }, [t("new_node")]) : null; }
    var parts = [el("span", { "data-stat": "now" }, [t("now") + " ", el("strong", {}, [fmt(s.now)])]),
                 el("span", { "data-stat": "passed" }, [t("passed") + " ", el("strong", {}, [fmt(s.passed)])])];
    // walks that reached the goal here left by no drawn line: say how many, or the lines below add up short
    if (s.exits && s.exits.goal) {
      parts.push(el("span", { "data-stat": "goal" }, [t("reached_goal") + " ", el("strong", {}, [fmt(s.exits.goal)])]));
    }
    var box = el("div", { "class": "jc-stats", "data-testid": "node-stats-" + node.id }, parts);
    if (s.send) {
      box.appendChild(el("div", { "class": "jc-mail" }, [
        el("span", {}, [t("sent") + " ", el("strong", {}, [fmt(s.send.sent)])]),
        el("span", {}, [t("open_rate") + " ", el("strong", {}, [pct(s.send.open_rate)])]),
        el("span", {}, [t("click_rate") + " ", el("strong", {}, [pct(s.send.click_rate)])])]));
    }
    var ab = stats && stats.ab ? stats.ab[node.id] : null;
    if (ab) { box.appendChild(abLine(ab)); }
    if (s.split && s.split.decision) {
      var d = s.split.decision;
      var text = d.status === "winner" ? t("decision_winner", { name: (s.split.paths[d.winner_index] || {}).key })
        : d.status === "no_winner_yet" ? t("decision_running") : t("decision_none");
      box.appendChild(el("div", { "class": "jc-decision small" }, [text]));
    }
    return box;
  }

  function abLine(ab) {
    // the node's A/B test as the A/B statistics see it: per variant its mails, rate, interval and chance to be best
    var rows = ab.variants.map(function (v, i) {
      var interval = v.interval ? pct(v.interval[0]) + "–" + pct(v.interval[1]) : "";
      return el("li", { "data-testid": "ab-variant-" + v.key, "class": ab.winner === i ? "jc-ab-winner" : "" }, [
        el("strong", {}, [v.key]), " " + (v.percent || "") + (v.percent ? "% · " : ""),
        t("sent") + " " + fmt(v.sends) + " · " + t(ab.metric === "click" ? "click_rate" : "open_rate") + " ",
        el("strong", {}, [pct(v.rate)]),
        interval ? el("span", { "class": "muted" }, [" (" + interval + ")"]) : null,
        v.probability_best !== null && v.probability_best !== undefined
          ? " · " + t("chance_best") + " " + pct(v.probability_best) : ""]);
    });
    var status = ab.winner !== null && ab.winner !== undefined
      ? t("ab_decided", { name: (ab.variants[ab.winner] || {}).key })
      : ab.status === "testing" && ab.splitting ? t("ab_running", { n: fmt(ab.planned_per_variant) })
      : ab.status === "testing" ? t("ab_waiting")
      : ab.status === "awaiting_decision" ? t("ab_awaiting") : t("ab_stopped");
    var box = el("div", { "class": "jc-ab small", "data-testid": "ab-live" }, [
      el("div", { "class": "jc-ab-head" }, [t("ab_short") + " · " + status]), el("ul", {}, rows)]);
    if (ab.url) {
      var link = el("a", { href: ab.url, "data-testid": "ab-result-link" }, [t("ab_results")]);
      link.addEventListener("click", function (ev) { ev.stopPropagation(); });
      box.appendChild(link);
    }
    return box;
  }

  function card(node) {
    var problems = problemsOf(node);
    var server = serverProblem && serverProblem.node === node.id ? serverProblem.error : null;
    var cls = "jc-node jc-t-" + node.type + (selected === node.id ? " selected" : "") +
      (problems.length || server ? " has-problem" : "");
    var box = el("div", { "class": cls, "data-node": node.id, "data-testid": "node-" + node.id, role: "button",
                          tabindex: "0" }, [  // named by its text: type, title, summary and counts (axe: the name holds what is seen)
      el("div", { "class": "jc-type" }, [t("type_" + node.type)]),
      el("div", { "class": "jc-title" }, [nodeTitle(node)]),
      node.name && summary(node) ? el("div", { "class": "jc-summary" }, [summary(node)])
        : node.ab ? el("div", { "class": "jc-summary" }, [abSummary(node).replace(/^ · /, "")]) : null,
      statsLine(node),
    ]);
    problems.concat(server ? [server] : []).forEach(function (m) {
      box.appendChild(el("div", { "class": "jc-problem", role: "alert", "data-testid": "problem-" + node.id }, [m]));
    });
    box.addEventListener("click", function () { openNode(node.id); });
    box.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { openNode(node.id); } });
    return box;
  }

  function addButton(from, exit) {
    var wrap = el("div", { "class": "jc-add-wrap" });
    if (!editable) { wrap.appendChild(el("div", { "class": "jc-line" })); return wrap; }
    var b = button("+", "jc-add", function (ev) {
      ev.stopPropagation();
      openMenu(wrap, from, exit);
    }, { "aria-label": t("add_node"), title: t("add_node"),
         "data-testid": "add-" + (from === null ? "start" : from + "-" + exit) });
    wrap.appendChild(b);
    return wrap;
  }

  function openMenu(wrap, from, exit) {
    closeMenus();
    var menu = el("div", { "class": "jc-menu", role: "menu", "data-testid": "type-menu" },
                  [el("div", { "class": "jc-menu-title" }, [t("choose_type")])]);
    ["send", "wait", "wait_for", "branch", "split", "action", "end"].forEach(function (type) {
      menu.appendChild(button(t("type_" + type), "jc-menu-item", function (ev) {
        ev.stopPropagation();
        closeMenus();
        insertNode(from, exit, type);
      }, { role: "menuitem", "data-type": type }));
    });
    wrap.appendChild(menu);
  }

  function closeMenus() {
    Array.prototype.forEach.call(document.querySelectorAll(".jc-menu"), function (m) { m.remove(); });
  }

  function exitBlock(node, exit, placed, labelled) {
    var block = el("div", { "class": "jc-exit", "data-exit": exit });
    var s = nodeStats(node.id);
    var took = s ? (s.exits || {})[exit] || 0 : null;
    if (labelled) {
      var label = el("div", { "class": "jc-exit-label jc-exit-" + exit, "data-testid": "exit-" + node.id + "-" + exit },
                     [exitLabel(node, exit)]);
      if (took !== null) { label.appendChild(el("span", { "class": "jc-took" }, [" · " + fmt(took)])); }
      var path = s && s.split ? (s.split.paths || []).filter(function (p) { return p.key === exit; })[0] : null;
      if (path) {
        label.appendChild(el("div", { "class": "jc-path-stats small", "data-testid": "path-" + node.id + "-" + exit }, [
          t("goal_rate") + " " + pct(path.rate) + " (" + pct(path.interval[0]) + "–" + pct(path.interval[1]) + ")",
          path.probability_best !== null && path.probability_best !== undefined
            ? " · " + t("chance_best") + " " + pct(path.probability_best) : "",
          " · " + fmt(path.counted) + " " + t("counted")]));
      }
      block.appendChild(label);
    } else if (took !== null && took) {
      block.appendChild(el("div", { "class": "jc-took-solo small muted" }, [fmt(took)]));
    }
    block.appendChild(el("div", { "class": "jc-line" }));
    block.appendChild(addButton(node.id, exit));
    var to = target(node.id, exit);
    if (!to) {
      block.appendChild(el("div", { "class": "jc-line" }));
      block.appendChild(el("div", { "class": "jc-end-marker" }, [t("journey_ends")]));
    } else if (placed[to]) {
      block.appendChild(el("div", { "class": "jc-line" }));
      var chip = button(t("goes_to") + ": " + nodeTitle(nodeById(to)), "jc-jump", function () { focusNode(to); },
                        { "data-testid": "jump-" + node.id + "-" + exit });
      block.appendChild(chip);
    } else {
      block.appendChild(chain(to, placed));
    }
    return block;
  }

  function chain(id, placed) {
    var node = nodeById(id);
    var col = el("div", { "class": "jc-col" });
    if (!node) { return col; }
    placed[id] = true;
    col.appendChild(card(node));
    var exits = exitsOf(node);
    if (exits.length === 1) {
      col.appendChild(exitBlock(node, exits[0], placed, false));
    } else if (exits.length > 1) {
      var row = el("div", { "class": "jc-branches" });
      exits.forEach(function (e) { row.appendChild(el("div", { "class": "jc-branch" }, [exitBlock(node, e, placed, true)])); });
      col.appendChild(row);
    } else if (node.type === "end") {
      col.appendChild(el("div", { "class": "jc-line short" }));
    }
    return col;
  }

  var firstRender = true;

  function render() {
    var scroll = [canvas.scrollLeft, canvas.scrollTop];
    canvas.innerHTML = "";
    var flow = el("div", { "class": "jc-flow" });
    var start = el("div", { "class": "jc-start", role: "button", tabindex: "0", "data-testid": "entry-pill" },
                   [el("div", { "class": "jc-type" }, [t("start")]), el("div", { "class": "jc-summary" }, [entrySummary()])]);
    if (editable) { start.addEventListener("click", openSettings); }
    flow.appendChild(start);
    flow.appendChild(addButton(null, null));
    if (graph.start && nodeById(graph.start)) {
      var placed = {};
      flow.appendChild(chain(graph.start, placed));
    } else {
      flow.appendChild(el("div", { "class": "jc-end-marker" }, [t("journey_ends")]));
    }
    if (serverProblem && !serverProblem.node) {
      flow.insertBefore(el("div", { "class": "jc-problem global", role: "alert", "data-testid": "problem-graph" },
                           [serverProblem.error]), flow.firstChild);
    }
    canvas.appendChild(flow);
    if (firstRender) {
      // the entry sits in the middle of the tree: start there, whatever the box's width (phones)
      firstRender = false;
      var entry = flow.querySelector(".jc-start");
      canvas.scrollLeft = Math.max(0, entry.offsetLeft + entry.offsetWidth / 2 - canvas.clientWidth / 2);
    } else {
      canvas.scrollLeft = scroll[0];
      canvas.scrollTop = scroll[1];
    }
  }

  function entrySummary() {
    var entry = settings.entry || [];
    if (!entry.length) { return t("entry_none"); }
    return entry.map(function (e) {
      if (e.kind === "event") { return t("entry_event") + ": " + (e.name || "…"); }
      if (e.kind === "form") { return t("entry_form") + ": " + nameOf(O.forms, e.form_id); }
      if (e.kind === "segment") { return t("entry_segment") + ": " + nameOf(O.segments, e.segment_id); }
      if (e.kind === "list") { return t("entry_list") + ": " + nameOf(O.lists, e.list_id); }
      if (e.kind === "stage") { return t("entry_stage") + ": " + nameOf(O.stages, e.stage); }
      return t("entry_date") + ": " + (e.attribute || e.event_property || "");
    }).join(" / ");
  }

  function focusNode(id) {
    var box = canvas.querySelector('[data-node="' + id + '"]');
    if (box) {
      box.scrollIntoView({ block: "center", inline: "center" });
      box.classList.add("flash-node");
      window.setTimeout(function () { box.classList.remove("flash-node"); }, 1200);
    }
  }

  // ------------------------------------------------------------------ the side panel
  function closePanel() {
    selected = null;
    panel.hidden = true;
    panel.innerHTML = "";
    render();
  }

  function panelHead(title) {
    panel.innerHTML = "";
    panel.hidden = false;
    panel.appendChild(el("div", { "class": "jp-head" }, [el("h2", {}, [title]),
      button("×", "icon", closePanel, { "aria-label": t("close"), title: t("close"), "data-testid": "panel-close" })]));
  }

  function edited(node) {
    // the node changed in the panel: redraw the canvas (the panel keeps its inputs and focus)
    changed(node);
  }

  function openNode(id) {
    var node = nodeById(id);
    if (!node) { return; }
    selected = id;
    panelHead(t("type_" + node.type));
    panel.setAttribute("data-node", id);
    var body = el("div", { "class": "jp-body" });
    panel.appendChild(body);
    if (nodeStats(id)) { body.appendChild(contactsBox(id)); }
    if (editable) {
      body.appendChild(field(t("name"), textBox(node.name, function (v) {
        if (v.trim()) { node.name = v; } else { delete node.name; }
        edited(node);
      }, { maxlength: "200", "data-field": "name" })));
      var editors = { send: sendEditor, wait: waitEditor, wait_for: waitForEditor, branch: branchEditor,
                      split: splitEditor, action: actionEditor };
      if (editors[node.type]) { editors[node.type](node, body); }
      body.appendChild(el("div", { "class": "actions" }, [
        button(t("delete"), "danger", function () { deleteNode(id); }, { "data-testid": "delete-node" })]));
    }
    render();
    if (window.matchMedia && window.matchMedia("(max-width: 900px)").matches) {
      panel.scrollIntoView({ block: "start" });
    }
  }

  function sendEditor(node, body) {
    if (!(O.templates || []).length) {
      body.appendChild(el("p", { "class": "error" }, [t("no_templates")]));
      return;
    }
    body.appendChild(field(t("template"), selectBox([["", t("choose_template")]].concat(named(O.templates)),
      node.template_id || "", function (v) {
        if (v) { node.template_id = Number(v); } else { delete node.template_id; }
        if (node.ab) { node.ab.variants[0].template_id = node.template_id || null; drawAb(); }
        edited(node);
      }, { "data-field": "template" })));
    // A/B test of this mail: variant A is the mail above; each variant takes a share of the contacts
    var abBox = el("div", { "class": "jp-ab", "data-testid": "ab-panel" });
    var toggle = el("input", { type: "checkbox", "data-field": "ab-on" });
    toggle.checked = !!node.ab;
    toggle.addEventListener("change", function () {
      if (toggle.checked) {
        var other = (O.templates || []).filter(function (o) { return o.id !== node.template_id; })[0];
        node.ab = { variants: [{ template_id: node.template_id || null, percent: 50 },
                               { template_id: other ? other.id : null, percent: 50 }],
                    metric: "open", days: 14, per_variant: 0, window_hours: 24, winner: "auto" };
      } else {
        delete node.ab;
      }
      drawAb(); edited(node);
    });
    body.appendChild(el("div", { "class": "field jp-ab-toggle" }, [el("label", { "class": "checkbox-label" }, [toggle, " " + t("ab_on")])]));
    body.appendChild(abBox);
    function drawAb() {
      abBox.innerHTML = "";
      var ab = node.ab;
      if (!ab) { abBox.appendChild(el("p", { "class": "hint" }, [t("ab_hint")])); return; }
      var list = el("div", { "class": "jp-list" });
      abBox.appendChild(el("div", { "class": "field" }, [el("label", {}, [t("ab_variants")]), list]));
      ab.variants.forEach(function (v, i) {
        var letter = "ABCDE".charAt(i);
        var choice = i === 0
          ? el("span", { "class": "jp-ab-control" }, [nameOf(O.templates, v.template_id) || t("choose_template")])
          : selectBox([["", t("choose_template")]].concat(named(O.templates)), v.template_id || "", function (val) {
              v.template_id = val ? Number(val) : null; edited(node);
            }, { "data-field": "ab-template-" + i, "aria-label": t("ab_variant", { key: letter }) });
        var row = el("div", { "class": "jp-ab-row", "data-testid": "ab-row-" + i }, [
          el("strong", {}, [t("ab_variant", { key: letter })]), choice,
          el("span", { "class": "jp-ab-share" }, [
            numberBox(v.percent, function (val) { v.percent = val; edited(node); },
                      { min: "1", max: "99", "data-field": "ab-percent-" + i, "aria-label": t("ab_share", { key: letter }) }),
            el("span", {}, [t("percent")])])]);
        if (i >= 2) {
          row.appendChild(button(t("remove"), "danger icon", function () { ab.variants.splice(i, 1); drawAb(); edited(node); }));
        }
        list.appendChild(row);
      });
      if (ab.variants.length < 5) {
        list.appendChild(button("+ " + t("ab_add"), "", function () {
          ab.variants.push({ template_id: null, percent: 0 }); drawAb(); edited(node);
        }, { "data-testid": "ab-add" }));
      }
      abBox.appendChild(field(t("ab_metric"), selectBox([["open", t("ab_metric_open")], ["click", t("ab_metric_click")]],
        ab.metric === "click" ? "click" : "open", function (val) { ab.metric = val; edited(node); },
        { "data-field": "ab-metric" }), t("human_only")));
      abBox.appendChild(el("div", { "class": "inline-fields" }, [
        field(t("ab_days"), numberBox(ab.days, function (val) { ab.days = val; edited(node); },
                                      { min: "1", max: "365", "data-field": "ab-days" })),
        field(t("ab_per_variant"), numberBox(ab.per_variant || null, function (val) { ab.per_variant = val || 0; edited(node); },
                                             { min: "0", "data-field": "ab-per-variant", placeholder: t("ab_auto") }))]));
      abBox.appendChild(field(t("ab_window"), numberBox(ab.window_hours, function (val) { ab.window_hours = val; edited(node); },
        { min: "1", max: "720", "data-field": "ab-window" })));
      abBox.appendChild(field(t("ab_winner"), selectBox([["auto", t("ab_winner_auto")], ["manual", t("ab_winner_manual")]],
        ab.winner || "auto", function (val) { ab.winner = val; edited(node); }, { "data-field": "ab-winner" })));
    }
    drawAb();
  }

  function durationInput(minutes, onChange, role) {
    var d = duration(minutes);
    var value = d[0];
    var unit = d[1];
    var wrap = el("span", { "class": "inline-fields" });
    var num = numberBox(value, function (v) { value = v; emit(); }, { min: "1", "data-field": role + "-value" });
    var sel = selectBox([["minutes", t("minutes")], ["hours", t("hours")], ["days", t("days")]], unit,
                        function (v) { unit = v; emit(); }, { "data-field": role + "-unit" });
    function emit() {
      var factor = { minutes: 1, hours: 60, days: 1440 }[unit];
      onChange(value === null || isNaN(value) ? null : Math.round(value * factor));
    }
    wrap.appendChild(num);
    wrap.appendChild(sel);
    return wrap;
  }

  function waitEditor(node, body) {
    var w = node.wait || { minutes: 1440 };
    var mode = w.window ? "window" : (w.date ? "date" : "minutes");
    var detail = el("div", {});
    body.appendChild(field(t("wait_how"), selectBox([["minutes", t("wait_duration")], ["window", t("wait_window")],
                                                      ["date", t("wait_date")]], mode, function (v) {
      node.wait = v === "minutes" ? { minutes: 1440 } : v === "window"
        ? { window: { days: "12345", start_hour: 9, end_hour: 18 } } : { date: { attribute: "", offset_days: -1, hour: 9 } };
      draw();
      edited(node);
    }, { "data-field": "wait-kind" })));
    body.appendChild(detail);
    function draw() {
      detail.innerHTML = "";
      var wait = node.wait;
      if (wait.minutes !== undefined) {
        detail.appendChild(field(t("wait_duration"), durationInput(wait.minutes, function (m) {
          wait.minutes = m; edited(node);
        }, "wait")));
      } else if (wait.window) {
        var win = wait.window;
        var days = el("div", { "class": "days" });
        DAY_KEYS.forEach(function (key, i) {
          var box = el("input", { type: "checkbox", value: String(i + 1) });
          box.checked = (win.days || "").indexOf(String(i + 1)) >= 0;
          box.addEventListener("change", function () {
            win.days = Array.prototype.filter.call(days.querySelectorAll("input"), function (b) { return b.checked; })
              .map(function (b) { return b.value; }).join("");
            edited(node);
          });
          days.appendChild(el("label", { "class": "day" }, [box, " " + t(key)]));
        });
        detail.appendChild(el("div", { "class": "field" }, [el("label", {}, [t("weekdays")]), days]));
        detail.appendChild(el("div", { "class": "inline-fields" }, [
          field(t("from_hour"), numberBox(win.start_hour, function (v) { win.start_hour = v; edited(node); }, { min: "0", max: "23" })),
          field(t("to_hour"), numberBox(win.end_hour, function (v) { win.end_hour = v; edited(node); }, { min: "1", max: "24" }))]));
      } else {
        var date = wait.date;
        var source = "event_property" in date ? "event_property" : "attribute";
        detail.appendChild(field(t("wait_date"), selectBox([["attribute", t("date_attribute")], ["event_property", t("date_event")]],
          source, function (v) {
            var name = date[source] || "";
            delete date.attribute;
            delete date.event_property;
            date[v] = name;
            draw();
            edited(node);
          })));
        detail.appendChild(field(t("key"), textBox(date[source], function (v) { date[source] = v.trim(); edited(node); },
                                                   { placeholder: "seminar_date" })));
        detail.appendChild(el("div", { "class": "inline-fields" }, [
          field(t("offset_days"), numberBox(date.offset_days, function (v) { date.offset_days = v || 0; edited(node); })),
          field(t("at_hour"), numberBox(date.hour, function (v) { date.hour = v || 0; edited(node); }, { min: "0", max: "23" }))]));
      }
    }
    node.wait = w;
    draw();
  }

  function happeningEditor(obj, body, onChange, kinds, labels) {
    // an event / open / click / form / stage, for a wait-for's "until" and a split's goal
    var detail = el("div", {});
    function draw() {
      detail.innerHTML = "";
      var u = obj();
      if (u.kind === "event") {
        detail.appendChild(field(t("event_name"), textBox(u.name, function (v) { u.name = v.trim(); onChange(); },
                                                          { placeholder: "webinar_attended", "data-field": "event-name", maxlength: "100", "data-event-names": "" })));
        var where = u.where || {};
        var prop = Object.keys(where)[0] || "";
        var propBox = textBox(prop, update, { placeholder: "topic", "data-field": "where-property", size: "10" });
        var valueBox = textBox(prop ? where[prop] : "", update, { "data-field": "where-value", size: "10" });
        function update() {
          var p = propBox.value.trim();
          if (p) { u.where = {}; u.where[p] = valueBox.value; } else { delete u.where; }
          onChange();
        }
        detail.appendChild(el("div", { "class": "inline-fields" }, [field(t("property"), propBox), field(t("value"), valueBox)]));
      } else if (u.kind === "open" || u.kind === "click") {
        var mails = sendNodes().map(function (n) { return [n.id, nodeTitle(n)]; });
        detail.appendChild(field(t("mail_node"), selectBox([["", t("need_mail")]].concat(mails), u.node || "", function (v) {
          u.node = v; onChange();
        }, { "data-field": "mail-node" })));
        if (u.kind === "click") {
          detail.appendChild(field(t("link_url"), textBox(u.url, function (v) {
            if (v.trim()) { u.url = v.trim(); } else { delete u.url; }
            onChange();
          }, { placeholder: "https://" })));
        }
      } else if (u.kind === "form") {
        detail.appendChild(field(t("form"), selectBox([["", t("need_form")]].concat(named(O.forms)), u.form_id || "", function (v) {
          u.form_id = v ? Number(v) : null; onChange();
        })));
      } else if (u.kind === "stage") {
        detail.appendChild(field(t("stage"), selectBox(named(O.stages), u.stage, function (v) { u.stage = v; onChange(); })));
      }
    }
    return { detail: detail, draw: draw };
  }

  function freshHappening(kind) {
    var firstMail = sendNodes()[0];
    var first = { event: { kind: "event", name: "" }, open: { kind: "open", node: firstMail ? firstMail.id : "" },
                  click: { kind: "click", node: firstMail ? firstMail.id : "" },
                  form: { kind: "form", form_id: ((O.forms || [])[0] || {}).id || null },
                  stage: { kind: "stage", stage: "mql" }, segment: { kind: "segment", segment_id: ((O.segments || [])[0] || {}).id || null } };
    return first[kind];
  }

  function waitForEditor(node, body) {
    node.until = node.until || freshHappening("event");
    var h = happeningEditor(function () { return node.until; }, body, function () { edited(node); });
    body.appendChild(field(t("until_kind"), selectBox(
      [["event", t("until_event")], ["open", t("until_open")], ["click", t("until_click")], ["form", t("until_form")],
       ["stage", t("until_stage")]], node.until.kind, function (v) {
        node.until = freshHappening(v); h.draw(); edited(node);
      }, { "data-field": "until-kind" })));
    body.appendChild(h.detail);
    h.draw();
    node.timeout = node.timeout || { minutes: 10080 };
    body.appendChild(field(t("timeout"), durationInput(node.timeout.minutes, function (m) {
      node.timeout = { minutes: m }; edited(node);
    }, "timeout")));
  }

  // branch conditions: "opened / clicked the previous mail" or simple rules in the segment language
  var FIELDS = ["company", "job_title", "source", "stage", "score", "email", "timezone"];
  var OPS = ["eq", "neq", "contains", "starts_with", "gt", "lt", "exists"];

  function simpleRules(rules) {
    // rows of {field, op, value} / {event, within_days} / {list_id} in one all/any group: drawn as rows;
    // anything else (nested groups, other operators) stays as JSON for experts
    if (!rules || typeof rules !== "object") { return false; }
    var kind = rules.all ? "all" : (rules.any ? "any" : null);
    if (!kind || !Array.isArray(rules[kind])) { return false; }
    return rules[kind].every(function (c) {
      if (!c || typeof c !== "object") { return false; }
      if ("field" in c) { return OPS.indexOf(c.op) >= 0 && (FIELDS.indexOf(c.field) >= 0 || /^attributes\./.test(c.field)); }
      if ("event" in c) { return !("property" in c) && c.occurred !== false; }
      if ("list_id" in c) { return c.member !== false; }
      return false;
    });
  }

  function ruleRow(cond, items, onChange, redraw) {
    var row = el("div", { "class": "rule-row" });
    var kind = "event" in cond ? "event" : ("list_id" in cond ? "list" : "field");
    row.appendChild(selectBox([["field", t("field_attribute")], ["event", t("rule_event")], ["list", t("rule_list")]], kind,
      function (v) {
        Object.keys(cond).forEach(function (k) { delete cond[k]; });
        if (v === "event") { cond.event = ""; cond.within_days = 30; }
        else if (v === "list") { cond.list_id = ((O.lists || [])[0] || {}).id || 0; }
        else { cond.field = "company"; cond.op = "eq"; cond.value = ""; }
        redraw(); onChange();
      }, { "data-field": "rule-kind" }));
    if (kind === "field") {
      var isAttr = /^attributes\./.test(cond.field);
      var options = FIELDS.map(function (f) { return [f, t("field_" + f)]; }).concat([["attributes.", t("field_attribute")]]);
      var attr = textBox(isAttr ? cond.field.slice(11) : "", function (v) { cond.field = "attributes." + v.trim(); onChange(); },
                         { placeholder: t("attribute_name"), size: "10" });
      attr.hidden = !isAttr;
      row.appendChild(selectBox(options, isAttr ? "attributes." : cond.field, function (v) {
        cond.field = v === "attributes." ? "attributes." + attr.value.trim() : v;
        attr.hidden = v !== "attributes.";
        onChange();
      }, { "data-field": "rule-field" }));
      row.appendChild(attr);
      var value = textBox(cond.op === "exists" ? "" : cond.value, function (v) {
        var n = Number(v);
        cond.value = (cond.field === "score" || cond.op === "gt" || cond.op === "lt") && v.trim() !== "" && !isNaN(n) ? n : v;
        onChange();
      }, { size: "10", placeholder: t("value"), "data-field": "rule-value" });
      value.hidden = cond.op === "exists";
      row.appendChild(selectBox(OPS.map(function (o) { return [o, t("op_" + o)]; }), cond.op, function (v) {
        cond.op = v;
        if (v === "exists") { cond.value = true; } else if (cond.value === true) { cond.value = ""; }
        value.hidden = v === "exists";
        onChange();
      }, { "data-field": "rule-op" }));
      row.appendChild(value);
    } else if (kind === "event") {
      row.appendChild(textBox(cond.event, function (v) { cond.event = v.trim(); onChange(); },
                              { placeholder: t("event_name"), size: "14", "data-field": "rule-event", "data-event-names": "" }));
      row.appendChild(el("span", { "class": "small muted" }, [t("within_days")]));
      row.appendChild(numberBox(cond.within_days, function (v) {
        if (v) { cond.within_days = v; } else { delete cond.within_days; }
        onChange();
      }, { min: "1" }));
    } else {
      row.appendChild(selectBox(named(O.lists), cond.list_id, function (v) { cond.list_id = Number(v); onChange(); }));
    }
    row.appendChild(button(t("remove"), "danger icon", function () {
      items.splice(items.indexOf(cond), 1); redraw(); onChange();
    }));
    return row;
  }

  function rulesEditor(condition, onChange) {
    var box = el("div", { "class": "jp-rules" });
    function draw() {
      box.innerHTML = "";
      var rules = condition.rules;
      if (!simpleRules(rules)) {
        var area = el("textarea", { rows: "5", "class": "code", "data-field": "rules-json" });
        area.value = JSON.stringify(rules, null, 2);
        area.addEventListener("input", function () {
          try { condition.rules = JSON.parse(area.value); onChange(); } catch (e) { /* keeps the last valid rules */ }
        });
        box.appendChild(area);
        return;
      }
      var kind = rules.any ? "any" : "all";
      box.appendChild(selectBox([["all", t("all_rules")], ["any", t("any_rules")]], kind, function (v) {
        var items = rules[kind];
        delete rules[kind];
        rules[v] = items;
        draw();
        onChange();
      }));
      rules[kind].forEach(function (c) { box.appendChild(ruleRow(c, rules[kind], onChange, draw)); });
      box.appendChild(button("+ " + t("add_rule"), "", function () {
        rules[kind].push({ field: "company", op: "eq", value: "" }); draw(); onChange();
      }, { "data-testid": "add-rule" }));
    }
    draw();
    return box;
  }

  function branchEditor(node, body) {
    var list = el("div", { "class": "jp-list" });
    body.appendChild(el("div", { "class": "field" }, [el("label", {}, [t("conditions")]), list]));
    function draw() {
      list.innerHTML = "";
      (node.branches || []).forEach(function (b, i) {
        var c = b.condition || {};
        var mode = c.previous_mail ? c.previous_mail : "rules";
        var item = el("div", { "class": "jp-item", "data-testid": "branch-" + i });
        item.appendChild(selectBox([["opened", t("cond_opened")], ["clicked", t("cond_clicked")], ["rules", t("cond_rules")]],
          mode, function (v) {
            b.condition = v === "rules" ? { rules: { all: [{ field: "score", op: "gt", value: 50 }] } } : { previous_mail: v };
            draw(); edited(node);
          }, { "data-field": "condition-kind" }));
        item.appendChild(textBox(b.label, function (v) { b.label = v; edited(node); },
                                 { placeholder: t("label"), maxlength: "200", "data-field": "branch-label" }));
        if (mode === "rules") { item.appendChild(rulesEditor(b.condition, function () { edited(node); })); }
        if (node.branches.length > 1) {
          item.appendChild(button(t("remove"), "danger icon", function () {
            node.branches.splice(i, 1); dropStaleEdges(node); draw(); edited(node);
          }));
        }
        list.appendChild(item);
      });
      list.appendChild(button("+ " + t("add_condition"), "", function () {
        var keys = node.branches.map(function (b) { return b.key; });
        node.branches.push({ key: freshKey("if", keys), label: "", condition: { previous_mail: "opened" } });
        draw(); edited(node);
      }, { "data-testid": "add-condition" }));
      list.appendChild(el("p", { "class": "hint" }, [t("else_note")]));
    }
    node.branches = node.branches || [];
    draw();
  }

  function splitEditor(node, body) {
    var list = el("div", { "class": "jp-list" });
    body.appendChild(el("div", { "class": "field" }, [el("label", {}, [t("paths")]), list]));
    function draw() {
      list.innerHTML = "";
      node.paths.forEach(function (p, i) {
        var row = el("div", { "class": "inline-fields", "data-testid": "path-row-" + i }, [
          el("strong", {}, [t("path") + " " + p.key]),
          numberBox(p.percent, function (v) { p.percent = v; edited(node); }, { min: "1", max: "100", "data-field": "percent" }),
          el("span", {}, [t("percent")])]);
        if (node.paths.length > 2) {
          row.appendChild(button(t("remove"), "danger icon", function () {
            node.paths.splice(i, 1); dropStaleEdges(node); draw(); edited(node);
          }));
        }
        list.appendChild(row);
      });
      if (node.paths.length < 10) {
        list.appendChild(button("+ " + t("add_path"), "", function () {
          var letters = "ABCDEFGHIJ";
          var keys = node.paths.map(function (p) { return p.key; });
          var key = letters.split("").filter(function (l) { return keys.indexOf(l) < 0; })[0];
          node.paths.push({ key: key, percent: 0 });
          draw(); edited(node);
        }));
      }
    }
    node.paths = node.paths || [];
    draw();
    var goalMode = node.goal ? "event" : "none";
    var goalBox = el("div", {});
    body.appendChild(field(t("split_goal"), selectBox([["none", t("split_goal_none")], ["event", t("split_goal_event")]],
      goalMode, function (v) {
        if (v === "none") { delete node.goal; } else { node.goal = { kind: "event", name: "" }; }
        drawGoal(); edited(node);
      }, { "data-field": "split-goal" })));
    body.appendChild(goalBox);
    function drawGoal() {
      goalBox.innerHTML = "";
      if (!node.goal) { return; }
      var h = happeningEditor(function () { return node.goal; }, goalBox, function () { edited(node); });
      goalBox.appendChild(h.detail);
      h.draw();
    }
    drawGoal();
  }

  function actionEditor(node, body) {
    node.action = node.action || { kind: "add_score", points: 10 };
    var detail = el("div", {});
    var kinds = ["add_score", "set_stage", "add_to_list", "remove_from_list", "set_attribute", "notify_sales", "webhook",
                 "enrol_journey", "suppress"];
    body.appendChild(field(t("action_kind"), selectBox(kinds.map(function (k) { return [k, t("act_" + k)]; }),
      node.action.kind, function (v) {
        var first = function (list) { return ((O[list] || [])[0] || {}).id || null; };
        node.action = { add_score: { kind: v, points: 10 }, set_stage: { kind: v, stage: "mql" },
                        add_to_list: { kind: v, list_id: first("lists") }, remove_from_list: { kind: v, list_id: first("lists") },
                        set_attribute: { kind: v, key: "", value: "" }, notify_sales: { kind: v, trigger_id: first("triggers") },
                        webhook: { kind: v, url: "" }, enrol_journey: { kind: v, journey_id: first("journeys") },
                        suppress: { kind: v, reason: "sunset" } }[v];
        draw(); edited(node);
      }, { "data-field": "action-kind" })));
    body.appendChild(detail);
    function pick(label, list, key, need) {
      var a = node.action;
      detail.appendChild(field(label, selectBox([["", t(need)]].concat(named(O[list])), a[key] || "", function (v) {
        a[key] = v ? Number(v) : null; edited(node);
      }, { "data-field": key })));
    }
    function draw() {
      detail.innerHTML = "";
      var a = node.action;
      if (a.kind === "add_score") {
        detail.appendChild(field(t("points"), numberBox(a.points, function (v) { a.points = v; edited(node); }, { "data-field": "points" })));
      } else if (a.kind === "set_stage") {
        detail.appendChild(field(t("stage"), selectBox(named(O.stages), a.stage, function (v) { a.stage = v; edited(node); })));
      } else if (a.kind === "add_to_list" || a.kind === "remove_from_list") {
        pick(t("list"), "lists", "list_id", "need_list");
      } else if (a.kind === "notify_sales") {
        pick(t("trigger"), "triggers", "trigger_id", "need_trigger");
      } else if (a.kind === "enrol_journey") {
        pick(t("journey"), "journeys", "journey_id", "need_journey");
      } else if (a.kind === "webhook") {
        detail.appendChild(field(t("url"), textBox(a.url, function (v) { a.url = v.trim(); edited(node); }, { placeholder: "https://" })));
      } else if (a.kind === "suppress") {
        detail.appendChild(el("p", { "class": "hint", "data-testid": "suppress-hint" }, [t("suppress_hint")]));
      } else if (a.kind === "set_attribute") {
        detail.appendChild(field(t("key"), textBox(a.key, function (v) { a.key = v.trim(); edited(node); }, { placeholder: "plan" })));
        detail.appendChild(field(t("value"), textBox(a.value, function (v) { a.value = v; edited(node); })));
      }
    }
    draw();
  }

  // ------------------------------------------------------------------ settings panel
  function openSettings() {
    selected = "settings";
    panelHead(t("settings"));
    panel.setAttribute("data-node", "");
    var body = el("div", { "class": "jp-body", "data-testid": "settings-panel" });
    panel.appendChild(body);
    settings.entry = settings.entry || [];
    var entries = el("div", { "class": "jp-list" });
    body.appendChild(el("div", { "class": "field" }, [el("label", {}, [t("entry")]), entries]));
    function drawEntries() {
      entries.innerHTML = "";
      if (!settings.entry.length) { entries.appendChild(el("p", { "class": "hint" }, [t("entry_none")])); }
      settings.entry.forEach(function (e, i) {
        var item = el("div", { "class": "jp-item" });
        item.appendChild(selectBox([["event", t("entry_event")], ["form", t("entry_form")], ["segment", t("entry_segment")],
                                    ["list", t("entry_list")], ["stage", t("entry_stage")], ["date", t("entry_date")]],
          e.kind, function (v) {
            var fresh = v === "segment" ? { kind: v, segment_id: ((O.segments || [])[0] || {}).id || null }
              : v === "list" ? { kind: v, list_id: ((O.lists || [])[0] || {}).id || null }
              : v === "date" ? { kind: v, attribute: "", offset_days: -1, hour: 9 } : freshHappening(v);
            settings.entry[i] = fresh; drawEntries(); changed();
          }, { "data-field": "entry-kind" }));
        if (e.kind === "event" || e.kind === "form" || e.kind === "stage") {
          var h = happeningEditor(function () { return settings.entry[i]; }, item, changed);
          item.appendChild(h.detail);
          h.draw();
        } else if (e.kind === "segment") {
          item.appendChild(selectBox([["", t("need_segment")]].concat(named(O.segments)), e.segment_id || "", function (v) {
            e.segment_id = v ? Number(v) : null; changed();
          }));
        } else if (e.kind === "list") {
          item.appendChild(selectBox([["", t("need_list")]].concat(named(O.lists)), e.list_id || "", function (v) {
            e.list_id = v ? Number(v) : null; changed();
          }));
        } else if (e.kind === "date") {
          item.appendChild(field(t("date_attribute"), textBox(e.attribute, function (v) { e.attribute = v.trim(); changed(); },
                                                               { placeholder: "seminar_date" })));
          item.appendChild(el("div", { "class": "inline-fields" }, [
            field(t("offset_days"), numberBox(e.offset_days, function (v) { e.offset_days = v || 0; changed(); })),
            field(t("at_hour"), numberBox(e.hour, function (v) { e.hour = v || 0; changed(); }, { min: "0", max: "23" }))]));
        }
        item.appendChild(button(t("remove"), "danger icon", function () { settings.entry.splice(i, 1); drawEntries(); changed(); }));
        entries.appendChild(item);
      });
      entries.appendChild(button("+ " + t("add_trigger"), "", function () {
        settings.entry.push({ kind: "event", name: "" }); drawEntries(); changed();
      }, { "data-testid": "add-trigger" }));
    }
    drawEntries();

    var reentry = el("input", { type: "checkbox", "data-field": "reentry" });
    reentry.checked = !!settings.reentry;
    reentry.addEventListener("change", function () { settings.reentry = reentry.checked; changed(); });
    body.appendChild(el("div", { "class": "field" }, [el("label", { "class": "checkbox-label" }, [reentry, " " + t("reentry")])]));

    var goalBox = el("div", {});
    var goalKind = settings.goal ? settings.goal.kind : "none";
    body.appendChild(field(t("goal"), selectBox([["none", t("goal_none")], ["event", t("goal_event")], ["form", t("goal_form")],
                                                  ["stage", t("goal_stage")], ["segment", t("goal_segment")]], goalKind,
      function (v) { settings.goal = v === "none" ? null : freshHappening(v); drawGoal(); changed(); }, { "data-field": "goal-kind" })));
    body.appendChild(goalBox);
    function drawGoal() {
      goalBox.innerHTML = "";
      var g = settings.goal;
      if (!g) { return; }
      if (g.kind === "segment") {
        goalBox.appendChild(field(t("segment"), selectBox([["", t("need_segment")]].concat(named(O.segments)), g.segment_id || "",
          function (v) { g.segment_id = v ? Number(v) : null; changed(); })));
        return;
      }
      var h = happeningEditor(function () { return settings.goal; }, goalBox, changed);
      goalBox.appendChild(h.detail);
      h.draw();
    }
    drawGoal();

    settings.exit = settings.exit || {};
    var ex = settings.exit;
    body.appendChild(el("h3", {}, [t("exit")]));
    body.appendChild(field(t("exit_events"), textBox((ex.events || []).join(", "), function (v) {
      ex.events = v.split(/[,、，]+/).map(function (s) { return s.trim(); }).filter(Boolean); changed();
    }, { placeholder: "demo_booked", "data-field": "exit-events", "data-event-names": "list" })));
    var stages = el("div", { "class": "days" });
    (O.stages || []).forEach(function (st) {
      var box = el("input", { type: "checkbox", value: st.id });
      box.checked = (ex.stages || []).indexOf(st.id) >= 0;
      box.addEventListener("change", function () {
        ex.stages = Array.prototype.filter.call(stages.querySelectorAll("input"), function (b) { return b.checked; })
          .map(function (b) { return b.value; });
        changed();
      });
      stages.appendChild(el("label", { "class": "day" }, [box, " " + st.name]));
    });
    body.appendChild(el("div", { "class": "field" }, [el("label", {}, [t("exit_stages")]), stages]));
    body.appendChild(el("div", { "class": "inline-fields" }, [
      field(t("exit_segment"), selectBox([["", t("no_segment")]].concat(named(O.segments)), ex.segment_id || "", function (v) {
        ex.segment_id = v ? Number(v) : null; changed();
      })),
      field("\u00a0", selectBox([["in", t("exit_segment_in")], ["out", t("exit_segment_out")]], ex.segment_when || "in",
                                function (v) { ex.segment_when = v; changed(); }))]));
    body.appendChild(el("p", { "class": "hint" }, [t("always_exit")]));
    body.appendChild(field(t("max_visits"), numberBox(settings.max_visits || 3, function (v) {
      settings.max_visits = v; changed();
    }, { min: "1", max: "100", "data-field": "max-visits" })));
    render();
  }

  // ------------------------------------------------------------------ the contacts at a node (live)
  function contactsBox(id) {
    var s = nodeStats(id);
    var box = el("div", { "class": "jp-contacts", "data-testid": "node-contacts" }, [
      el("h3", {}, [t("contacts_here") + " (" + fmt(s.now) + ")"])]);
    var table = el("table", { "class": "list compact" }, [el("tbody", {})]);
    var more = button(t("more"), "", function () { load(page + 1); });
    more.hidden = true;
    var page = 1;
    box.appendChild(el("div", { "class": "scroll-x" }, [table]));
    box.appendChild(more);
    function load(p) {
      page = p;
      fetch(U.contacts.replace("__node__", encodeURIComponent(id)) + "?page=" + p,
            { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          var tbody = table.querySelector("tbody");
          if (!data.total) { box.replaceChild(el("p", { "class": "muted" }, [t("no_contacts_here")]), box.querySelector(".scroll-x")); }
          (data.contacts || []).forEach(function (c) {
            tbody.appendChild(el("tr", {}, [el("td", {}, [
              el("a", { href: c.url }, [c.email]),
              c.waiting ? el("span", { "class": "badge" }, [t("waiting")]) : null,
              c.name ? el("div", { "class": "small" }, [c.name]) : null,
              el("div", { "class": "small muted" }, [t("entered") + " " + c.entered_at + " (" + data.zone + ")"])])]));
          });
          more.hidden = data.page >= data.pages;
        })
        .catch(function () { box.appendChild(el("p", { "class": "error" }, [t("network")])); });
    }
    load(1);
    return box;
  }

  // ------------------------------------------------------------------ validation, saving, publishing
  function flashState(text, bad) {
    if (!stateEl) { return; }
    stateEl.textContent = text;
    stateEl.classList.toggle("error", !!bad);
  }

  function changed() {
    dirty = true;
    render();
    var local = clientProblems();
    flashState(local.length ? t("problem") + ": " + local[0].error : t("unsaved"), !!local.length);
    scheduleCheck();
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().catch(function () { return { error: t("network") }; }).then(function (data) {
        data.httpStatus = r.status; return data;
      });
    });
  }

  function scheduleCheck() {
    if (checkTimer) { window.clearTimeout(checkTimer); }
    checkTimer = window.setTimeout(runCheck, 500);
  }

  function runCheck() {
    if (clientProblems().length) { return; }
    var mine = ++checkSeq;
    post(U.check, { graph: graph, settings: settings }).then(function (data) {
      if (mine !== checkSeq) { return; }
      serverProblem = data.error ? { error: data.error, node: data.node } : null;
      render();
      if (serverProblem) { flashState(t("problem") + ": " + serverProblem.error, true); }
      else if (dirty) { flashState(t("unsaved") + " · " + t("valid"), false); }
    }).catch(function () {});
  }

  function save() {
    var local = clientProblems();
    if (local.length) {
      flashState(t("problem") + ": " + local[0].error, true);
      focusNode(local[0].node);
      return Promise.resolve(false);
    }
    flashState(t("saving"), false);
    var body = { graph: graph, settings: settings };
    if (nameInput) { body.name = nameInput.value; }
    return post(U.save, body).then(function (data) {
      if (data.ok) {
        serverProblem = null;
        dirty = false;
        render();
        flashState(t("saved") + " " + data.updated_at + " (" + data.zone + ")", false);
        return true;
      }
      serverProblem = { error: data.error, node: data.node };
      render();
      flashState(t("problem") + ": " + data.error, true);
      if (data.node) { focusNode(data.node); }
      return false;
    }).catch(function () { flashState(t("network"), true); return false; });
  }

  function publishFlow() {
    save().then(function (ok) {
      if (!ok) { return; }
      fetch(U.impact, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(showPublishDialog)
        .catch(function () { flashState(t("network"), true); });
    });
  }

  function showPublishDialog(impact) {
    dialog.innerHTML = "";
    dialog.hidden = false;
    dialog.appendChild(el("h2", {}, [t("publish_title")]));
    if (impact.error) {
      dialog.appendChild(el("p", { "class": "error", role: "alert" }, [impact.error]));
      dialog.appendChild(button(t("close"), "", function () { dialog.hidden = true; }));
      return;
    }
    var moves = {};
    var removed = impact.removed || [];
    if (!removed.length) {
      dialog.appendChild(el("p", {}, [t("publish_nothing_moves")]));
    } else {
      dialog.appendChild(el("p", {}, [t("publish_removed")]));
      var targets = [["exit", t("move_exit")]].concat(graph.nodes.map(function (n) {
        return [n.id, t("move_to") + ": " + nodeTitle(n) + " (" + t("type_" + n.type) + ")"];
      }));
      var rows = el("tbody", {});
      removed.forEach(function (r) {
        moves[r.node] = "exit";
        rows.appendChild(el("tr", { "data-testid": "removed-" + r.node }, [
          el("td", {}, [r.name || r.node]), el("td", { "class": "num" }, [t("publish_contacts", { n: fmt(r.count) })]),
          el("td", {}, [selectBox(targets, "exit", function (v) { moves[r.node] = v; }, { "data-field": "move-" + r.node })])]));
      });
      dialog.appendChild(el("div", { "class": "scroll-x" }, [el("table", { "class": "list compact" }, [rows])]));
    }
    var error = el("p", { "class": "error", role: "alert" });
    dialog.appendChild(error);
    dialog.appendChild(el("div", { "class": "actions" }, [
      button(t("publish_confirm"), "primary", function () {
        post(U.publish, { moves: moves }).then(function (data) {
          if (data.ok) { window.location.href = data.redirect; return; }
          error.textContent = data.error || t("network");
          if (data.node) { serverProblem = { error: data.error, node: data.node }; render(); }
        }).catch(function () { error.textContent = t("network"); });
      }, { "data-testid": "publish-confirm" }),
      button(t("cancel"), "", function () { dialog.hidden = true; })]));
    dialog.scrollIntoView({ block: "center" });
  }

  function refreshStats() {
    if (!stats || !U.stats) { return; }
    fetch(U.stats, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) { stats = data; render(); })
      .catch(function () {});
  }

  // ------------------------------------------------------------------ wiring
  document.addEventListener("click", function (ev) {
    if (!ev.target.closest || !ev.target.closest(".jc-add-wrap")) { closeMenus(); }
  });
  var saveButton = document.getElementById("save-draft");
  if (saveButton) { saveButton.addEventListener("click", save); }
  var publishButton = document.getElementById("publish");
  if (publishButton) { publishButton.addEventListener("click", publishFlow); }
  var settingsButton = document.getElementById("open-settings");
  if (settingsButton) { settingsButton.addEventListener("click", openSettings); }
  if (nameInput) { nameInput.addEventListener("input", function () { dirty = true; flashState(t("unsaved"), false); }); }
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (ev) { if (!window.confirm(form.getAttribute("data-confirm"))) { ev.preventDefault(); } });
  });
  window.addEventListener("beforeunload", function (ev) {
    if (dirty) { ev.preventDefault(); ev.returnValue = ""; }
  });
  if (stats) { window.setInterval(refreshStats, 30000); }
  render();
})();
