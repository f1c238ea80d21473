// Block editor of mails (templates/ui/templates/blocks.html): edits the block document of
// docs/mail-blocks.md in the page, keeps it in the form's hidden blocks_json field, and shows the server's
// preview (light or dark, desktop or phone width) in a sandboxed iframe through srcdoc.
// Served as a static file: the CSP allows no inline scripts. Its words come from the #mb-words JSON island
// (campaigns.views.mail_blocks.vocabulary, in the page's language); its data from #mb-data.
(function () {
  "use strict";
  var form = document.getElementById("blocks-form");
  var list = document.getElementById("mb-blocks");
  if (!form || !list) { return; }
  var data = JSON.parse(document.getElementById("mb-data").textContent);
  var W = JSON.parse(document.getElementById("mb-words").textContent);
  var doc = data.document && Array.isArray(data.document.blocks) ? data.document : { blocks: [] };
  var hidden = document.getElementById("blocks_json");
  var images = data.images || [];
  var lastField = null;  // the text field the merge-tag picker inserts into
  var lastRange = null;
  var serial = 0;

  var ADDABLE = ["heading", "text", "image", "button", "columns2", "columns3", "divider", "spacer", "quote",
                 "card", "social"];
  var IN_COLUMN = ["heading", "text", "image", "button", "divider", "spacer", "quote", "card"];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function newBlock(kind) {
    if (kind === "columns2" || kind === "columns3") {
      var cols = [];
      for (var i = 0; i < (kind === "columns2" ? 2 : 3); i++) { cols.push([{ type: "text", html: "<p>…</p>" }]); }
      return { type: "columns", columns: cols };
    }
    return {
      heading: { type: "heading", text: W.heading, level: 2 },
      text: { type: "text", html: "<p>…</p>" },
      image: { type: "image", alt: "" },
      button: { type: "button", label: W.button, href: "https://" },
      divider: { type: "divider" },
      spacer: { type: "spacer", height: 24 },
      quote: { type: "quote", text: "…", author: "" },
      card: { type: "card", title: W.card, text: "" },
      social: { type: "social", links: [{ network: "website", href: "https://" }] }
    }[kind];
  }

  function clone(value) { return JSON.parse(JSON.stringify(value)); }

  // ------------------------------------------------------------------ fields
  function remember(node) {
    node.addEventListener("focus", function () { lastField = node; });
    node.addEventListener("blur", function () {
      var sel = window.getSelection();
      lastRange = node.isContentEditable && sel && sel.rangeCount ? sel.getRangeAt(0).cloneRange() : null;
    });
  }

  function input(block, key, label, attrs) {
    var id = "mb-f" + (++serial);
    var box = el("input", Object.assign({ id: id, "data-key": key }, attrs || {}));
    box.value = block[key] === undefined || block[key] === null ? "" : block[key];
    box.addEventListener("input", function () {
      if (attrs && attrs.type === "number") {
        var n = parseInt(box.value, 10);
        if (isNaN(n)) { delete block[key]; } else { block[key] = n; }
      } else { block[key] = box.value; }
      changed();
    });
    if (!attrs || attrs.type !== "number") { remember(box); }
    return el("div", { "class": "field" }, [el("label", { "for": id, text: label }), box]);
  }

  function area(block, key, label) {
    var id = "mb-f" + (++serial);
    var box = el("textarea", { id: id, rows: "3", "data-key": key });
    box.value = block[key] || "";
    box.addEventListener("input", function () { block[key] = box.value; changed(); });
    remember(box);
    return el("div", { "class": "field" }, [el("label", { "for": id, text: label }), box]);
  }

  function select(value, options, onChange, label) {
    var s = el("select", { "aria-label": label });
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (String(o[0]) === String(value === undefined ? "" : value)) { opt.selected = true; }
      s.appendChild(opt);
    });
    s.addEventListener("change", function () { onChange(s.value); changed(); });
    return s;
  }

  function richText(block) {
    var editor = el("div", { "class": "mb-rich", contenteditable: "true", role: "textbox", "aria-multiline": "true",
                             "aria-label": W.text, "data-testid": "rich-text" });
    editor.innerHTML = block.html || "";
    editor.addEventListener("input", function () { block.html = editor.innerHTML; changed(); });
    remember(editor);
    function tool(label, short, run) {
      var b = el("button", { type: "button", "class": "small", title: label, "aria-label": label, text: short });
      b.addEventListener("mousedown", function (e) { e.preventDefault(); });  // keep the selection
      b.addEventListener("click", function () { editor.focus(); run(); block.html = editor.innerHTML; changed(); });
      return b;
    }
    var bar = el("div", { "class": "mb-toolbar", role: "toolbar" }, [
      tool(W.bold, "B", function () { document.execCommand("bold"); }),
      tool(W.italic, "I", function () { document.execCommand("italic"); }),
      tool(W.link, W.linkShort, function () {
        var url = window.prompt(W.linkPrompt, "https://");
        if (url) { document.execCommand("createLink", false, url); }
      }),
      tool(W.bulleted, "•", function () { document.execCommand("insertUnorderedList"); }),
      tool(W.numbered, "1.", function () { document.execCommand("insertOrderedList"); })
    ]);
    return el("div", { "class": "field" }, [bar, editor]);
  }

  function imagePicker(holder) {
    var wrap = el("div", { "class": "mb-image" });
    var preview = el("img", { alt: "", "class": "mb-thumb" });
    function show() {
      var found = images.filter(function (i) { return i.id === holder.asset_id; })[0];
      preview.hidden = !found && !holder.src;
      preview.src = found ? found.view : (holder.src || "");
    }
    var choices = [["", W.chooseImage]].concat(images.map(function (i) { return [i.id, i.name + " (" + i.width + "px)"]; }));
    var picker = select(holder.asset_id || "", choices, function (v) {
      if (v) { holder.asset_id = parseInt(v, 10); delete holder.src; } else { delete holder.asset_id; }
      show();
    }, W.chooseImage);
    picker.setAttribute("data-testid", "image-choose");
    var file = el("input", { type: "file", accept: "image/png,image/jpeg,image/gif,image/webp", "aria-label": W.upload,
                             "data-testid": "image-upload" });
    var note = el("span", { "class": "hint" });
    file.addEventListener("change", function () {
      if (!file.files.length) { return; }
      var body = new FormData();
      body.append("image", file.files[0]);
      note.textContent = W.uploading;
      fetch(form.dataset.uploadUrl, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": form.querySelector("[name=csrf_token]").value }
      }).then(function (r) { return r.json(); }).then(function (answer) {
        if (!answer.ok) { note.textContent = answer.error; return; }
        note.textContent = "";
        images.unshift(answer.image);
        holder.asset_id = answer.image.id;
        delete holder.src;
        render();
        changed();
      }).catch(function () { note.textContent = W.uploading + " ✕"; });
    });
    show();
    wrap.appendChild(preview);
    wrap.appendChild(el("div", { "class": "mb-tag-row" }, [picker, file]));
    wrap.appendChild(note);
    wrap.appendChild(input(holder, "alt", W.f_alt, { "data-testid": "image-alt" }));
    return wrap;
  }

  function body(block) {
    var b = el("div", { "class": "mb-body" });
    var t = block.type;
    if (t === "heading") {
      b.appendChild(input(block, "text", W.f_text, { "data-testid": "heading-text" }));
      b.appendChild(el("div", { "class": "field" }, [select(block.level || 2,
        [[1, W.f_level1], [2, W.f_level2], [3, W.f_level3]], function (v) { block.level = parseInt(v, 10); }, W.f_level)]));
    } else if (t === "text") {
      b.appendChild(richText(block));
    } else if (t === "image") {
      b.appendChild(imagePicker(block));
      b.appendChild(input(block, "href", W.f_href, { type: "url" }));
      b.appendChild(input(block, "width", W.f_width, { type: "number", min: "20", max: "600" }));
    } else if (t === "button") {
      b.appendChild(input(block, "label", W.f_label, { "data-testid": "button-label" }));
      b.appendChild(input(block, "href", W.f_href, { type: "url", "data-testid": "button-href" }));
    } else if (t === "spacer") {
      b.appendChild(input(block, "height", W.f_height, { type: "number", min: "4", max: "120" }));
    } else if (t === "quote") {
      b.appendChild(area(block, "text", W.f_text));
      b.appendChild(input(block, "author", W.f_author));
      b.appendChild(input(block, "role", W.f_role));
    } else if (t === "card") {
      b.appendChild(input(block, "title", W.f_title));
      b.appendChild(area(block, "text", W.f_summary));
      block.link = block.link || { label: "", href: "" };
      b.appendChild(input(block.link, "label", W.f_linkLabel));
      b.appendChild(input(block.link, "href", W.f_href, { type: "url" }));
    } else if (t === "social") {
      block.links.forEach(function (link, i) {
        var row = el("div", { "class": "mb-tag-row" }, [
          select(link.network, data.choices.networks, function (v) { link.network = v; }, W.f_network),
          input(link, "href", W.f_href, { type: "url" })
        ]);
        var remove = el("button", { type: "button", "class": "small danger", text: W.removeLink });
        remove.addEventListener("click", function () { block.links.splice(i, 1); render(); changed(); });
        row.appendChild(remove);
        b.appendChild(row);
      });
      if (block.links.length < data.choices.networks.length) {
        var more = el("button", { type: "button", "class": "small", text: W.addLink });
        more.addEventListener("click", function () { block.links.push({ network: "website", href: "https://" }); render(); changed(); });
        b.appendChild(more);
      }
    } else if (t === "columns") {
      var grid = el("div", { "class": "mb-columns mb-columns-" + block.columns.length });
      block.columns.forEach(function (column, n) {
        var col = el("div", { "class": "mb-column" }, [el("h4", { text: W.column.replace("%(n)s", n + 1) })]);
        var inner = el("ol", { "class": "mb-blocks mb-inner" });
        if (!column.length) { col.appendChild(el("p", { "class": "hint", text: W.columnEmpty })); }
        column.forEach(function (child, i) { inner.appendChild(item(column, i, true)); });
        col.appendChild(inner);
        var kinds = IN_COLUMN.map(function (k) { return [k, W[k]]; });
        var chosen = { v: "text" };
        var pick = select("text", kinds, function (v) { chosen.v = v; }, W.addToColumn);
        var add = el("button", { type: "button", "class": "small", text: W.add });
        add.addEventListener("click", function () { column.push(newBlock(chosen.v)); render(); changed(); });
        col.appendChild(el("div", { "class": "mb-tag-row" }, [pick, add]));
        grid.appendChild(col);
      });
      b.appendChild(grid);
    } else if (t === "footer") {
      b.appendChild(el("p", { "class": "hint", text: W.footerNote }));
    }
    return b;
  }

  function settingsPanel(block) {
    var colours = [["", W["default"]]].concat(data.choices.colours.map(function (c) { return [c, W["c_" + c]]; }));
    function choice(key, options, label) {
      return el("div", { "class": "field" }, [el("label", { text: label }), select(block[key] || "", options, function (v) {
        if (v) { block[key] = v; } else { delete block[key]; }
      }, label)]);
    }
    var panel = el("details", { "class": "mb-settings" }, [el("summary", { text: W.settings })]);
    var grid = el("div", { "class": "mb-settings-grid" }, [
      choice("align", [["", W["default"]]].concat(data.choices.align.map(function (a) { return [a, W[a]]; })), W.align),
      choice("padding", [["", W["default"]]].concat(data.choices.padding.map(function (p) { return [p, W[p]]; })), W.padding),
      choice("color", colours, W.color),
      choice("background", colours, W.background)
    ]);
    panel.appendChild(grid);
    return panel;
  }

  // ------------------------------------------------------------------ a block's card
  var dragging = null;  // {list, index}

  function item(owner, index, nested) {
    var block = owner[index];
    var li = el("li", { "class": "mb-block mb-" + block.type, "data-type": block.type, "data-testid": "block" });
    var head = el("div", { "class": "mb-head" });
    var fixed = block.type === "footer";
    if (!fixed) {
      var handle = el("span", { "class": "mb-handle", title: W.dragHint, "aria-hidden": "true", text: "⠿" });
      head.appendChild(handle);
      li.draggable = true;
      li.addEventListener("dragstart", function (e) {
        e.stopPropagation();
        dragging = { owner: owner, index: index };
        e.dataTransfer.effectAllowed = "move";
        e.dataTransfer.setData("text/plain", String(index));
        li.classList.add("mb-dragging");
      });
      li.addEventListener("dragend", function () { li.classList.remove("mb-dragging"); dragging = null; });
    }
    li.addEventListener("dragover", function (e) {
      if (dragging && dragging.owner === owner && !fixed) { e.preventDefault(); e.stopPropagation(); }
    });
    li.addEventListener("drop", function (e) {
      if (!dragging || dragging.owner !== owner || fixed) { return; }
      e.preventDefault();
      e.stopPropagation();
      var moved = owner.splice(dragging.index, 1)[0];
      owner.splice(index, 0, moved);
      dragging = null;
      render();
      changed();
    });
    head.appendChild(el("strong", { "class": "mb-kind", text: W[block.type] || block.type }));
    head.appendChild(el("span", { "class": "spacer" }));
    if (!fixed) {
      var last = nested ? owner.length - 1 : owner.length - 2;  // the footer stays last
      [["↑", W.moveUp, index > 0, function () { owner.splice(index - 1, 0, owner.splice(index, 1)[0]); }, "up"],
       ["↓", W.moveDown, index < last, function () { owner.splice(index + 1, 0, owner.splice(index, 1)[0]); }, "down"],
       ["⊕", W.duplicate, true, function () { owner.splice(index + 1, 0, clone(block)); }, "duplicate"],
       ["✕", W["delete"], true, function () { owner.splice(index, 1); }, "delete"]].forEach(function (a) {
        var b = el("button", { type: "button", "class": "small mb-act", title: a[1], "aria-label": a[1], text: a[0],
                               "data-action": a[4] });
        b.disabled = !a[2];
        b.addEventListener("click", function () { a[3](); render(); changed(); });
        head.appendChild(b);
      });
    }
    li.appendChild(head);
    li.appendChild(body(block));
    if (!fixed) { li.appendChild(settingsPanel(block)); }
    return li;
  }

  function ensureFooter() {
    var blocks = doc.blocks;
    var footers = blocks.filter(function (b) { return b.type === "footer"; });
    doc.blocks = blocks.filter(function (b) { return b.type !== "footer"; }).concat([footers[0] || { type: "footer" }]);
  }

  function render() {
    ensureFooter();
    list.innerHTML = "";
    if (doc.blocks.length === 1) { list.appendChild(el("li", { "class": "hint", text: W.empty })); }
    doc.blocks.forEach(function (b, i) { list.appendChild(item(doc.blocks, i, false)); });
    hidden.value = JSON.stringify(doc);
  }

  // ------------------------------------------------------------------ add block, merge tags
  var addType = document.getElementById("mb-add-type");
  ADDABLE.forEach(function (k) { addType.appendChild(el("option", { value: k, text: W[k] })); });
  document.getElementById("mb-add").addEventListener("click", function () {
    doc.blocks.splice(doc.blocks.length - 1, 0, newBlock(addType.value));
    render();
    changed();
    var cards = list.querySelectorAll(":scope > .mb-block");
    if (cards.length > 1) { cards[cards.length - 2].scrollIntoView({ block: "nearest" }); }
  });

  var tagSelect = document.getElementById("mb-tag");
  var tagFallback = document.getElementById("mb-tag-fallback");
  (data.mergeTags || []).forEach(function (t) { tagSelect.appendChild(el("option", { value: t.path, text: t.label })); });
  function syncFallback() {
    var t = (data.mergeTags || []).filter(function (m) { return m.path === tagSelect.value; })[0];
    tagFallback.value = t ? t.fallback : "";
  }
  tagSelect.addEventListener("change", syncFallback);
  syncFallback();
  document.getElementById("mb-tag-insert").addEventListener("click", function () {
    var fallback = tagFallback.value.replace(/["\\{}]/g, "");
    var tag = "{{ " + tagSelect.value + (fallback ? ' | default("' + fallback + '")' : "") + " }}";
    var target = lastField;
    if (!target || !document.body.contains(target)) {
      target = document.getElementById("subject");
    }
    if (target.isContentEditable) {
      target.focus();
      var sel = window.getSelection();
      if (lastRange) { sel.removeAllRanges(); sel.addRange(lastRange); }
      document.execCommand("insertText", false, tag);
    } else {
      var start = target.selectionStart === null ? target.value.length : target.selectionStart;
      var end = target.selectionEnd === null ? start : target.selectionEnd;
      target.value = target.value.slice(0, start) + tag + target.value.slice(end);
      target.focus();
      target.setSelectionRange(start + tag.length, start + tag.length);
      target.dispatchEvent(new Event("input", { bubbles: true }));
    }
  });

  // ------------------------------------------------------------------ preview
  var frame = document.getElementById("preview-frame");
  var wrap = frame.parentNode;
  var subject = document.getElementById("preview-subject");
  var text = document.getElementById("preview-text");
  var errorBox = document.getElementById("preview-error");
  var warnBox = document.getElementById("preview-warnings");
  var status = document.getElementById("preview-status");
  var scheme = "light";
  var last = null;
  var timer = null;
  var inflight = null;
  var sequence = 0;

  function setStatus(key) {
    if (status && status.dataset[key]) { status.textContent = status.dataset[key]; }
    if (status) { status.dataset.state = key; }
  }

  function paint() {
    if (!last) { return; }
    frame.srcdoc = scheme === "dark" ? last.dark_html : last.html;
  }

  function refresh() {
    var mine = ++sequence;
    if (inflight) { inflight.abort(); }
    inflight = new AbortController();
    setStatus("updating");
    hidden.value = JSON.stringify(doc);
    fetch(form.dataset.previewUrl, { method: "POST", body: new FormData(form), signal: inflight.signal,
                                     credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (mine !== sequence) { return; }
        errorBox.hidden = answer.ok;
        errorBox.textContent = answer.ok ? "" : answer.error;
        if (!answer.ok) { setStatus("failed"); return; }
        last = answer;
        subject.textContent = answer.subject;
        text.textContent = answer.text;
        warnBox.innerHTML = "";
        (answer.warnings || []).concat(answer.notice ? [answer.notice] : []).forEach(function (w) {
          warnBox.appendChild(el("li", { text: w }));
        });
        warnBox.hidden = !warnBox.children.length;
        paint();
        setStatus("updated");
      })
      .catch(function (e) { if (e.name !== "AbortError") { setStatus("failed"); } });
  }

  function changed() {
    hidden.value = JSON.stringify(doc);
    clearTimeout(timer);
    timer = setTimeout(refresh, 500);
  }

  document.querySelectorAll("[data-width]").forEach(function (b) {
    b.addEventListener("click", function () {
      document.querySelectorAll("[data-width]").forEach(function (o) { o.setAttribute("aria-pressed", String(o === b)); });
      wrap.classList.toggle("mb-phone", b.dataset.width === "phone");
    });
  });
  document.querySelectorAll("[data-scheme]").forEach(function (b) {
    b.addEventListener("click", function () {
      document.querySelectorAll("[data-scheme]").forEach(function (o) { o.setAttribute("aria-pressed", String(o === b)); });
      scheme = b.dataset.scheme;
      wrap.classList.toggle("mb-dark", scheme === "dark");
      paint();
    });
  });
  ["subject", "preheader", "from_name", "preview_contact"].forEach(function (id) {
    var node = document.getElementById(id);
    if (node) {
      node.addEventListener("input", changed);
      if (id === "subject") { remember(node); }
    }
  });
  form.addEventListener("submit", function () { hidden.value = JSON.stringify(doc); });

  render();
  refresh();
})();
