/* Nurture website tracking (docs/website-tracking.md): page views of this site, sent to its Nurture.
   Served by Nurture at /w/nurture.js with its settings filled in below; no dependencies, no third party.
   Every entry point is wrapped: an error here, a blocked or slow Nurture, never reaches the page. */
(function (w, d, cfg) {
  "use strict";
  var KEY = "_nurture_vid", CONSENT = "_nurture_consent", HEX32 = /^[0-9a-f]{32}$/, ONE = /^1$/;
  var YEAR = 60 * 60 * 24 * 395;
  var queued = (w.nurture && w.nurture.q) || [];
  var state = { vid: null, page: null, nid: "", visibleMs: 0, since: null, reported: 0 };

  function safe(fn) {
    return function () {
      try { return fn.apply(this, arguments); } catch (e) { return null; } /* never the page's problem */
    };
  }
  function hex(bytes) {
    var a = new Uint8Array(bytes), s = "", i;
    w.crypto.getRandomValues(a);
    for (i = 0; i < bytes; i++) { s += (a[i] < 16 ? "0" : "") + a[i].toString(16); }
    return s;
  }
  function read(name, pattern) {
    var v = null, m;
    try { v = w.localStorage.getItem(name); } catch (e) { v = null; }
    if (v && pattern.test(v)) { return v; }
    m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m && pattern.test(m[1]) ? m[1] : null;
  }
  function store(name, value) { /* null removes: first-party storage of this site only */
    try {
      if (value === null) { w.localStorage.removeItem(name); } else { w.localStorage.setItem(name, value); }
    } catch (e) { /* storage disabled: the cookie alone */ }
    d.cookie = name + "=" + (value || "") + "; path=/; SameSite=Lax; max-age=" + (value === null ? 0 : YEAR) +
      (w.location.protocol === "https:" ? "; Secure" : "");
  }
  function allowed() {
    if (cfg.gpc && w.navigator.globalPrivacyControl === true) { return false; }
    return !cfg.consent || read(CONSENT, ONE) === "1";
  }
  function visitor() {
    if (!state.vid) {
      state.vid = read(KEY, HEX32) || hex(16);
      store(KEY, state.vid);
    }
    return state.vid;
  }
  function send(payload) {
    var body = JSON.stringify(payload), ctl, timer;
    try {
      if (w.navigator.sendBeacon && w.navigator.sendBeacon(cfg.endpoint, body)) { return; }
    } catch (e) { /* fall through to fetch */ }
    if (!w.fetch) { return; }
    ctl = w.AbortController ? new w.AbortController() : null;
    timer = ctl ? w.setTimeout(function () { ctl.abort(); }, 5000) : 0;
    w.fetch(cfg.endpoint, { method: "POST", body: body, keepalive: true, mode: "no-cors", credentials: "omit",
      signal: ctl ? ctl.signal : undefined }).then(function () { w.clearTimeout(timer); },
      function () { w.clearTimeout(timer); });
  }
  function takeIdentifier() { /* the mail link's signed _nid: kept for this view, out of the address bar at once */
    var m = w.location.search.match(/[?&]_nid=([A-Za-z0-9_-]{1,64})/), u;
    if (!m) { return ""; }
    try {
      u = new w.URL(w.location.href);
      u.searchParams["delete"]("_nid");
      w.history.replaceState(w.history.state, "", u.pathname + u.search + u.hash);
    } catch (e) { /* an old browser keeps it in the bar; it expires within minutes */ }
    return m[1];
  }
  function tagFrames() { /* a hosted form in an iframe learns the visitor from its address */
    var frames = d.getElementsByTagName("iframe"), i, src;
    for (i = 0; i < frames.length; i++) {
      src = frames[i].getAttribute("src") || "";
      if (src.indexOf(cfg.forms) === 0 && !/[?&]nv=/.test(src)) {
        frames[i].setAttribute("src", src + (src.indexOf("?") < 0 ? "?" : "&") + "nv=" + state.vid);
      }
    }
  }
  function view() {
    if (state.page || !allowed()) { return; }
    if (d.prerendering) { /* a prerendered page no one has opened yet: nothing until it is shown */
      d.addEventListener("prerenderingchange", safe(view), { once: true });
      return;
    }
    state.page = hex(12);
    state.visibleMs = 0;
    state.reported = 0;
    state.since = d.visibilityState === "visible" ? Date.now() : null;
    send({ k: "view", v: visitor(), p: state.page, u: w.location.href, t: d.title, r: d.referrer,
      n: state.nid, w: w.navigator.webdriver ? 1 : 0 });
    state.nid = "";
    tagFrames();
  }
  function leave() { /* time on page: the visible time so far, each time the page is hidden */
    if (!state.page) { return; }
    if (state.since !== null) { state.visibleMs += Date.now() - state.since; state.since = null; }
    var seconds = Math.round(state.visibleMs / 1000);
    if (seconds > state.reported) {
      state.reported = seconds;
      send({ k: "end", v: state.vid, p: state.page, d: seconds });
    }
  }
  function shown() {
    if (d.visibilityState === "visible") { state.since = Date.now(); } else { leave(); }
  }
  function submitted(ev) { /* a Nurture form posted from this page names its visitor */
    var form = ev.target, input;
    if (!state.vid || !form || !form.action || String(form.action).indexOf(cfg.forms) !== 0) { return; }
    input = form.querySelector("input[name=_nurture_vid]") || d.createElement("input");
    input.type = "hidden";
    input.name = "_nurture_vid";
    input.value = state.vid;
    form.appendChild(input);
  }

  var api = {
    consent: safe(function (yes) {
      if (yes) { store(CONSENT, "1"); view(); return; }
      store(CONSENT, null);
      store(KEY, null);
      state.vid = null;
      state.page = null;
    }),
    page: safe(function () { leave(); state.page = null; view(); }), /* a single-page app's route change */
    visitorId: safe(function () { return allowed() ? visitor() : null; })
  };
  var start = safe(function () {
    state.nid = takeIdentifier();
    w.nurture = api;
    d.addEventListener("visibilitychange", safe(shown));
    w.addEventListener("pagehide", safe(leave));
    d.addEventListener("submit", safe(submitted), true);
    for (var i = 0; i < queued.length; i++) {
      if (api[queued[i][0]]) { api[queued[i][0]].apply(null, [].slice.call(queued[i], 1)); }
    }
    if (d.readyState === "loading") {
      d.addEventListener("DOMContentLoaded", safe(view));
    } else {
      view();
    }
  });
  start();
})(window, document, /*CONFIG*/{});
