import { h, clear, fill, table, toolbar, button, fmtDate, fmtJson, truncate, formDialog, confirmDialog, infoDialog, download, readFileText, field, readForm, problemNode } from "../ui.js";

const ENV_KEY = "hearth.console.config.env";

export default {
  id: "config",
  title: "Configuration Store",
  blurb: "Versioned values per environment: compare-and-set writes, JSON Schema validation, history and rollback.",
  render(root, { api, act }) {
    const state = { environment: sessionStorage.getItem(ENV_KEY) || "prod", prefix: "" };
    const filterFields = [
      { name: "environment", label: "Environment", value: state.environment, required: true, list: "config-envs" },
      { name: "prefix", label: "Key prefix", type: "search" },
    ];
    const envs = h("datalist", { id: "config-envs" }, ["prod", "staging", "dev", "test", "billing"].map((e) => h("option", { value: e })));
    const filters = h("form", { class: "filters", "aria-label": "Choose environment" }, filterFields.map(field), envs, h("button", { type: "submit" }, "Show"));
    filters.addEventListener("submit", (e) => {
      e.preventDefault();
      const v = readForm(filters, filterFields);
      state.environment = v.environment.trim();
      state.prefix = v.prefix;
      sessionStorage.setItem(ENV_KEY, state.environment);
      load();
    });
    const list = h("div");
    root.append(toolbar(
      button("Add config", () => editEntry(null), { class: "primary" }),
      button("Export", exportEnv),
      button("Import", importDialog),
      button("Refresh", () => load()),
    ), filters, list);

    async function load() {
      const res = await api("GET", "/v1/config", { query: { environment: state.environment, prefix: state.prefix || undefined } });
      fill(list, table({
        caption: `${res.total} key${res.total === 1 ? "" : "s"} in ${res.environment}`,
        rows: res.items,
        empty: `No configuration in “${state.environment}” yet.`,
        rowAttrs: (e) => ({ "data-key": e.key }),
        columns: [
          { label: "Key", render: (e) => h("strong", { class: "mono" }, e.key) },
          { label: "Value (JSON)", render: (e) => h("code", { title: fmtJson(e.value) }, truncate(fmtJson(e.value), 70)) },
          { label: "Version", key: "version", class: "num" },
          { label: "Schema", render: (e) => (e.schema ? "yes" : "—") },
          { label: "Env", key: "environment" },
          { label: "Updated", render: (e) => fmtDate(e.updated_at) },
          { label: "By", render: (e) => h("code", {}, truncate(e.updated_by, 24)) },
          { label: "Actions", class: "actions", render: (e) => [
            button("Edit", () => editEntry(e), { class: "link", "aria-label": `Edit ${e.key}` }),
            button("History", () => history(e), { class: "link", "aria-label": `History of ${e.key}` }),
            button("Delete", () => remove(e), { class: "link danger", "aria-label": `Delete ${e.key}` }),
          ] },
        ],
      }));
    }

    function editEntry(e) {
      let expected = e ? e.version : 0;
      const fields = [
        ...(e ? [] : [
          { name: "environment", label: "Environment", value: state.environment, required: true },
          { name: "key", label: "Key", required: true, help: "Letters, digits and _ . : / -" },
        ]),
        { name: "value", label: "Value (JSON)", type: "json", value: e ? e.value : "", required: true, rows: 8 },
        { name: "schema", label: "JSON Schema (optional; validates this and later writes)", type: "json", value: e && e.schema ? e.schema : "", rows: 4 },
      ];
      const note = h("p", { class: "muted" }, e ? `Editing version ${e.version}. The write fails if someone changes it meanwhile.` : "Creates the key only if it does not exist yet.");
      formDialog({
        title: e ? `Edit ${e.key} (${e.environment})` : "Add configuration",
        wide: true,
        fields,
        extra: note,
        submitLabel: e ? "Save new version" : "Create",
        onSubmit: async (v, ctl) => {
          if (v.value === undefined) throw Object.assign(new Error("value"), { problem: { title: "Invalid input", detail: "A value is required (any JSON: 42, \"text\", {…})." } });
          const body = {
            environment: e ? e.environment : v.environment.trim(),
            key: e ? e.key : v.key.trim(),
            value: v.value,
            expected_version: expected,
          };
          if (v.schema !== undefined) body.schema = v.schema;
          try {
            const saved = await act((r) => `${r.key} saved as version ${r.version}`, () => api("POST", "/v1/config", { json: body }));
            if (saved.environment === state.environment) load();
          } catch (err) {
            if (err.status !== 409 || !e) throw err;
            // Version conflict: show who changed it and load their value so the edit can be redone.
            const latest = await api("GET", `/v1/config/${encodeURIComponent(e.key)}`, { query: { environment: e.environment }, quiet: true }).catch(() => null);
            fill(ctl.alert, problemNode(err.problem));
            if (latest) {
              expected = latest.version;
              ctl.form.elements.value.value = fmtJson(latest.value, 2);
              ctl.alert.append(h("p", {}, `It is now at version ${latest.version} (by ${latest.updated_by}, ${fmtDate(latest.updated_at)}). Their value is loaded above: review it and save again to overwrite.`));
              note.textContent = `Editing version ${latest.version}.`;
            }
            return false;
          }
        },
      });
    }

    async function history(e) {
      const body = h("div");
      const dlg = infoDialog({ title: `History: ${e.key} (${e.environment})`, content: body });
      const show = async () => {
        const res = await api("GET", `/v1/config/${encodeURIComponent(e.key)}/history`, { query: { environment: e.environment, limit: 100 } });
        fill(body, table({
          rows: res.items,
          empty: "No history.",
          columns: [
            { label: "Version", key: "version", class: "num" },
            { label: "Action", key: "action" },
            { label: "Value", render: (v) => h("code", {}, truncate(fmtJson(v.value), 80)) },
            { label: "By", render: (v) => h("code", {}, truncate(v.actor, 24)) },
            { label: "When", render: (v) => fmtDate(v.at) },
            { label: "", class: "actions", render: (v) => button("Roll back", async () => {
              const ok = await confirmDialog(`Make version ${v.version}'s value the current value of ${e.key}?`, { confirmLabel: "Roll back", danger: false });
              if (!ok) return;
              await act((r) => `Rolled back: version ${r.version} now holds version ${v.version}'s value`,
                () => api("POST", `/v1/config/${encodeURIComponent(e.key)}/rollback`, { json: { environment: e.environment, version: v.version } }));
              await show();
              load();
            }, { class: "link", "aria-label": `Roll back to version ${v.version}` }) },
          ],
        }));
      };
      await show().catch(() => dlg.close());
    }

    async function remove(e) {
      if (!(await confirmDialog(`Delete ${e.key} from ${e.environment}? Its history is kept.`))) return;
      await act(`${e.key} deleted`, () => api("DELETE", `/v1/config/${encodeURIComponent(e.key)}`, { query: { environment: e.environment } }));
      load();
    }

    async function exportEnv() {
      const doc = await act(`Exported ${state.environment}`, () => api("GET", "/v1/config/export", { query: { environment: state.environment } }));
      download(`config-${state.environment}.json`, fmtJson(doc, 2));
    }

    function importDialog() {
      formDialog({
        title: "Import configuration",
        wide: true,
        submitLabel: "Import",
        fields: [
          { name: "file", label: "Exported JSON file", type: "file", accept: ".json,application/json" },
          { name: "text", label: "…or paste {environment, entries}", type: "textarea", rows: 8, placeholder: '{"environment": "prod", "entries": {"checkout.timeout": {"value": 30}}}' },
        ],
        onSubmit: async (v) => {
          const text = v.file ? await readFileText(v.file) : v.text;
          await act((r) => `Import: ${r.written} written, ${r.unchanged} unchanged`, () => api("POST", "/v1/config/import", { body: text, headers: { "Content-Type": "application/json" } }));
          load();
        },
      });
    }

    load().catch(() => {});
  },
};
