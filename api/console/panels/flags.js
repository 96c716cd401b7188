// Feature flags on Unleash's model: per environment a switch, ordered strategies (constraints,
// segments, strategy variants) and feature variants; per flag its dependencies. Plus the
// segments, the Unleash-style API tokens, and a "test a context" evaluation.
import { h, clear, fill, table, toolbar, button, badge, fmtDate, fmtJson, formDialog, confirmDialog, infoDialog,
  toggleSwitch, readFileText, pager, download, openDialog, problemNode, nextId, showError } from "../ui.js";
import { envModel, envWire, strategiesEditor, variantsEditor, constraintsEditor, constraintModel, constraintWire,
  dependenciesEditor, datalists, placeErrors, FLAG_TYPES, CONTEXT_FIELDS } from "./flag-editors.js";

const ENV_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const ENV_KEY = "hearth.console.flags.env";
const EXTRA_KEY = "hearth.console.flags.envs";
const enc = encodeURIComponent;
// A click handler running an async action: API errors are already on screen (api() showed
// them), so a failed action must not also surface as an unhandled rejection.
const safe = (fn) => (...args) => Promise.resolve().then(() => fn(...args)).catch((e) => { if (!e || !e.problem) showError(e); });

function strategySummary(s) {
  const p = s.parameters || {};
  const count = (v) => String(v || "").split(",").filter((x) => x.trim()).length;
  let text = s.name;
  if (s.name === "flexibleRollout") text = `rollout ${p.rollout ?? 100}%${p.stickiness && p.stickiness !== "default" ? ` by ${p.stickiness}` : ""}`;
  else if (s.name.startsWith("gradualRollout")) text = `${s.name} ${p.percentage ?? 100}%`;
  else if (s.name === "userWithId") text = `${count(p.userIds)} user id(s)`;
  else if (s.name === "remoteAddress") text = `${count(p.IPs)} address(es)`;
  else if (s.name === "applicationHostname") text = `${count(p.hostNames)} host(s)`;
  const extra = [];
  if ((s.constraints || []).length) extra.push(`${s.constraints.length} constraint(s)`);
  if ((s.segments || []).length) extra.push(`${s.segments.length} segment(s)`);
  if ((s.variants || []).length) extra.push(`${s.variants.length} variant(s)`);
  return `${text}${extra.length ? " · " + extra.join(", ") : ""}${s.disabled ? " (disabled)" : ""}`;
}

function constraintText(c) {
  const vals = c.value != null && c.value !== "" ? c.value : (c.values || []).join(", ");
  return `${c.inverted ? "NOT " : ""}${c.contextName} ${c.operator} ${vals}${c.caseInsensitive ? " (any case)" : ""}`;
}

// A flat "path: before → after" list of what changed between two revisions.
function diffLines(before, after, path = "", out = []) {
  const isObj = (v) => v && typeof v === "object" && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
      if (!path && ["version", "updated_at", "updated_by", "created_at"].includes(k)) continue;
      diffLines(before[k], after[k], path ? `${path}.${k}` : k, out);
    }
  } else if (fmtJson(before) !== fmtJson(after)) {
    out.push(`${path}: ${before === undefined ? "—" : fmtJson(before)} → ${after === undefined ? "—" : fmtJson(after)}`);
  }
  return out;
}

// Stored environments omit their defaults; spelled out, a switch reads "false → true".
function spelledOut(flag) {
  const envs = {};
  for (const [e, cfg] of Object.entries(flag.environments || {})) envs[e] = { enabled: false, strategies: [], variants: [], ...cfg };
  return { ...flag, environments: envs };
}

