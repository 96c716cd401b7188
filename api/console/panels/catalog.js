import { h, clear, fill, table, badge, formDialog, field, fmtJson, showError } from "../ui.js";

const METHOD_KIND = { get: "info", post: "ok", put: "warn", delete: "err" };

export default {
  id: "catalog",
  title: "Service Catalog",
  blurb: "Every endpoint of /openapi.json with the scope it requires. Try one with your own token.",
  render(root, { api }) {
    let ops = [];
    const filterField = { name: "filter", label: "Filter (path, tag, scope or summary)", type: "search" };
    const filter = h("form", { class: "filters", role: "search", "aria-label": "Filter endpoints" }, field(filterField));
    const input = filter.elements.filter;
    filter.addEventListener("submit", (e) => e.preventDefault());
    input.addEventListener("input", () => draw());
    const list = h("div");
    root.append(filter, list);

    async function load() {
      const doc = await fetch("/openapi.json").then((r) => {
        if (!r.ok) throw new Error(`/openapi.json answered ${r.status}`);
        return r.json();
      });
      ops = [];
      for (const [path, methods] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(methods)) {
          const tag = (op.tags || [""])[0];
          if (tag === "console") continue; // the console's own pages
          ops.push({ path, method, op, tag, scope: op["x-scope"] || "public" });
        }
      }
      draw();
    }

    function draw() {
      const q = input.value.trim().toLowerCase();
      const rows = ops.filter((o) => !q || `${o.method} ${o.path} ${o.tag} ${o.scope} ${o.op.summary}`.toLowerCase().includes(q));
      fill(list, table({
        caption: `${rows.length} endpoint${rows.length === 1 ? "" : "s"}`,
        rows,
        empty: "No endpoint matches.",
        rowAttrs: (o) => ({ "data-op": `${o.method.toUpperCase()} ${o.path}` }),
        columns: [
          { label: "Method", render: (o) => badge(o.method.toUpperCase(), METHOD_KIND[o.method]) },
          { label: "Path", render: (o) => h("code", {}, o.path) },
          { label: "Scope", render: (o) => (o.scope === "public" ? badge("public") : badge(o.scope, "info")) },
          { label: "Group", key: "tag" },
          { label: "Summary", render: (o) => o.op.summary || "" },
          { label: "", class: "actions", render: (o) => h("button", { type: "button", class: "link", "aria-label": `Try ${o.method.toUpperCase()} ${o.path}`, onclick: () => tryIt(o) }, "Try") },
        ],
      }));
    }

    function tryIt(o) {
      const params = o.op.parameters || [];
      const fields = params.map((p) => ({
        name: `${p.in}:${p.name}`, label: `${p.name} (${p.in}${p.required ? ", required" : ""})`, required: !!p.required,
      }));
      const content = o.op.requestBody ? Object.keys(o.op.requestBody.content || {}) : [];
      if (content.length) {
        fields.push({ name: "content_type", label: "Content-Type", type: "select", options: content });
        fields.push({ name: "body", label: "Body", type: "textarea", rows: 8, value: content[0] === "application/json" ? "{}" : "" });
      }
      const out = h("div", { class: "try-result", "aria-live": "polite" });
      formDialog({
        title: `${o.method.toUpperCase()} ${o.path}`,
        wide: true,
        fields,
        extra: [h("p", { class: "muted" }, o.op.summary || "", o.scope !== "public" ? ` · needs ${o.scope}` : ""), out],
        submitLabel: "Send",
        cancelLabel: "Close",
        onSubmit: async (v) => {
          let path = o.path;
          const query = {};
          for (const p of params) {
            const val = v[`${p.in}:${p.name}`];
            if (p.in === "path") path = path.replace(`{${p.name}}`, encodeURIComponent(val));
            else if (p.in === "query" && val !== "") query[p.name] = val;
          }
          const opts = { query, as: "response" };
          if (content.length && v.body) {
            opts.body = v.body;
            opts.headers = { "Content-Type": v.content_type };
          }
          const started = performance.now();
          const resp = await api(o.method.toUpperCase(), path, opts);
          const ms = performance.now() - started;
          const type = resp.headers.get("Content-Type") || "";
          let text = await resp.text();
          if (type.includes("json")) {
            try { text = fmtJson(JSON.parse(text), 2); } catch { /* as sent */ }
          }
          fill(out, 
            h("h3", {}, "Response ", badge(`${resp.status} ${resp.statusText}`, resp.ok ? "ok" : "err"), h("small", { class: "muted" }, ` ${Math.round(ms)} ms · ${type || "no body"}`)),
            h("pre", { class: "response-body" }, text.length > 20000 ? text.slice(0, 20000) + "\n…" : text || "(empty)"));
          return false;
        },
      });
    }

    load().catch(showError);
  },
};
