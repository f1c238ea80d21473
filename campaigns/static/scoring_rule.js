// The scoring rule form (templates/ui/scoring/rule_form.html): only the fields of the chosen kind of rule
// are shown. Each optional field's wrapper names the kinds that use it in data-show-for; the others are
// hidden (and the server clears them anyway: campaigns/scoring/rules.clean_rule). Without this script
// every field shows, as before.
(function () {
  "use strict";
  const kind = document.getElementById("kind");
  if (!kind) return;
  const parts = Array.from(document.querySelectorAll("[data-show-for]"));

  function update() {
    parts.forEach(function (part) {
      const kinds = part.getAttribute("data-show-for").split(/\s+/);
      part.hidden = kinds.indexOf(kind.value) === -1;
    });
  }

  kind.addEventListener("change", update);
  update();
})();
