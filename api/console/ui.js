// Small DOM helpers shared by the panels: elements, tables, pagers, dialogs, messages.
// No innerHTML anywhere: every value reaches the page as text.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function fill(el, ...children) {
  return append(clear(el), children);
}

let uid = 0;
export const nextId = (p = "f") => `${p}-${++uid}`;

export function fmtDate(v) {
  if (v === null || v === undefined || v === "") return "—";
  const d = typeof v === "number" ? new Date(v * 1000) : new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function fmtJson(v, indent = 0) {
  return JSON.stringify(v, null, indent);
}

export function truncate(s, n = 80) {
  s = String(s);
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

// ------------------------------------------------------------------ messages
// Errors go to the alert region (role="alert"), or into the open dialog's own alert region:
// a modal dialog sits above the page, where a message behind it would go unseen.
const dialogAlerts = [];

export function problemNode(p) {
  const title = p.title || "Error";
  const status = p.status ? ` (${p.status})` : "";
  const list = Array.isArray(p.errors) && p.errors.length
    ? h("ul", { class: "problem-errors" },
        p.errors.slice(0, 10).map((e) => h("li", {}, h("code", {}, e.path || "$"), " ", e.message || "")))
    : null;
  return h("div", { class: "problem" },
    h("strong", {}, title + status),
    p.detail ? h("span", { class: "problem-detail" }, " " + p.detail) : null,
    list,
    p.request_id ? h("small", { class: "muted" }, ` request id ${p.request_id}`) : null);
}

function message(region, kind, content, timeout) {
  const close = h("button", { type: "button", class: "icon-btn", "aria-label": "Dismiss" }, "×");
  const node = h("div", { class: `msg msg-${kind}` }, h("div", { class: "msg-body" }, content), close);
  close.addEventListener("click", () => node.remove());
  region.append(node);
  while (region.children.length > 3) region.firstElementChild.remove();
  if (timeout) setTimeout(() => node.remove(), timeout);
  return node;
}

export function showProblem(problem) {
  const dlg = dialogAlerts[dialogAlerts.length - 1];
  if (dlg) {
    clear(dlg);
    dlg.append(problemNode(problem));
    return;
  }
  message(document.getElementById("alerts"), "error", problemNode(problem), 0);
}

export function showError(err) {
  if (err && err.problem) return showProblem(err.problem);
  showProblem({ title: "Error", detail: err && err.message ? err.message : String(err) });
}

export function notify(text) {
  message(document.getElementById("status"), "ok", text, 4000);
}

// ------------------------------------------------------------------ tables
// columns: [{label, key | render(row), class}]
export function table({ columns, rows, empty = "Nothing here yet.", caption, rowAttrs }) {
  if (!rows || rows.length === 0) return h("p", { class: "empty" }, empty);
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)));
  const body = rows.map((r) => {
    const tr = h("tr", rowAttrs ? rowAttrs(r) : {});
    for (const c of columns) {
      const v = c.render ? c.render(r) : r[c.key];
      tr.append(append(h("td", { class: c.class, "data-label": c.label }), [v ?? "—"]));
    }
    return tr;
  });
  return h("div", { class: "table-wrap" },
    h("table", {}, caption ? h("caption", {}, caption) : null, h("thead", {}, head), h("tbody", {}, body)));
}

export function pager({ page, limit, total, onPage }) {
  const pages = Math.max(1, Math.ceil(total / limit));
  const prev = h("button", { type: "button", disabled: page <= 1, onclick: () => onPage(page - 1) }, "‹ Previous");
  const next = h("button", { type: "button", disabled: page >= pages, onclick: () => onPage(page + 1) }, "Next ›");
  return h("nav", { class: "pager", "aria-label": "Pagination" },
    prev, h("span", {}, `Page ${page} of ${pages} · ${total} total`), next);
}

export function toolbar(...items) {
  return h("div", { class: "toolbar", role: "toolbar" }, items);
}

