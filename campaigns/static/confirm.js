// The confirmation panel (templates/ui/_confirm.html): above the threshold the confirm button stays
// disabled until the typed number equals the count. The server checks it again (campaigns/views/confirm.py).
(function () {
  "use strict";
  function digits(text) {
    return (text || "").normalize("NFKC").replace(/[\s,._'\u3000]/g, "");
  }
  document.querySelectorAll(".confirm-form").forEach(function (form) {
    var typed = form.querySelector(".confirm-typed");
    var go = form.querySelector("[data-testid=confirm-go]");
    if (!typed || !go) { return; }
    function check() {
      var ok = digits(typed.value) === typed.dataset.expected;
      go.disabled = !ok;
      typed.setAttribute("aria-invalid", typed.value && !ok ? "true" : "false");
    }
    typed.addEventListener("input", check);
    check();
    typed.focus();
  });
})();
