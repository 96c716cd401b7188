import { h, clear, fill, table, toolbar, button, badge, fmtDate, fmtJson, formDialog, confirmDialog, infoDialog, toggleSwitch, readFileText, pager } from "../ui.js";

export default {
  id: "flags",
  title: "Feature Flags",
  blurb: "Switch features on and off, roll them out gradually, target users. Changes arrive live.",
  render(root, { api, act, eventStream }) {
    let flags = new Map();
    let includeArchived = false;
    const live = h("span", { class: "live", role: "status" }, "connecting…");
    const list = h("div");
    const archivedBox = h("input", { type: "checkbox", id: "flags-archived", onchange: (e) => { includeArchived = e.target.checked; load(); } });
    root.append(toolbar(
      button("New flag", () => editFlag(null), { class: "primary" }),
      button("Import flags", importDialog),
      button("Toggle all on", () => toggleAll(true)),
      button("Toggle all off", () => toggleAll(false)),
      button("Refresh", () => load()),
      h("span", { class: "check" }, archivedBox, h("label", { for: "flags-archived" }, "Show archived")),
      h("span", { class: "spacer" }),
      live,
    ), list);

    async function load() {
      const res = await api("GET", "/v1/flags", { query: { include_archived: includeArchived ? "true" : undefined } });
      flags = new Map(res.items.map((f) => [f.name, f]));
      draw();
    }

    function draw() {
      const rows = [...flags.values()].sort((a, b) => a.name.localeCompare(b.name));
      fill(list, table({
        caption: `${rows.length} flag${rows.length === 1 ? "" : "s"}`,
        rows,
        empty: "No flags yet. Create one, or import a JSON/YAML list.",
        rowAttrs: (f) => ({ "data-flag": f.name }),
        columns: [
          { label: "Enabled", render: (f) => (f.archived ? badge("archived", "warn") : toggleSwitch({
            checked: f.enabled,
            label: `Enable ${f.name}`,
            onchange: (on) => act(`${f.name} ${on ? "enabled" : "disabled"}`, async () => {
              const updated = await api("PUT", `/v1/flags/${encodeURIComponent(f.name)}`, { json: { enabled: on } });
              flags.set(updated.name, updated);
            }),
          })) },
          { label: "Name", render: (f) => h("strong", { class: "mono" }, f.name) },
          { label: "Description", key: "description" },
          { label: "Rollout", class: "num", render: (f) => `${f.rollout_pct}%` },
          { label: "Variants", render: (f) => (f.variants.length ? f.variants.map((v) => badge(`${v.name}:${v.weight}`)) : "—") },
          { label: "Environments", render: (f) => {
            const envs = Object.entries(f.environments || {});
            return envs.length ? envs.map(([e, s]) => badge(`${e}${s.enabled === false ? " off" : s.enabled ? " on" : ""}${s.rollout_pct != null ? " " + s.rollout_pct + "%" : ""}`, "info")) : "—";
          } },
          { label: "Version", key: "version", class: "num" },
          { label: "Updated", render: (f) => fmtDate(f.updated_at) },
          { label: "Actions", class: "actions", render: (f) => [
            f.archived ? null : button("Edit", () => editFlag(f), { class: "link", "aria-label": `Edit ${f.name}` }),
            button("Audit", () => auditView(f.name), { class: "link", "aria-label": `Audit of ${f.name}` }),
            f.archived
              ? button("Restore", () => restore(f), { class: "link", "aria-label": `Restore ${f.name}` })
              : button("Archive", () => archive(f), { class: "link danger", "aria-label": `Archive ${f.name}` }),
          ] },
        ],
      }));
    }

    function editFlag(f) {
      const fields = [
        ...(f ? [] : [{ name: "name", label: "Name", required: true, help: "Letters, digits and _ . : -" }]),
        { name: "description", label: "Description", value: f ? f.description : "" },
        { name: "enabled", label: "Enabled", type: "checkbox", value: f ? f.enabled : false },
        { name: "rollout_pct", label: "Rollout %", type: "number", min: 0, max: 100, value: f ? f.rollout_pct : 100, required: true },
        { name: "variants", label: "Variants (JSON list of {name, weight, value})", type: "json", value: f ? f.variants : [], rows: 3 },
        { name: "targeting", label: "Targeting (JSON: user_ids, rules)", type: "json", value: f ? f.targeting : {}, rows: 3 },
        { name: "environments", label: "Per-environment overrides (JSON: {env: {enabled, rollout_pct}})", type: "json", value: f ? f.environments : {}, rows: 3 },
        { name: "metadata", label: "Metadata (JSON object)", type: "json", value: f ? f.metadata : {}, rows: 2 },
      ];
      formDialog({
        title: f ? `Edit flag ${f.name}` : "New flag",
        wide: true,
        fields,
        submitLabel: f ? "Save" : "Create flag",
        onSubmit: async (v) => {
          const body = {
            description: v.description, enabled: v.enabled, rollout_pct: v.rollout_pct ?? 100,
            variants: v.variants || [], targeting: v.targeting || {}, environments: v.environments || {}, metadata: v.metadata || {},
          };
          let saved;
          if (f) {
            saved = await act(`Flag ${f.name} saved`, () => api("PUT", `/v1/flags/${encodeURIComponent(f.name)}`, { json: { ...body, expected_version: f.version } }));
          } else {
            saved = await act(`Flag ${v.name} created`, () => api("POST", "/v1/flags", { json: { name: v.name, ...body } }));
          }
          flags.set(saved.name, saved);
          draw();
        },
      });
    }

    async function archive(f) {
      if (!(await confirmDialog(`Archive flag ${f.name}? It stops being evaluated; you can restore it later.`, { confirmLabel: "Archive" }))) return;
      await act(`Flag ${f.name} archived`, () => api("DELETE", `/v1/flags/${encodeURIComponent(f.name)}`));
      load();
    }

    async function restore(f) {
      await act(`Flag ${f.name} restored`, () => api("POST", `/v1/flags/${encodeURIComponent(f.name)}/restore`));
      load();
    }

    async function toggleAll(on) {
      const answer = await confirmDialog(`Switch every flag ${on ? "on" : "off"}?`, {
        confirmLabel: on ? "Enable all" : "Disable all", danger: !on,
        fields: [{ name: "environment", label: "Only in environment (optional)", placeholder: "e.g. prod" }],
      });
      if (!answer) return;
      await act((r) => `${r.changed} flag(s) switched ${on ? "on" : "off"}`, () => api("POST", "/v1/flags/toggle-all", { json: { enabled: on, environment: answer.environment || undefined } }));
      load();
    }

    function importDialog() {
      formDialog({
        title: "Import flags",
        wide: true,
        submitLabel: "Import",
        fields: [
          { name: "file", label: "JSON or YAML file", type: "file", accept: ".json,.yaml,.yml" },
          { name: "text", label: "…or paste a list of flags", type: "textarea", rows: 8, placeholder: '[{"name": "new-checkout", "enabled": true, "rollout_pct": 25}]' },
        ],
        onSubmit: async (v) => {
          const text = v.file ? await readFileText(v.file) : v.text;
          const yaml = v.file ? /\.ya?ml$/i.test(v.file.name) : !/^\s*[[{]/.test(text);
          await act((r) => `Import: ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged`,
            () => api("POST", "/v1/flags/import", { body: text, headers: { "Content-Type": yaml ? "application/yaml" : "application/json" } }));
          load();
        },
      });
    }

    async function auditView(name) {
      const body = h("div");
      const show = async (page) => {
        const res = await api("GET", `/v1/flags/${encodeURIComponent(name)}/audit`, { query: { page, limit: 20 } });
        fill(body, table({
          rows: res.items,
          empty: "No changes recorded.",
          columns: [
            { label: "Rev", key: "revision", class: "num" },
            { label: "When", render: (e) => fmtDate(e.at) },
            { label: "Action", render: (e) => badge(e.action) },
            { label: "Actor", render: (e) => h("code", {}, e.actor) },
            { label: "Change", render: (e) => h("pre", {}, diff(e.before, e.after)) },
          ],
        }), pager({ page: res.page, limit: res.limit, total: res.total, onPage: show }));
      };
      await show(1);
      infoDialog({ title: `Audit: ${name}`, content: body });
    }

    function diff(before, after) {
      if (!before) return `created: ${["enabled", "rollout_pct", "description"].map((k) => `${k}=${fmtJson(after[k])}`).join(", ")}`;
      if (!after) return "archived";
      const lines = [];
      for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
        if (["version", "updated_at", "updated_by", "created_at"].includes(k)) continue;
        const a = fmtJson(before[k]);
        const b = fmtJson(after[k]);
        if (a !== b) lines.push(`${k}: ${a} → ${b}`);
      }
      return lines.join("\n") || "(no field changed)";
    }

    // Live updates: one `flag` event per change, replayed after a reconnect (Last-Event-ID).
    const stream = eventStream("/v1/flags/stream", {
      onState: (s) => {
        live.textContent = s === "live" ? "Live" : s === "reconnecting" ? "Reconnecting…" : "Offline";
        live.classList.toggle("on", s === "live");
      },
      onEvent: (type, data) => {
        if (type !== "flag" || !data || !data.flag) return;
        if (data.state && (!data.state.archived || includeArchived)) flags.set(data.flag, data.state);
        else if (data.state && data.state.archived && !includeArchived) flags.delete(data.flag);
        else if (!data.state) flags.delete(data.flag);
        draw();
      },
    });

    load().catch(() => {});
    return { cleanup: () => stream.close() };
  },
};
