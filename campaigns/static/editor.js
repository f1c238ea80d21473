// Template editor: live preview. Posts the draft (with its CSRF token) to the preview endpoint and shows
// the result in a sandboxed iframe through srcdoc, so mail HTML never runs with the app's privileges.
(function () {
  "use strict";
  var form = document.getElementById("template-form");
  var frame = document.getElementById("preview-frame");
  if (!form || !frame || !form.dataset.previewUrl) { return; }
  var subject = document.getElementById("preview-subject");
  var text = document.getElementById("preview-text");
  var errorBox = document.getElementById("preview-error");
  var status = document.getElementById("preview-status");
  var timer = null;
  var inflight = null;
  var sequence = 0;

  function setStatus(key) {
    if (status && status.dataset[key]) { status.textContent = status.dataset[key]; }
    if (status) { status.dataset.state = key; }
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function refresh(initial) {
    var mine = ++sequence;
    if (inflight) { inflight.abort(); }
    inflight = new AbortController();
    setStatus("updating");
    fetch(form.dataset.previewUrl, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
      signal: inflight.signal
    }).then(function (response) {
      return response.json().catch(function () { return { ok: false, error: response.statusText }; });
    }).then(function (data) {
      if (mine !== sequence) { return; }  // a newer edit is already on its way
      if (!data.ok && initial === true && data.fields) {
        // A new template with fields still empty: nothing to correct before the first keystroke.
        setStatus("waiting");
        return;
      }
      if (!data.ok) {
        showError(data.error || data.message || "Error");
        setStatus("failed");
        return;
      }
      showError("");
      subject.textContent = data.subject;
      text.textContent = data.text;
      frame.removeAttribute("src");
      frame.srcdoc = data.html;
      frame.dataset.version = String(mine);
      setStatus("updated");
      if (data.notice) { status.textContent = data.notice; }
    }).catch(function (err) {
      if (err && err.name === "AbortError") { return; }
      showError(String(err));
      setStatus("failed");
    });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 350);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  var contact = document.getElementById("preview_contact");
  if (contact) { contact.addEventListener("input", schedule); }
  // Tab inserts two spaces in the source boxes instead of leaving the field.
  Array.prototype.forEach.call(form.querySelectorAll("textarea.code"), function (area) {
    area.addEventListener("keydown", function (event) {
      if (event.key !== "Tab" || event.shiftKey || event.ctrlKey || event.metaKey) { return; }
      event.preventDefault();
      var start = area.selectionStart;
      area.setRangeText("  ", start, area.selectionEnd, "end");
      schedule();
    });
  });
  refresh(true);
}());
