// Sequence builder: add, remove and reorder steps. Field names carry the step's index
// ("steps-3-template_id"); after every change they are renumbered in page order, which is the
// order the server stores.
(function () {
  "use strict";
  var list = document.getElementById("steps");
  var prototype = document.getElementById("step-prototype");
  var addButton = document.getElementById("add-step");
  if (!list || !prototype || !addButton) { return; }

  function renumber() {
    var steps = list.querySelectorAll("[data-step]");
    Array.prototype.forEach.call(steps, function (step, index) {
      Array.prototype.forEach.call(step.querySelectorAll("[name]"), function (input) {
        input.name = input.name.replace(/^steps-[^-]+-/, "steps-" + index + "-");
      });
      var number = step.querySelector("[data-step-number]");
      if (number) { number.textContent = String(index + 1); }
      var up = step.querySelector("[data-move=up]");
      var down = step.querySelector("[data-move=down]");
      if (up) { up.disabled = index === 0; }
      if (down) { down.disabled = index === steps.length - 1; }
      var remove = step.querySelector("[data-remove]");
      if (remove) { remove.disabled = steps.length === 1; }
    });
  }

  addButton.addEventListener("click", function () {
    var fragment = prototype.content.cloneNode(true);
    list.appendChild(fragment);
    renumber();
    var added = list.lastElementChild;
    var select = added && added.querySelector("select[name$=template_id]");
    if (select) { select.focus(); }
  });

  list.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button || !list.contains(button)) { return; }
    var step = button.closest("[data-step]");
    if (!step) { return; }
    if (button.hasAttribute("data-remove")) {
      step.remove();
    } else if (button.dataset.move === "up" && step.previousElementSibling) {
      list.insertBefore(step, step.previousElementSibling);
    } else if (button.dataset.move === "down" && step.nextElementSibling) {
      list.insertBefore(step.nextElementSibling, step);
    }
    renumber();
  });

  var form = document.getElementById("sequence-form");
  if (form) { form.addEventListener("submit", renumber); }
  renumber();
}());
