// Event name pickers: every input marked data-event-names (or added later, e.g. by the journey canvas)
// gets the list of event names seen (GET /events/names.json) as a <datalist>, so a marketer picks a name
// or types a new one. data-event-names="list" marks a comma-separated list (a sequence's trigger events):
// its own datalist offers "what is typed so far, <name>", so picking adds a name instead of replacing the
// list. One fetch per page; no inline scripts (CSP).
(function () {
  "use strict";
  var LIST_ID = "nurture-event-names";
  var script = document.currentScript;
  var url = (script && script.dataset.namesUrl) || "/events/names.json";
  var loading = null;
  var names = [];

  function datalist() {
    var list = document.getElementById(LIST_ID);
    if (!list) {
      list = document.createElement("datalist");
      list.id = LIST_ID;
      document.body.appendChild(list);
    }
    return list;
  }

  function load() {
    if (!loading) {
      loading = fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { names: [] }; })
        .then(function (data) {
          var list = datalist();
          names = data.names || [];
          names.forEach(function (name) {
            var option = document.createElement("option");
            option.value = name;
            list.appendChild(option);
          });
        })
        .catch(function () { /* free entry still works */ });
    }
    return loading;
  }

  function fillList(input) {
    // "a, b, c" -> options "a, b, <name>" for each name not in the list yet
    var own = document.getElementById(input.dataset.ownList);
    var parts = input.value.split(",");
    parts.pop();
    var taken = parts.map(function (p) { return p.trim(); });
    var prefix = taken.filter(Boolean).map(function (p) { return p + ", "; }).join("");
    own.textContent = "";
    names.forEach(function (name) {
      if (taken.indexOf(name) >= 0) { return; }
      var option = document.createElement("option");
      option.value = prefix + name;
      option.label = name;
      own.appendChild(option);
    });
  }

  function attach(input) {
    if (input.dataset.eventNames === "list") {
      if (!input.dataset.ownList) {
        var own = document.createElement("datalist");
        own.id = LIST_ID + "-" + (input.id || input.name || Math.random().toString(36).slice(2));
        document.body.appendChild(own);
        input.dataset.ownList = own.id;
        input.setAttribute("list", own.id);
        input.setAttribute("autocomplete", "off");
        input.addEventListener("input", function () { fillList(input); });
        input.addEventListener("focus", function () { load().then(function () { fillList(input); }); });
      }
      return;
    }
    if (input.getAttribute("list") !== LIST_ID) {
      input.setAttribute("list", LIST_ID);
      input.setAttribute("autocomplete", "off");
    }
  }

  document.querySelectorAll("input[data-event-names]").forEach(attach);
  if (document.querySelector("input[data-event-names]")) { load(); }
  // Inputs drawn later (the journey canvas's side panel, the segment editor's rows) attach on focus.
  document.addEventListener("focusin", function (e) {
    var el = e.target;
    if (el && el.matches && el.matches("input[data-event-names]")) {
      attach(el);
      load().then(function () { if (el.dataset.ownList) { fillList(el); } });
    }
  });
})();