export function button(label, onclick, attrs = {}) {
  return h("button", { type: "button", ...attrs, onclick }, label);
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind ? "badge-" + kind : ""}` }, text);
}

export function toggleSwitch({ checked, label, onchange }) {
  const btn = h("button", {
    type: "button", role: "switch", class: "switch", "aria-checked": String(!!checked), "aria-label": label,
  }, h("span", { class: "switch-knob", "aria-hidden": "true" }));
  btn.addEventListener("click", async () => {
    const next = btn.getAttribute("aria-checked") !== "true";
    btn.disabled = true;
    try {
      await onchange(next);
      btn.setAttribute("aria-checked", String(next));
    } catch (e) {
      // the error is already shown by the caller's api wrapper
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}

// ------------------------------------------------------------------ forms and dialogs
// field: {name, label, type, value, required, options, help, placeholder, rows, accept, min, max}
export function field(f) {
  const id = nextId(f.name);
  const help = f.help ? h("small", { id: id + "-help", class: "help" }, f.help) : null;
  const common = { id, name: f.name, required: f.required, "aria-describedby": help ? id + "-help" : null,
    placeholder: f.placeholder, autocomplete: f.autocomplete || "off" };
  let input;
  if (f.type === "select") {
    input = h("select", common, (f.options || []).map((o) => {
      const [v, l] = Array.isArray(o) ? o : [o, o];
      return h("option", { value: v, selected: String(f.value ?? "") === String(v) }, l);
    }));
  } else if (f.type === "textarea" || f.type === "json") {
    input = h("textarea", { ...common, rows: f.rows || (f.type === "json" ? 6 : 3), spellcheck: "false",
      class: f.type === "json" ? "mono" : null });
    input.value = f.type === "json" && f.value !== undefined && typeof f.value !== "string"
      ? JSON.stringify(f.value, null, 2) : (f.value ?? "");
  } else if (f.type === "checkbox") {
    input = h("input", { ...common, type: "checkbox", checked: !!f.value });
    return h("div", { class: "field field-check" }, input, h("label", { for: id }, f.label), help);
  } else if (f.type === "checkboxes") {
    const chosen = new Set(f.value || []);
    return h("fieldset", { class: "field checks" }, h("legend", {}, f.label),
      (f.options || []).map((o) => {
        const cid = nextId(f.name);
        return h("span", { class: "check" },
          h("input", { type: "checkbox", id: cid, name: f.name, value: o, checked: chosen.has(o) }),
          h("label", { for: cid }, o));
      }), help);
  } else {
    input = h("input", { ...common, type: f.type || "text", min: f.min, max: f.max, step: f.step,
      accept: f.accept, list: f.list });
    if (f.type !== "file" && f.value !== undefined && f.value !== null) input.value = f.value;
  }
  return h("div", { class: "field" }, h("label", { for: id }, f.label), input, help);
}

export function readForm(form, fields) {
  const out = {};
  for (const f of fields) {
    if (f.type === "checkboxes") {
      out[f.name] = [...form.querySelectorAll(`input[name="${f.name}"]:checked`)].map((i) => i.value);
      continue;
    }
    const el = form.elements[f.name];
    if (!el) continue;
    if (f.type === "checkbox") out[f.name] = el.checked;
    else if (f.type === "file") out[f.name] = el.files && el.files[0];
    else if (f.type === "number") out[f.name] = el.value === "" ? null : Number(el.value);
    else if (f.type === "json") {
      const raw = el.value.trim();
      if (raw === "") out[f.name] = undefined;
      else {
        try {
          out[f.name] = JSON.parse(raw);
        } catch (e) {
          throw Object.assign(new Error(`${f.label}: not valid JSON (${e.message})`), {
            problem: { title: "Invalid input", detail: `${f.label} is not valid JSON: ${e.message}` },
          });
        }
      }
    } else out[f.name] = el.value;
  }
  return out;
}

// Opens a modal form. onSubmit(values, ctl) resolves → the dialog closes (unless it returns
// false); rejects → the error shows inside the dialog and it stays open.
export function formDialog({ title, fields, submitLabel = "Save", onSubmit, extra, wide, cancelLabel = "Cancel" }) {
  const alert = h("div", { class: "dialog-alert", role: "alert" });
  const body = h("div", { class: "dialog-body" });
  const form = h("form", { method: "dialog", novalidate: false });
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
  const cancel = h("button", { type: "button", value: "cancel" }, cancelLabel);
  const titleId = nextId("dlg");
  const dlg = h("dialog", { "aria-labelledby": titleId, class: wide ? "wide" : null },
    append(form, [h("h2", { id: titleId }, title), alert, body,
      fields.map(field), extra || null, h("div", { class: "dialog-actions" }, cancel, submit)]));
  const ctl = { dialog: dlg, form, body, alert, close: () => dlg.close(),
    setFields: (vals) => { for (const [k, v] of Object.entries(vals)) if (form.elements[k]) form.elements[k].value = v; } };
  cancel.addEventListener("click", () => dlg.close());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(alert);
    submit.disabled = true;
    try {
      const values = readForm(form, fields);
      const keep = await onSubmit(values, ctl);
      if (keep !== false) dlg.close();
    } catch (e) {
      if (!alert.firstChild) {
        alert.append(problemNode(e.problem || { title: "Error", detail: e.message || String(e) }));
      }
    } finally {
      submit.disabled = false;
    }
  });
  openDialog(dlg, alert);
  return ctl;
}

export function openDialog(dlg, alert) {
  const previous = document.activeElement;
  document.body.append(dlg);
  if (alert) dialogAlerts.push(alert);
  dlg.addEventListener("close", () => {
    const i = dialogAlerts.indexOf(alert);
    if (i >= 0) dialogAlerts.splice(i, 1);
    dlg.remove();
    if (previous && previous.isConnected) previous.focus();
  });
  dlg.showModal();
  const first = dlg.querySelector("input:not([type=hidden]), select, textarea, button.primary");
  if (first) first.focus();
}

export function infoDialog({ title, content, wide = true, actions = [] }) {
  const titleId = nextId("dlg");
  const alert = h("div", { class: "dialog-alert", role: "alert" });
  const close = h("button", { type: "button", class: "primary" }, "Close");
  const dlg = h("dialog", { "aria-labelledby": titleId, class: wide ? "wide" : null },
    h("h2", { id: titleId }, title), alert, h("div", { class: "dialog-body" }, content),
    h("div", { class: "dialog-actions" }, actions, close));
  close.addEventListener("click", () => dlg.close());
  openDialog(dlg, alert);
  close.focus();
  return { dialog: dlg, alert, close: () => dlg.close() };
}

export function confirmDialog(text, { confirmLabel = "Delete", danger = true, fields = [] } = {}) {
  return new Promise((resolve) => {
    let answer = null;
    const ctl = formDialog({
      title: "Please confirm",
      fields,
      submitLabel: confirmLabel,
      extra: h("p", {}, text),
      onSubmit: (values) => { answer = values; },
    });
    if (danger) ctl.form.querySelector("button.primary").classList.add("danger");
    ctl.dialog.addEventListener("close", () => resolve(answer));
  });
}

export function download(filename, content, type = "application/json") {
  const blob = content instanceof Blob ? content : new Blob([content], { type });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, class: "hidden" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function readFileText(file) {
  return file ? file.text() : Promise.resolve("");
}

export function section(title, ...children) {
  const id = nextId("sec");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), children);
}

export function dl(pairs) {
  return h("dl", { class: "kv" }, pairs.map(([k, v]) => [h("dt", {}, k), append(h("dd"), [v ?? "—"])]));
}
