import { h, clear, fill, table, pager, toolbar, button, badge, fmtDate, fmtJson, formDialog, confirmDialog, section, dl, field, readForm, download, readFileText, infoDialog } from "../ui.js";

const KIND = { pending: "info", running: "warn", succeeded: "ok", failed: "err", cancelled: "" };
const TERMINAL = ["succeeded", "failed", "cancelled"];
const EXAMPLE = `{"templates": [{
  "name": "enable-feature",
  "description": "Switch a flag on and record it",
  "parameters": {"type": "object", "required": ["flag"], "properties": {"flag": {"type": "string"}}},
  "steps": [
    {"action": "log", "message": "enabling {{flag}}"},
    {"action": "set_flag", "flag": "{{flag}}", "enabled": true}
  ]
}]}`;

export default {
  id: "commands",
  title: "Project Command Workspace",
  blurb: "Runbooks as data: SOP templates, commands made from them, executed step by step with a live log.",
  render(root, { api, act }) {
    const state = { page: 1, limit: 20, status: "", template: "", selected: null, afterSeq: 0, poll: null, q: "" };
    const actions = {
      execute: button("Execute", () => execute(), { disabled: true, class: "primary" }),
      cancel: button("Cancel", () => cancel(), { disabled: true, class: "danger" }),
    };
    const filterFields = [
      { name: "status", label: "Status", type: "select", options: [["", "Any"], "pending", "running", "succeeded", "failed", "cancelled"] },
      { name: "template", label: "Template", type: "search" },
    ];
    const filters = h("form", { class: "filters", "aria-label": "Filter commands" }, filterFields.map(field), h("button", { type: "submit" }, "Apply"));
    filters.addEventListener("submit", (e) => {
      e.preventDefault();
      Object.assign(state, readForm(filters, filterFields), { page: 1 });
      load();
    });
    const list = h("div");
    const detail = section("Command", h("p", { class: "muted" }, "Select a command to see its steps and live log."));
    const sopSearch = h("input", { type: "search", id: "sop-search", "aria-label": "Search SOP templates", placeholder: "Search SOPs…" });
    const sopList = h("div");
    const library = section("SOP library", h("div", { class: "inline-form" }, sopSearch), sopList);
    let searchTimer = null;
    sopSearch.addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => { state.q = sopSearch.value.trim(); loadSops(); }, 250);
    });
    root.append(toolbar(
      button("New command", () => newCommand(null), { class: "primary" }),
      actions.execute, actions.cancel,
      button("Import SOPs", importDialog),
      button("Export JSON", () => exportCommands("json")),
      button("Export CSV", () => exportCommands("csv")),
      button("Refresh", () => { load(); loadSops(); if (state.selected) select(state.selected); }),
    ), filters, list, h("div", { class: "workspace" }, detail, library));

    async function load() {
      const res = await api("GET", "/v1/commands", { query: { status: state.status || undefined, template: state.template || undefined, page: state.page, limit: state.limit } });
      fill(list, table({
        caption: `${res.total} command${res.total === 1 ? "" : "s"}`,
        rows: res.items,
        empty: "No commands yet. Pick an SOP from the library and create one.",
        rowAttrs: (c) => ({ "data-command": c.id, class: c.id === state.selected ? "selected" : null }),
        columns: [
          { label: "ID", render: (c) => button(c.id.slice(0, 8), () => select(c.id), { class: "link mono", "aria-label": `Open command ${c.id}` }) },
          { label: "Type", render: (c) => `${c.template} v${c.template_version}` },
          { label: "Status", render: (c) => badge(c.status, KIND[c.status]) },
          { label: "Progress", class: "num", render: (c) => `${c.current_step}/${c.steps_total}` },
          { label: "Triggered by", render: (c) => h("code", {}, c.triggered_by) },
          { label: "Created", render: (c) => fmtDate(c.created_at) },
        ],
      }), pager({ page: res.page, limit: res.limit, total: res.total, onPage: (p) => { state.page = p; load(); } }));
    }

    async function loadSops() {
      const res = await api("GET", "/v1/commands/sop-templates", { query: { q: state.q || undefined, limit: 50 } });
      fill(sopList, res.items.length
        ? h("ul", { class: "list-plain", "aria-label": "SOP templates" }, res.items.map((t) => h("li", { "data-sop": t.name },
          h("div", {}, h("strong", {}, t.name), h("small", { class: "muted" }, ` v${t.version} · ${t.steps.length} step${t.steps.length === 1 ? "" : "s"}`),
            t.description ? h("div", { class: "muted" }, t.description) : null),
          h("div", {},
            button("View", () => infoDialog({ title: `${t.name} v${t.version}`, content: h("pre", {}, fmtJson({ description: t.description, parameters: t.parameters, steps: t.steps }, 2)) }), { class: "link", "aria-label": `View ${t.name}` }),
            button("Use", () => newCommand(t), { class: "link", "aria-label": `New command from ${t.name}` })))))
        : h("p", { class: "empty" }, state.q ? `No SOP matches “${state.q}”.` : "No SOP templates yet. Import some."));
    }

    function stopPolling() {
      clearTimeout(state.poll);
      state.poll = null;
    }

    async function select(id) {
      stopPolling();
      state.selected = id;
      state.afterSeq = 0;
      const c = await api("GET", `/v1/commands/${id}`);
      for (const tr of list.querySelectorAll("tr[data-command]")) tr.classList.toggle("selected", tr.dataset.command === id);
      const statusBadge = h("span", { id: "command-status", "aria-live": "polite" }, badge(c.status, KIND[c.status]));
      const progress = h("span", {}, `${c.current_step}/${c.steps_total}`);
      const error = h("div", { class: c.error ? "dialog-alert" : "hidden" }, c.error || "");
      const log = h("ol", { class: "log", "aria-label": "Output log", "aria-live": "polite" });
      const appendLog = (lines) => {
        for (const l of lines) {
          log.append(h("li", { class: l.level }, `${new Date(l.at).toLocaleTimeString()}  ${l.level === "info" ? "" : l.level.toUpperCase() + " "}${l.line}`));
          state.afterSeq = Math.max(state.afterSeq, l.seq);
        }
        log.scrollTop = log.scrollHeight;
      };
      appendLog(c.log || []);
      fill(detail, h("h2", {}, `${c.template} v${c.template_version}`),
        dl([
          ["ID", h("code", {}, c.id)],
          ["Status", statusBadge],
          ["Steps done", progress],
          ["Triggered by", c.triggered_by],
          ["Created", fmtDate(c.created_at)],
          ["Parameters", h("pre", {}, fmtJson(c.parameters, 2))],
        ]),
        error,
        h("h3", {}, "Steps"),
        h("ol", { class: "steps" }, (c.steps || []).map((s) => h("li", {}, h("code", {}, s.action), " ", fmtJson(Object.fromEntries(Object.entries(s).filter(([k, v]) => k !== "action" && v !== null)))))),
        h("h3", {}, "Live log"),
        log,
        c.status === "pending" ? h("div", { class: "toolbar" }, button("Edit parameters", () => editCommand(c))) : null);
      const setButtons = (status) => {
        actions.execute.disabled = status !== "pending";
        actions.cancel.disabled = TERMINAL.includes(status);
      };
      setButtons(c.status);
      if (TERMINAL.includes(c.status)) return;
      const tick = async () => {
        if (state.selected !== id) return;
        const s = await api("GET", `/v1/commands/${id}/status`, { query: { after: state.afterSeq }, quiet: true }).catch(() => null);
        if (state.selected !== id) return;
        if (s) {
          fill(statusBadge, badge(s.status + (s.cancel_requested && !TERMINAL.includes(s.status) ? " (cancelling)" : ""), KIND[s.status]));
          progress.textContent = `${s.current_step}/${s.steps_total}`;
          if (s.error) { error.textContent = s.error; error.className = "dialog-alert"; }
          appendLog(s.log);
          setButtons(s.status);
          if (TERMINAL.includes(s.status)) { load(); return; }
        }
        state.poll = setTimeout(tick, 1000);
      };
      state.poll = setTimeout(tick, 1000);
    }

    function newCommand(t) {
      const props = t && t.parameters && t.parameters.properties ? Object.keys(t.parameters.properties) : [];
      formDialog({
        title: t ? `New command from ${t.name}` : "New command",
        wide: true,
        fields: [
          { name: "template", label: "SOP template", required: true, value: t ? t.name : "" },
          { name: "parameters", label: "Parameters (JSON object)", type: "json", rows: 5,
            value: Object.fromEntries(props.map((p) => [p, ""])),
            help: t && t.parameters ? `Schema: ${fmtJson(t.parameters)}` : null },
        ],
        submitLabel: "Create command",
        onSubmit: async (v) => {
          const c = await act((r) => `Command ${r.id.slice(0, 8)} created (pending)`, () => api("POST", "/v1/commands", { json: { template: v.template.trim(), parameters: v.parameters || {} } }));
          await load();
          select(c.id);
        },
      });
    }

    function editCommand(c) {
      formDialog({
        title: `Edit command ${c.id.slice(0, 8)}`,
        fields: [{ name: "parameters", label: "Parameters (JSON object)", type: "json", value: c.parameters, rows: 6 }],
        onSubmit: async (v) => {
          await act("Command saved", () => api("PUT", `/v1/commands/${c.id}`, { json: { parameters: v.parameters || {} } }));
          select(c.id);
        },
      });
    }

    async function execute() {
      if (!state.selected) return;
      const id = state.selected;
      await act("Command queued", () => api("POST", `/v1/commands/${id}/execute`));
      await load();
      select(id);
    }

    async function cancel() {
      if (!state.selected) return;
      const id = state.selected;
      if (!(await confirmDialog("Cancel this command? A running one stops between steps.", { confirmLabel: "Cancel command" }))) return;
      await act("Cancel requested", () => api("POST", `/v1/commands/${id}/cancel`));
      await load();
      select(id);
    }

    function importDialog() {
      formDialog({
        title: "Import SOP templates",
        wide: true,
        submitLabel: "Import",
        fields: [
          { name: "file", label: "JSON or YAML file", type: "file", accept: ".json,.yaml,.yml" },
          { name: "text", label: "…or paste templates", type: "textarea", rows: 12, value: EXAMPLE },
        ],
        onSubmit: async (v) => {
          const text = v.file ? await readFileText(v.file) : v.text;
          const yaml = v.file ? /\.ya?ml$/i.test(v.file.name) : !/^\s*[[{]/.test(text);
          await act((r) => `SOP import: ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged`,
            () => api("POST", "/v1/commands/import", { body: text, headers: { "Content-Type": yaml ? "application/yaml" : "application/json" } }));
          loadSops();
        },
      });
    }

    async function exportCommands(format) {
      const text = await act(`Commands exported as ${format.toUpperCase()}`, () => api("GET", "/v1/commands/export", { query: { format, status: state.status || undefined, template: state.template || undefined }, as: "text" }));
      download(`commands.${format}`, typeof text === "string" ? text : fmtJson(text, 2), format === "csv" ? "text/csv" : "application/json");
    }

    load().catch(() => {});
    loadSops().catch(() => {});
    return { cleanup: stopPolling };
  },
};
