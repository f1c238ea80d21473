// Event name pickers: every input marked data-event-names (or added later, e.g. by the journey canvas)
// gets the list of event names seen (GET /events/names.json) as a <datalist>, so a marketer picks a name
// or types a new one. One fetch per page, on the first focus; no inline scripts (CSP).
(function () {
  "use strict";
  var LIST_ID = "nurture-event-names";
  var script = document.currentScript;
  var url = (script && script.dataset.namesUrl) || "/events/names.json";
  var loading = null;

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
          (data.names || []).forEach(function (name) {
            var option = document.createElement("option");
            option.value = name;
            list.appendChild(option);
          });
        })
        .catch(function () { /* free entry still works */ });
    }
    return loading;
  }

  function attach(input) {
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
      load();
    }
  });
})();
