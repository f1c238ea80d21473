// Every UI page (templates/ui/base.html): the top navigation, and keyboard access to boxes that scroll.
//
// Navigation: the menu button on phones and the group lists on desktops. Every toggle is a real <button> with aria-expanded, so Tab, Enter and Space work without anything here;
// this file only flips aria-expanded (the CSS shows what is expanded), closes a list on Escape or a click
// elsewhere, and keeps one desktop list open at a time.
(function () {
  "use strict";
  const nav = document.getElementById("main-nav");
  if (!nav) return;
  const burger = document.querySelector(".nav-burger");
  const toggles = Array.from(nav.querySelectorAll(".nav-toggle"));
  const phone = window.matchMedia("(max-width: 860px)");

  function setOpen(button, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function closeGroups(except) {
    toggles.forEach(function (t) { if (t !== except) setOpen(t, false); });
  }

  toggles.forEach(function (toggle) {
    toggle.addEventListener("click", function () {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      if (!phone.matches) closeGroups(toggle);  // desktop: one list at a time; phone: an accordion
      setOpen(toggle, open);
    });
  });

  if (burger) {
    burger.addEventListener("click", function () {
      const open = burger.getAttribute("aria-expanded") !== "true";
      setOpen(burger, open);
      // opened on a phone: the group of the page shown starts expanded, so the current place is visible
      if (open) toggles.forEach(function (t) { if (t.classList.contains("active")) setOpen(t, true); });
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const open = toggles.find(function (t) { return t.getAttribute("aria-expanded") === "true"; });
    if (open && !phone.matches) { setOpen(open, false); open.focus(); return; }
    if (burger && burger.getAttribute("aria-expanded") === "true") { setOpen(burger, false); burger.focus(); }
  });

  document.addEventListener("click", function (event) {
    if (phone.matches || nav.contains(event.target)) return;
    closeGroups(null);
  });

  // Tabbing out of an open desktop list closes it
  nav.addEventListener("focusout", function (event) {
    if (phone.matches) return;
    const group = event.target.closest(".nav-group");
    if (group && !group.contains(event.relatedTarget)) {
      const toggle = group.querySelector(".nav-toggle");
      if (toggle) setOpen(toggle, false);
    }
  });
})();

// A table or box that scrolls inside itself (phones: static/app.css lets wide tables scroll rather than the
// page) must be reachable by keyboard to be scrolled (WCAG 2.1.1): such a box without a focusable child
// gets tabindex=0. Checked on load, on resize and when a page's script changes its content.
(function () {
  "use strict";
  const main = document.getElementById("main");
  if (!main) return;
  const FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";

  function scrolls(el) {
    const style = getComputedStyle(el);
    const x = (style.overflowX === "auto" || style.overflowX === "scroll") && el.scrollWidth > el.clientWidth + 1;
    const y = (style.overflowY === "auto" || style.overflowY === "scroll") && el.scrollHeight > el.clientHeight + 1;
    return x || y;
  }

  // Phones: a table is a scrolling block (static/app.css); one whose columns fit its box is given back its
  // full width (.fits), so short tables do not shrink to their content.
  function fitTables() {
    main.querySelectorAll("table").forEach(function (table) {
      const box = table.parentElement;
      if (!box) return;
      const style = getComputedStyle(box);
      const room = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      table.classList.add("fits");
      if (table.offsetWidth > room + 1) table.classList.remove("fits");
    });
  }

  function mark() {
    fitTables();
    main.querySelectorAll("table, div, pre, section, ul, ol").forEach(function (el) {
      if (el.dataset.scrollMarked === "1") {
        if (!scrolls(el)) { el.removeAttribute("tabindex"); delete el.dataset.scrollMarked; }
        return;
      }
      if (el.hasAttribute("tabindex") || !scrolls(el) || el.querySelector(FOCUSABLE)) return;
      el.setAttribute("tabindex", "0");
      el.dataset.scrollMarked = "1";
    });
  }

  let pending = 0;
  function later() { clearTimeout(pending); pending = setTimeout(mark, 120); }
  mark();
  window.addEventListener("load", mark);
  window.addEventListener("resize", later);
  new MutationObserver(later).observe(main, { childList: true, subtree: true });
})();