export default {
  id: "flags",
  title: "Feature Flags",
  blurb: "Unleash's model: per environment a switch, ordered strategies with constraints and segments, variants; dependencies between flags. Changes arrive live.",
  render(root, { api, act, eventStream, notify }) {
    let flags = new Map();
    let segments = [];
    let includeArchived = false;
    const extraEnvs = new Set(JSON.parse(sessionStorage.getItem(EXTRA_KEY) || "[]"));
    let env = sessionStorage.getItem(ENV_KEY) || "default";
    let view = "flags";

    // ------------------------------------------------------------ header: views + environment
    const envSelect = h("select", { id: "flags-env", onchange: (e) => setEnv(e.target.value) });
    const envList = h("datalist", { id: "flag-envs" });
    const views = {
      flags: { label: "Flags", el: h("div"), load: () => loadFlags() },
      segments: { label: "Segments", el: h("div"), load: () => loadSegmentsView() },
      tokens: { label: "API tokens", el: h("div"), load: () => loadTokens() },
      test: { label: "Test a context", el: h("div"), load: () => {} },
    };
    const tabs = Object.entries(views).map(([id, v]) => {
      v.el.id = `flags-view-${id}`;
      v.el.setAttribute("role", "tabpanel");
      v.el.setAttribute("aria-labelledby", `flags-tab-${id}`);
      return h("button", { type: "button", role: "tab", id: `flags-tab-${id}`, "aria-controls": v.el.id,
        "data-view": id, onclick: () => showView(id), onkeydown: tabKeys }, v.label);
    });
    function tabKeys(ev) {
      const i = tabs.indexOf(ev.currentTarget);
      const j = ev.key === "ArrowRight" ? i + 1 : ev.key === "ArrowLeft" ? i - 1 : ev.key === "Home" ? 0 : ev.key === "End" ? tabs.length - 1 : null;
      if (j === null) return;
      ev.preventDefault();
      const t = tabs[(j + tabs.length) % tabs.length];
      showView(t.dataset.view);
      t.focus();
    }
    function showView(id) {
      view = id;
      for (const t of tabs) {
        const on = t.dataset.view === id;
        t.setAttribute("aria-selected", String(on));
        t.tabIndex = on ? 0 : -1;
      }
      for (const [vid, v] of Object.entries(views)) v.el.hidden = vid !== id;
      Promise.resolve(views[id].load()).catch(() => {});
    }
    root.append(h("div", { class: "flags-head" },
      h("div", { role: "tablist", "aria-label": "Feature flag views", class: "tabs" }, tabs),
      h("span", { class: "spacer" }),
      h("label", { for: "flags-env" }, "Environment"), envSelect,
      button("Add environment", addEnvironment)),
      envList, ...Object.values(views).map((v) => v.el));

    function environments() {
      const names = new Set(["default", ...extraEnvs]);
      for (const f of flags.values()) for (const e of Object.keys(f.environments || {})) names.add(e);
      names.add(env);
      return ["default", ...[...names].filter((n) => n !== "default").sort()];
    }
    function drawEnvs() {
      const names = environments();
      fill(envSelect, names.map((n) => h("option", { value: n, selected: n === env }, n)));
      fill(envList, names.map((n) => h("option", { value: n })));
    }
    function setEnv(name) {
      env = name;
      sessionStorage.setItem(ENV_KEY, env);
      drawEnvs();
      if (view === "flags") drawFlags();
      if (view === "test") drawTest();
    }
    function addEnvironment() {
      formDialog({
        title: "Add environment",
        fields: [{ name: "name", label: "Environment name", required: true, help: "lowercase letters, digits, _ and -; it exists once a flag is saved in it" }],
        submitLabel: "Add",
        onSubmit: (v) => {
          if (!ENV_RE.test(v.name)) throw Object.assign(new Error("bad name"), { problem: { title: "Invalid environment name", detail: "use a-z, 0-9, _ and - (at most 64, starting with a letter or digit)" } });
          extraEnvs.add(v.name);
          sessionStorage.setItem(EXTRA_KEY, JSON.stringify([...extraEnvs]));
          setEnv(v.name);
        },
      });
    }

    // ------------------------------------------------------------ flags view
    const live = h("span", { class: "live", role: "status" }, "connecting…");
    const list = h("div");
    const archivedBox = h("input", { type: "checkbox", id: "flags-archived", onchange: safe((e) => { includeArchived = e.target.checked; return loadFlags(); }) });
    views.flags.el.append(toolbar(
      button("New flag", newFlag, { class: "primary" }),
      button("Import", importDialog),
      button("Export", safe(exportFlags)),
      button("Toggle all on", safe(() => toggleAll(true))),
      button("Toggle all off", safe(() => toggleAll(false))),
      button("Refresh", safe(loadFlags)),
      h("span", { class: "check" }, archivedBox, h("label", { for: "flags-archived" }, "Show archived")),
      h("span", { class: "spacer" }),
      live,
    ), list);

    async function loadFlags() {
      const res = await api("GET", "/v1/flags", { query: { include_archived: includeArchived ? "true" : undefined } });
      flags = new Map(res.items.map((f) => [f.name, f]));
      drawEnvs();
      drawFlags();
    }
    async function loadSegments() {
      segments = (await api("GET", "/v1/segments")).items;
      return segments;
    }

    function drawFlags() {
      const rows = [...flags.values()].sort((a, b) => a.name.localeCompare(b.name));
      fill(list, table({
        caption: `${rows.length} flag${rows.length === 1 ? "" : "s"} · environment ${env}`,
        rows,
        empty: "No flags yet. Create one, or import Unleash's client-API document.",
        rowAttrs: (f) => ({ "data-flag": f.name }),
        columns: [
          { label: `On in ${env}`, render: (f) => (f.archived ? badge("archived", "warn") : toggleSwitch({
            checked: !!(f.environments[env] && f.environments[env].enabled),
            label: `Enable ${f.name} in ${env}`,
            // A switch only sets `enabled` (the server merges it into the environment), so it
            // cannot overwrite anyone's strategies: no If-Match, a stale list still switches.
            onchange: (on) => act(`${f.name} ${on ? "enabled" : "disabled"} in ${env}`, async () => {
              const updated = await api("PUT", `/v1/flags/${enc(f.name)}/environments/${enc(env)}`, { json: { enabled: on } });
              flags.set(updated.name, updated);
            }),
          })) },
          { label: "Name", render: (f) => [h("strong", { class: "mono" }, f.name), " ", badge(f.type), f.description ? h("div", { class: "muted" }, f.description) : null] },
          { label: "Strategies", render: (f) => {
            const cfg = f.environments[env];
            if (!cfg) return h("span", { class: "muted" }, `not set up in ${env}`);
            if (!(cfg.strategies || []).length) return h("span", { class: "muted" }, "everyone");
            return h("ol", { class: "compact" }, cfg.strategies.map((s) => h("li", {}, strategySummary(s))));
          } },
          { label: "Variants", render: (f) => {
            const vs = (f.environments[env] || {}).variants || [];
            return vs.length ? vs.map((v) => badge(`${v.name}:${v.weight}`)) : "—";
          } },
          { label: "Depends on", render: (f) => (f.dependencies.length ? f.dependencies.map((d) =>
            badge(`${d.enabled === false ? "!" : ""}${d.feature}${(d.variants || []).length ? ":" + d.variants.join("|") : ""}`, "info")) : "—") },
          { label: "Other environments", render: (f) => {
            const others = Object.entries(f.environments).filter(([e]) => e !== env);
            return others.length ? others.map(([e, s]) => badge(`${e} ${s.enabled ? "on" : "off"}`, s.enabled ? "ok" : "")) : "—";
          } },
          { label: "Version", class: "num", render: (f) => h("span", { title: `updated ${fmtDate(f.updated_at)} by ${f.updated_by}` }, String(f.version)) },
          { label: "Actions", class: "actions", render: (f) => [
            f.archived ? null : button("Edit", safe(() => editEnvironment(f.name)), { class: "link", "aria-label": `Edit ${f.name} in ${env}` }),
            f.archived ? null : button("Settings", safe(() => editSettings(f.name)), { class: "link", "aria-label": `Settings of ${f.name}` }),
            button("Audit", safe(() => auditView(f.name)), { class: "link", "aria-label": `Audit of ${f.name}` }),
            f.archived
              ? button("Restore", safe(() => restore(f)), { class: "link", "aria-label": `Restore ${f.name}` })
              : button("Archive", safe(() => archive(f)), { class: "link danger", "aria-label": `Archive ${f.name}` }),
          ] },
        ],
      }));
    }

    function newFlag() {
      formDialog({
        title: "New flag",
        fields: [
          { name: "name", label: "Name", required: true, help: "any text up to 255 characters, without / or control characters" },
          { name: "description", label: "Description" },
          { name: "type", label: "Type", type: "select", options: FLAG_TYPES, value: "release" },
          { name: "enabled", label: `Enabled in ${env}`, type: "checkbox", value: false },
        ],
        submitLabel: "Create flag",
        onSubmit: async (v) => {
          const saved = await act(`Flag ${v.name} created`, () => api("POST", "/v1/flags", { json: {
            name: v.name, description: v.description, type: v.type,
            environments: { [env]: { enabled: v.enabled, strategies: [], variants: [] } },
          } }));
          flags.set(saved.name, saved);
          drawFlags();
        },
      });
    }

    // A modal editor that does its own saving: errors go to its alert and next to the fields.
    function editorDialog({ title, build, save, normalize, submitLabel = "Save", onReload }) {
      const alert = h("div", { class: "dialog-alert", role: "alert" });
      const body = h("div", { class: "dialog-body fe" });
      const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
      const cancel = h("button", { type: "button" }, "Cancel");
      const titleId = nextId("dlg");
      const heading = h("h2", { id: titleId }, title);
      const form = h("form", { method: "dialog", novalidate: true }, heading, alert, body, h("div", { class: "dialog-actions" }, cancel, submit));
      const dlg = h("dialog", { "aria-labelledby": titleId, class: "wide editor" }, form);
      const redraw = () => fill(body, build());
      cancel.addEventListener("click", () => dlg.close());
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        clear(alert);
        submit.disabled = true;
        try {
          await save();
          dlg.close();
        } catch (e) {
          const problem = e.problem || { title: "Error", detail: e.message || String(e) };
          fill(alert, problemNode(problem));
          if (e.status === 412 && onReload) {
            alert.append(h("p", {}, "Someone changed this flag after you opened it; nothing was saved. ",
              button("Reload their version", safe(async () => { await onReload(); clear(alert); redraw(); }), { class: "link" }),
              " (your edits here are dropped)."));
          }
          const first = placeErrors(body, problem, normalize);
          (first || alert).scrollIntoView({ block: "nearest" });
        } finally {
          submit.disabled = false;
        }
      });
      redraw();
      openDialog(dlg, alert);
      return { dialog: dlg, heading, redraw };
    }

    async function editEnvironment(name) {
      const target = env;
      let flag = await api("GET", `/v1/flags/${enc(name)}`);
      await loadSegments();
      let model = envModel(flag.environments[target]);
      const lists = nextId("ctx");
      const props = new Set();
      for (const s of segments) for (const c of s.constraints) if (!CONTEXT_FIELDS.includes(c.contextName)) props.add(c.contextName);
      const ed = editorDialog({
        title: `${name} in ${target}`,
        build: () => [
          h("p", { class: "muted" }, `Version ${flag.version}. Saving is refused if anyone saves the flag first.`),
          ...datalists(lists, [...props]),
          h("div", { class: "field field-check" },
            h("input", { type: "checkbox", id: `${lists}-enabled`, "data-path": "$.enabled", checked: model.enabled,
              onchange: (e) => { model.enabled = e.target.checked; } }),
            h("label", { for: `${lists}-enabled` }, `Enabled in ${target}`)),
          h("h3", {}, "Strategies"),
          h("p", { class: "muted" }, "Evaluated in order; the first that matches turns the flag on. With none, an enabled flag is on for everyone."),
          strategiesEditor(model.strategies, "$.strategies", { flagName: name, segments, datalist: lists }),
          h("h3", {}, "Variants"),
          h("p", { class: "muted" }, "Used when the matching strategy has no variants of its own."),
          variantsEditor(model.variants, "$.variants", { datalist: lists }),
        ],
        normalize: (p) => p.replace(/^\$\.environments\.[^.[]+/, "$"),
        onReload: async () => {
          flag = await api("GET", `/v1/flags/${enc(name)}`);
          model = envModel(flag.environments[target]);
          flags.set(flag.name, flag);
          drawFlags();
        },
        save: async () => {
          const saved = await api("PUT", `/v1/flags/${enc(name)}/environments/${enc(target)}`, {
            json: envWire(model), headers: { "If-Match": `"${flag.version}"` }, quiet: true });
          flags.set(saved.name, saved);
          drawEnvs();
          drawFlags();
          notify(`${name} saved in ${target} (version ${saved.version})`);
        },
      });
      ed.dialog.dataset.editor = "environment";
    }

    async function editSettings(name) {
      let flag = await api("GET", `/v1/flags/${enc(name)}`);
      const names = [...flags.keys()].filter((n) => n !== name).sort();
      let model;
      const reset = () => {
        model = { description: flag.description, type: flag.type, impression_data: flag.impression_data, stale: flag.stale,
          dependencies: flag.dependencies.map((d) => ({ feature: d.feature, enabled: d.enabled !== false, variants: [...(d.variants || [])] })),
          metadata: JSON.stringify(flag.metadata || {}, null, 2) };
      };
      reset();
      const text = (label, key, attrs = {}) => {
        const id = nextId("st");
        const input = h(attrs.rows ? "textarea" : "input", { id, "data-path": `$.${key}`, list: attrs.list, rows: attrs.rows, class: attrs.rows ? "mono" : null });
        input.value = model[key];
        input.addEventListener("input", () => { model[key] = input.value; });
        return h("div", { class: "field" }, h("label", { for: id }, label), input);
      };
      const check = (label, key) => {
        const id = nextId("st");
        return h("div", { class: "field field-check" },
          h("input", { type: "checkbox", id, "data-path": `$.${key}`, checked: model[key], onchange: (e) => { model[key] = e.target.checked; } }),
          h("label", { for: id }, label));
      };
      const types = nextId("types");
      editorDialog({
        title: `Settings of ${name}`,
        build: () => [
          h("p", { class: "muted" }, `Version ${flag.version}. These apply in every environment.`),
          h("datalist", { id: types }, FLAG_TYPES.map((t) => h("option", { value: t }))),
          text("Description", "description"),
          text("Type", "type", { list: types }),
          check("Impression data (SDKs emit impression events)", "impression_data"),
          check("Stale", "stale"),
          h("h3", {}, "Dependencies"),
          h("p", { class: "muted" }, "On only when every parent is as stated (and, if variants are named, on one of them)."),
          dependenciesEditor(model.dependencies, "$.dependencies", { flagNames: names }),
          text("Metadata (JSON object, echoed in evaluations)", "metadata", { rows: 3 }),
        ],
        onReload: async () => { flag = await api("GET", `/v1/flags/${enc(name)}`); reset(); },
        save: async () => {
          let metadata;
          try {
            metadata = JSON.parse(model.metadata || "{}");
          } catch (e) {
            throw { problem: { title: "Invalid input", detail: "Metadata is not valid JSON", errors: [{ path: "$.metadata", message: e.message }] } };
          }
          const body = { description: model.description, type: model.type, impression_data: model.impression_data,
            stale: model.stale, dependencies: model.dependencies, metadata };
          const saved = await api("PUT", `/v1/flags/${enc(name)}`, { json: body, headers: { "If-Match": `"${flag.version}"` }, quiet: true });
          flags.set(saved.name, saved);
          drawFlags();
          notify(`Settings of ${name} saved (version ${saved.version})`);
        },
      });
    }

    async function archive(f) {
      if (!(await confirmDialog(`Archive flag ${f.name}? It stops being evaluated; you can restore it later.`, { confirmLabel: "Archive" }))) return;
      await act(`Flag ${f.name} archived`, () => api("DELETE", `/v1/flags/${enc(f.name)}`));
      await loadFlags();
    }

    async function restore(f) {
      await act(`Flag ${f.name} restored`, () => api("POST", `/v1/flags/${enc(f.name)}/restore`));
      await loadFlags();
    }

    async function toggleAll(on) {
      if (!(await confirmDialog(`Switch every flag ${on ? "on" : "off"} in ${env}?`, { confirmLabel: on ? "Enable all" : "Disable all", danger: !on }))) return;
      await act((r) => `${r.changed} flag(s) switched ${on ? "on" : "off"} in ${env}`, () => api("POST", "/v1/flags/toggle-all", { json: { enabled: on, environment: env } }));
      await loadFlags();
    }

    function importDialog() {
      formDialog({
        title: "Import flags",
        wide: true,
        submitLabel: "Import",
        fields: [
          { name: "format", label: "Format", type: "select", value: "unleash", options: [
            ["unleash", `Unleash client API (GET /api/client/features) into ${env}`], ["hearth", "Hearth flag list (JSON or YAML)"]] },
          { name: "mode", label: "Mode (Unleash format)", type: "select", value: "merge", options: [
            ["merge", "merge: add and update, keep the rest"], ["replace", `replace: flags not in the document are switched off in ${env}`]] },
          { name: "file", label: "File", type: "file", accept: ".json,.yaml,.yml" },
          { name: "text", label: "…or paste the document", type: "textarea", rows: 8, placeholder: '{"version": 2, "features": [...], "segments": [...]}' },
        ],
        onSubmit: async (v) => {
          const text = v.file ? await readFileText(v.file) : v.text;
          const yaml = v.file ? /\.ya?ml$/i.test(v.file.name) : !/^\s*[[{]/.test(text);
          const query = v.format === "unleash" ? { format: "unleash", environment: env, mode: v.mode } : {};
          await act((r) => `Import: ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged${r.removed ? `, ${r.removed} removed` : ""}${r.segments ? `, ${r.segments} segment(s)` : ""}`,
            () => api("POST", "/v1/flags/import", { query, body: text, headers: { "Content-Type": yaml ? "application/yaml" : "application/json" } }));
          await loadFlags();
        },
      });
    }

    async function exportFlags() {
      const doc = await api("GET", "/v1/flags/export", { query: { format: "unleash", environment: env } });
      download(`flags-${env}.json`, JSON.stringify(doc, null, 2));
    }

    async function auditView(name) {
      const body = h("div");
      const show = async (page) => {
        const res = await api("GET", `/v1/flags/${enc(name)}/audit`, { query: { page, limit: 20 } });
        fill(body, table({
          rows: res.items,
          empty: "No changes recorded.",
          columns: [
            { label: "Rev", key: "revision", class: "num" },
            { label: "When", render: (e) => fmtDate(e.at) },
            { label: "Action", render: (e) => badge(e.action) },
            { label: "Actor", render: (e) => h("code", {}, e.actor) },
            { label: "Change", render: (e) => h("pre", {}, !e.before ? "created" : !e.after ? "removed" : diffLines(spelledOut(e.before), spelledOut(e.after)).join("\n") || "(no field changed)") },
          ],
        }), pager({ page: res.page, limit: res.limit, total: res.total, onPage: show }));
      };
      await show(1);
      infoDialog({ title: `Audit: ${name}`, content: body });
    }

    // ------------------------------------------------------------ segments view
    const segList = h("div");
    views.segments.el.append(toolbar(
      button("New segment", () => editSegment(null), { class: "primary" }),
      button("Refresh", safe(loadSegmentsView)),
      h("span", { class: "muted" }, "Named constraint sets a strategy can require; a change applies to every strategy using it."),
    ), segList);

    async function loadSegmentsView() {
      await loadSegments();
      fill(segList, table({
        caption: `${segments.length} segment${segments.length === 1 ? "" : "s"}`,
        rows: segments,
        empty: "No segments yet.",
        rowAttrs: (s) => ({ "data-segment": s.name }),
        columns: [
          { label: "Id", key: "id", class: "num" },
          { label: "Name", render: (s) => h("strong", {}, s.name) },
          { label: "Description", key: "description" },
          { label: "Constraints", render: (s) => (s.constraints.length ? h("ul", { class: "compact" }, s.constraints.map((c) => h("li", {}, h("code", {}, constraintText(c))))) : "—") },
          { label: "Actions", class: "actions", render: (s) => [
            button("Edit", () => editSegment(s), { class: "link", "aria-label": `Edit segment ${s.name}` }),
            button("Delete", safe(() => deleteSegment(s)), { class: "link danger", "aria-label": `Delete segment ${s.name}` }),
          ] },
        ],
      }));
    }

    function editSegment(seg) {
      const model = { name: seg ? seg.name : "", description: seg ? seg.description : "", constraints: (seg ? seg.constraints : []).map(constraintModel) };
      const lists = nextId("ctx");
      const text = (label, key) => {
        const id = nextId("sg");
        const input = h("input", { id, "data-path": `$.${key}`, required: key === "name" });
        input.value = model[key];
        input.addEventListener("input", () => { model[key] = input.value; });
        return h("div", { class: "field" }, h("label", { for: id }, label), input);
      };
      editorDialog({
        title: seg ? `Segment ${seg.name}` : "New segment",
        submitLabel: seg ? "Save" : "Create segment",
        build: () => [...datalists(lists), text("Name", "name"), text("Description", "description"),
          h("h3", {}, "Constraints"), constraintsEditor(model.constraints, "$.constraints", { datalist: lists })],
        save: async () => {
          const body = { name: model.name, description: model.description, constraints: model.constraints.map(constraintWire) };
          const saved = seg
            ? await api("PUT", `/v1/segments/${seg.id}`, { json: body, quiet: true })
            : await api("POST", "/v1/segments", { json: body, quiet: true });
          notify(`Segment ${saved.name} ${seg ? "saved" : "created"}`);
          await loadSegmentsView();
        },
      });
    }

    async function deleteSegment(s) {
      if (!(await confirmDialog(`Delete segment ${s.name}? Refused while a strategy uses it.`))) return;
      await act(`Segment ${s.name} deleted`, () => api("DELETE", `/v1/segments/${s.id}`));
      await loadSegmentsView();
    }

    // ------------------------------------------------------------ API tokens view
    const tokList = h("div");
    views.tokens.el.append(toolbar(
      button("New API token", newToken, { class: "primary" }),
      button("Refresh", safe(loadTokens)),
      h("span", { class: "muted" }, "Unleash-style tokens for SDKs: sent as Authorization: <token>, bound to one environment."),
    ), tokList);

    async function loadTokens() {
      const res = await api("GET", "/v1/flag-tokens");
      fill(tokList, table({
        caption: `${res.total} token${res.total === 1 ? "" : "s"}`,
        rows: res.items,
        empty: "No API tokens yet.",
        rowAttrs: (t) => ({ "data-token": t.name }),
        columns: [
          { label: "Name", render: (t) => h("strong", {}, t.name) },
          { label: "Type", render: (t) => badge(t.type, "info") },
          { label: "Environment", key: "environment" },
          { label: "Token", render: (t) => h("code", {}, t.hint) },
          { label: "Created", render: (t) => [fmtDate(t.created_at), t.created_by ? h("div", { class: "muted" }, t.created_by) : null] },
          { label: "Last used", render: (t) => fmtDate(t.last_used_at) },
          { label: "State", render: (t) => (t.revoked_at ? badge(`revoked ${fmtDate(t.revoked_at)}`, "err") : badge("active", "ok")) },
          { label: "Actions", class: "actions", render: (t) => (t.revoked_at ? null
            : button("Revoke", safe(() => revokeToken(t)), { class: "link danger", "aria-label": `Revoke ${t.name}` })) },
        ],
      }));
    }

    function newToken() {
      let created = null;
      const ctl = formDialog({
        title: "New API token",
        fields: [
          { name: "type", label: "Type", type: "select", value: "backend", options: [
            ["backend", "backend (server SDKs: /api/client)"], ["frontend", "frontend (browser and mobile: /api/frontend)"]] },
          { name: "environment", label: "Environment", value: env, required: true, list: "flag-envs" },
          { name: "name", label: "Name (optional)" },
        ],
        submitLabel: "Create token",
        onSubmit: async (v) => {
          created = await api("POST", "/v1/flag-tokens", { json: { type: v.type, environment: v.environment, name: v.name || undefined } });
          await loadTokens();
        },
      });
      // The secret opens once this dialog has closed (and handed focus back), not beneath it.
      ctl.dialog.addEventListener("close", () => { if (created) showSecret(created); });
    }

    function showSecret(t) {
      const id = nextId("tok");
      const input = h("input", { id, readonly: true, class: "mono token-secret", value: t.token, onfocus: (e) => e.target.select() });
      const copy = button("Copy", async () => {
        try {
          await navigator.clipboard.writeText(t.token);
          notify("Token copied");
        } catch {
          input.select();
        }
      });
      infoDialog({
        title: `API token ${t.name}`,
        content: [
          h("p", {}, `A ${t.type} token for ${t.environment}. `, h("strong", {}, "Copy it now: it is not shown again.")),
          h("div", { class: "field" }, h("label", { for: id }, "Token"), h("div", { class: "inline-form" }, input, copy)),
        ],
      });
    }

    async function revokeToken(t) {
      if (!(await confirmDialog(`Revoke token ${t.name}? SDKs using it are refused from now on.`, { confirmLabel: "Revoke" }))) return;
      await act(`Token ${t.name} revoked`, () => api("DELETE", `/v1/flag-tokens/${enc(t.id)}`));
      await loadTokens();
    }

    // ------------------------------------------------------------ test a context
    const ctxFields = [
      ["userId", "User id"], ["sessionId", "Session id"], ["remoteAddress", "Remote address"],
      ["appName", "App name"], ["environment", "Context environment"], ["currentTime", "Current time (RFC 3339)"],
    ];
    const ctxInputs = {};
    const propsInput = h("textarea", { id: "ctx-properties", rows: 3, class: "mono", "data-path": "$.context.properties", placeholder: "region=eu\nplan=pro" });
    const testHead = h("p", { class: "muted" });
    const testAlert = h("div", { class: "dialog-alert", role: "alert" });
    const testResult = h("div", { id: "evaluation" });
    const testForm = h("form", { class: "card", "aria-label": "Test a context" },
      testHead,
      h("div", { class: "inline-form" }, ctxFields.map(([k, label]) => {
        const id = `ctx-${k}`;
        ctxInputs[k] = h("input", { id, "data-path": `$.context.${k}`, autocomplete: "off" });
        return h("div", { class: "field" }, h("label", { for: id }, label), ctxInputs[k]);
      })),
      h("div", { class: "field" }, h("label", { for: "ctx-properties" }, "Properties (name=value, one per line)"), propsInput),
      testAlert,
      h("div", { class: "toolbar" }, h("button", { type: "submit", class: "primary" }, "Evaluate")));
    views.test.el.append(testForm, testResult);
    function drawTest() {
      testHead.textContent = `Every flag of ${env} for one context, as POST /v1/flags/evaluate?environment=${env} answers it (no enrichment: what the context lacks is absent).`;
    }
    drawTest();
    testForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clear(testAlert);
      const context = {};
      for (const [k] of ctxFields) if (ctxInputs[k].value.trim() !== "") context[k] = ctxInputs[k].value.trim();
      const properties = {};
      for (const line of propsInput.value.split("\n")) {
        if (!line.trim()) continue;
        const i = line.indexOf("=");
        if (i < 1) {
          const problem = { title: "Invalid input", detail: `"${line}" is not name=value`, errors: [{ path: "$.context.properties", message: "one name=value per line" }] };
          fill(testAlert, problemNode(problem));
          placeErrors(testForm, problem);
          return;
        }
        properties[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      if (Object.keys(properties).length) context.properties = properties;
      try {
        const res = await api("POST", "/v1/flags/evaluate", { query: { environment: env }, json: { context }, quiet: true });
        placeErrors(testForm, null);
        fill(testResult, table({
          caption: `${res.flags.length} flag(s) in ${env}`,
          rows: res.flags,
          empty: `No flags in ${env}.`,
          rowAttrs: (f) => ({ "data-eval": f.key }),
          columns: [
            { label: "Flag", render: (f) => h("strong", { class: "mono" }, f.key) },
            { label: "Enabled", render: (f) => badge(f.enabled ? "on" : "off", f.enabled ? "ok" : "") },
            { label: "Variant", render: (f) => h("code", {}, f.variant) },
            { label: "Value", render: (f) => h("code", {}, fmtJson(f.value)) },
            { label: "Reason", render: (f) => badge(f.reason, "info") },
            { label: "Payload", render: (f) => (f.payload ? h("code", {}, `${f.payload.type}: ${f.payload.value}`) : "—") },
          ],
        }));
      } catch (e) {
        const problem = e.problem || { title: "Error", detail: String(e) };
        fill(testAlert, problemNode(problem));
        placeErrors(testForm, problem);
      }
    });

    // ------------------------------------------------------------ live updates
    // One `flag` event per change, replayed after a reconnect (Last-Event-ID).
    const stream = eventStream("/v1/flags/stream", {
      onState: (s) => {
        live.textContent = s === "live" ? "Live" : s === "reconnecting" ? "Reconnecting…" : "Offline";
        live.classList.toggle("on", s === "live");
      },
      onEvent: (type, data) => {
        if (type !== "flag" || !data || !data.flag) return;
        if (data.state && (!data.state.archived || includeArchived)) flags.set(data.flag, data.state);
        else flags.delete(data.flag);
        if (view === "flags") drawFlags();
      },
    });

    drawEnvs();
    showView("flags");
    return { cleanup: () => stream.close() };
  },
};
