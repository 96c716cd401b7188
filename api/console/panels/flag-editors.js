// Editors for Unleash's activation model: strategies, constraints, segments, variants,
// dependencies. Each editor renders from a plain object (the JSON the API takes, Unleash's
// field names) and writes every input straight back into it, so redrawing a list after an
// add/remove/reorder keeps whatever was typed. Every input carries `data-path`, the JSON path
// the API names in problem+json `errors[].path`, so an error lands next to its field.
import { h, clear, fill, nextId, button } from "../ui.js";

export const OPERATORS = [
  "IN", "NOT_IN", "STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH",
  "NUM_EQ", "NUM_GT", "NUM_GTE", "NUM_LT", "NUM_LTE",
  "DATE_AFTER", "DATE_BEFORE", "SEMVER_EQ", "SEMVER_GT", "SEMVER_LT", "REGEX", "IN_CIDR",
];
// These compare the context with one `value`; the others with a list of `values`.
const SINGLE_VALUE = new Set(["NUM_EQ", "NUM_GT", "NUM_GTE", "NUM_LT", "NUM_LTE", "DATE_AFTER",
  "DATE_BEFORE", "SEMVER_EQ", "SEMVER_GT", "SEMVER_LT", "REGEX"]);
export const CONTEXT_FIELDS = ["userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime"];
const STICKINESS = ["default", "userId", "sessionId", "random"];
const PAYLOAD_TYPES = ["string", "json", "csv", "number"];
export const FLAG_TYPES = ["release", "experiment", "operational", "kill-switch", "permission"];

const pct = (key, label) => ({ key, label, type: "number", min: 0, max: 100, def: "100" });
const group = { key: "groupId", label: "Group id", def: (flag) => flag };
// The built-in strategies and their parameters (Unleash keeps every parameter a string;
// lists are comma-separated).
export const STRATEGIES = {
  default: [],
  flexibleRollout: [pct("rollout", "Rollout %"),
    { key: "stickiness", label: "Stickiness", list: STICKINESS, def: "default",
      help: "default, userId, sessionId, random or any context field" },
    group],
  userWithId: [{ key: "userIds", label: "User ids", def: "", help: "comma-separated" }],
  gradualRolloutUserId: [pct("percentage", "Percentage"), group],
  gradualRolloutSessionId: [pct("percentage", "Percentage"), group],
  gradualRolloutRandom: [pct("percentage", "Percentage")],
  remoteAddress: [{ key: "IPs", label: "IP addresses", def: "", help: "comma-separated addresses and CIDR ranges" }],
  applicationHostname: [{ key: "hostNames", label: "Host names", def: "", help: "comma-separated" }],
};

export function defaultParameters(name, flagName, old = {}) {
  const spec = STRATEGIES[name];
  if (!spec) return {};
  const out = {};
  for (const p of spec) {
    const keep = old[p.key];
    out[p.key] = keep !== undefined ? String(keep) : typeof p.def === "function" ? p.def(flagName) : p.def;
  }
  return out;
}

export function newStrategy(flagName) {
  return { name: "flexibleRollout", parameters: defaultParameters("flexibleRollout", flagName),
    constraints: [], segments: [], variants: [], disabled: false };
}

// ------------------------------------------------------------------ the model, both ways
const copy = (v) => JSON.parse(JSON.stringify(v ?? null));

// What the API answered → the editor's model (every list present, so editors can push).
export function constraintModel(c) {
  return { contextName: c.contextName || "", operator: c.operator || "IN", values: [...(c.values || [])],
    value: c.value ?? "", inverted: !!c.inverted, caseInsensitive: !!c.caseInsensitive };
}
export function variantModel(v) {
  return { name: v.name || "", weight: v.weight ?? 0, weightType: v.weightType || "variable",
    stickiness: v.stickiness || "default", payload: v.payload ? { ...v.payload } : null,
    overrides: (v.overrides || []).map((o) => ({ contextName: o.contextName, values: [...(o.values || [])] })) };
}
export function strategyModel(s) {
  return { name: s.name, parameters: copy(s.parameters || {}), constraints: (s.constraints || []).map(constraintModel),
    segments: [...(s.segments || [])], variants: (s.variants || []).map(variantModel), disabled: !!s.disabled };
}
export function envModel(cfg) {
  cfg = cfg || {};
  return { enabled: !!cfg.enabled, strategies: (cfg.strategies || []).map(strategyModel),
    variants: (cfg.variants || []).map(variantModel) };
}

// The editor's model → the JSON the API stores (Unleash's shape; only the fields in use).
export function constraintWire(c) {
  const out = { contextName: c.contextName.trim(), operator: c.operator };
  if (SINGLE_VALUE.has(c.operator)) out.value = c.value;
  else out.values = c.values;
  out.inverted = c.inverted;
  out.caseInsensitive = c.caseInsensitive;
  return out;
}
export function variantWire(v, withOverrides = true) {
  const out = { name: v.name.trim(), weight: Number(v.weight), weightType: v.weightType, stickiness: v.stickiness || "default" };
  if (v.payload) out.payload = { type: v.payload.type, value: v.payload.value };
  if (withOverrides && v.overrides.length) out.overrides = v.overrides.map((o) => ({ contextName: o.contextName.trim(), values: o.values }));
  return out;
}
export function strategyWire(s) {
  return { name: s.name, parameters: s.parameters, constraints: s.constraints.map(constraintWire),
    segments: s.segments, variants: s.variants.map((v) => variantWire(v, false)), disabled: s.disabled };
}
export function envWire(m) {
  return { enabled: m.enabled, strategies: m.strategies.map(strategyWire), variants: m.variants.map((v) => variantWire(v)) };
}

// Unleash's rule (its admin API recomputes on every save): fixed weights are kept, the rest of
// 1000 is shared evenly among the variable variants, the first ones taking the remainder.
export function spreadWeights(variants) {
  const variable = variants.filter((v) => v.weightType !== "fix" && v.weightType !== "fixed");
  if (!variable.length) return;
  const fixed = variants.reduce((n, v) => (variable.includes(v) ? n : n + (Number(v.weight) || 0)), 0);
  const left = Math.max(0, 1000 - fixed);
  const each = Math.floor(left / variable.length);
  const rest = left % variable.length;
  variable.forEach((v, i) => { v.weight = each + (i < rest ? 1 : 0); });
}

// ------------------------------------------------------------------ inputs bound to the model
const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);

function bound(label, path, { get, set, type = "text", list, help, min, max, rows, options, readonly, cls }) {
  const id = nextId("fe");
  const helpId = help ? `${id}-help` : null;
  let input;
  if (options) {
    input = h("select", { id, "data-path": path }, options.map((o) => {
      const [v, l] = Array.isArray(o) ? o : [o, o];
      return h("option", { value: v, selected: String(get()) === String(v) }, l);
    }));
    input.addEventListener("change", () => set(input.value));
  } else if (type === "textarea") {
    input = h("textarea", { id, rows: rows || 2, spellcheck: "false", class: "mono", "data-path": path });
    input.value = get();
    input.addEventListener("input", () => set(input.value));
  } else if (type === "checkbox") {
    input = h("input", { id, type: "checkbox", checked: !!get(), "data-path": path });
    input.addEventListener("change", () => set(input.checked));
    return h("div", { class: "field field-check" }, input, h("label", { for: id }, label));
  } else {
    input = h("input", { id, type, list, min, max, readonly, "data-path": path, autocomplete: "off" });
    input.value = get();
    input.addEventListener("input", () => set(input.value));
  }
  if (helpId) input.setAttribute("aria-describedby", helpId);
  return h("div", { class: `field ${cls || ""}` }, h("label", { for: id }, label), input,
    help ? h("small", { id: helpId, class: "help" }, help) : null);
}

// An ordered list: each item in a fieldset with move up/down and remove.
function listEditor({ items, path, noun, render, create, addLabel, reorder = true, onChange = () => {} }) {
  const box = h("div", { class: "fe-list", "data-path": path });
  const redraw = () => {
    clear(box);
    items.forEach((item, i) => {
      const n = i + 1;
      const tools = h("span", { class: "fe-tools" },
        reorder ? button("↑", () => move(i, -1), { class: "icon-btn", "aria-label": `Move ${noun} ${n} up`, disabled: i === 0 }) : null,
        reorder ? button("↓", () => move(i, 1), { class: "icon-btn", "aria-label": `Move ${noun} ${n} down`, disabled: i === items.length - 1 }) : null,
        button("Remove", () => { items.splice(i, 1); changed(); }, { class: "link danger", "aria-label": `Remove ${noun} ${n}` }));
      box.append(h("fieldset", { class: "fe-item", "data-path": `${path}[${i}]` },
        h("legend", {}, `${noun[0].toUpperCase()}${noun.slice(1)} ${n}`), tools, render(item, i, `${path}[${i}]`)));
    });
    box.append(button(addLabel, () => { items.push(create()); changed(); const last = box.querySelectorAll(":scope > fieldset"); focusFirst(last[last.length - 1]); }, { class: "fe-add" }));
  };
  const move = (i, d) => {
    const j = i + d;
    [items[i], items[j]] = [items[j], items[i]];
    changed();
    const btn = box.querySelector(`:scope > fieldset:nth-of-type(${j + 1}) button[aria-label='Move ${noun} ${j + 1} ${d < 0 ? "up" : "down"}']`);
    if (btn && !btn.disabled) btn.focus();
  };
  const changed = () => { onChange(); redraw(); };
  redraw();
  return box;
}

function focusFirst(el) {
  const f = el && el.querySelector("input, select, textarea");
  if (f) f.focus();
}

// ------------------------------------------------------------------ constraints
export function constraintsEditor(constraints, path, { datalist }) {
  return listEditor({
    items: constraints, path, noun: "constraint", addLabel: "Add constraint",
    create: () => constraintModel({ contextName: "", operator: "IN" }),
    render: (c, i, p) => {
      const valueBox = h("div", { class: "fe-value" });
      const drawValue = () => fill(valueBox, SINGLE_VALUE.has(c.operator)
        ? bound("Value", `${p}.value`, { get: () => c.value, set: (v) => { c.value = v; } })
        : bound("Values (one per line)", `${p}.values`, { type: "textarea", get: () => c.values.join("\n"), set: (v) => { c.values = lines(v); } }));
      drawValue();
      return h("div", { class: "fe-row" },
        bound("Context field", `${p}.contextName`, { list: datalist, get: () => c.contextName, set: (v) => { c.contextName = v; } }),
        bound("Operator", `${p}.operator`, { options: OPERATORS.includes(c.operator) ? OPERATORS : [c.operator, ...OPERATORS],
          get: () => c.operator, set: (v) => { c.operator = v; drawValue(); } }),
        valueBox,
        h("div", { class: "fe-checks" },
          bound("Inverted (NOT)", `${p}.inverted`, { type: "checkbox", get: () => c.inverted, set: (v) => { c.inverted = v; } }),
          bound("Case insensitive", `${p}.caseInsensitive`, { type: "checkbox", get: () => c.caseInsensitive, set: (v) => { c.caseInsensitive = v; } })));
    },
  });
}

// ------------------------------------------------------------------ variants
export function variantsEditor(variants, path, { overrides = true, datalist, noun = "variant" }) {
  let list;
  const respread = () => {
    spreadWeights(variants);
    for (const [i, v] of variants.entries()) {
      const w = list && list.querySelector(`[data-path='${path}[${i}].weight']`);
      if (w) w.value = v.weight;
    }
  };
  list = listEditor({
    items: variants, path, noun, addLabel: overrides ? "Add variant" : "Add strategy variant",
    create: () => variantModel({ name: "", weight: 0, weightType: "variable" }),
    onChange: () => spreadWeights(variants),
    render: (v, i, p) => {
      const fixed = () => v.weightType === "fix" || v.weightType === "fixed";
      const payloadBox = h("div", { class: "fe-payload" });
      const drawPayload = () => fill(payloadBox, v.payload
        ? bound("Payload", `${p}.payload.value`, { type: "textarea", get: () => v.payload.value, set: (x) => { v.payload.value = x; } })
        : null);
      drawPayload();
      const weight = bound("Weight (of 1000)", `${p}.weight`, { type: "number", min: 0, max: 1000, readonly: !fixed(),
        help: fixed() ? "fixed" : "variable: the rest of 1000, shared", get: () => v.weight, set: (x) => { v.weight = x === "" ? 0 : Number(x); respread(); } });
      const typeField = bound("Weight type", `${p}.weightType`, { options: [["variable", "variable"], ["fix", "fixed"]],
        get: () => (fixed() ? "fix" : "variable"),
        set: (x) => {
          v.weightType = x;
          const input = weight.querySelector("input");
          input.readOnly = x !== "fix";
          weight.querySelector(".help").textContent = x === "fix" ? "fixed" : "variable: the rest of 1000, shared";
          respread();
        } });
      return h("div", {},
        h("div", { class: "fe-row" },
          bound("Name", `${p}.name`, { get: () => v.name, set: (x) => { v.name = x; } }),
          weight, typeField,
          bound("Stickiness", `${p}.stickiness`, { list: `${datalist}-stickiness`, get: () => v.stickiness, set: (x) => { v.stickiness = x; } }),
          bound("Payload type", `${p}.payload.type`, { options: [["", "none"], ...PAYLOAD_TYPES],
            get: () => (v.payload ? v.payload.type : ""),
            set: (x) => { v.payload = x ? { type: x, value: v.payload ? v.payload.value : "" } : null; drawPayload(); } })),
        payloadBox,
        overrides ? h("div", { class: "fe-sub" }, h("h4", {}, "Overrides"),
          listEditor({ items: v.overrides, path: `${p}.overrides`, noun: "override", addLabel: "Add override", reorder: false,
            create: () => ({ contextName: "userId", values: [] }),
            render: (o, j, op) => h("div", { class: "fe-row" },
              bound("Context field", `${op}.contextName`, { list: datalist, get: () => o.contextName, set: (x) => { o.contextName = x; } }),
              bound("Values (one per line)", `${op}.values`, { type: "textarea", get: () => o.values.join("\n"), set: (x) => { o.values = lines(x); } })) })) : null);
    },
  });
  return list;
}

// ------------------------------------------------------------------ strategies
export function strategiesEditor(strategies, path, { flagName, segments, datalist }) {
  return listEditor({
    items: strategies, path, noun: "strategy", addLabel: "Add strategy",
    create: () => strategyModel(newStrategy(flagName)),
    render: (s, i, p) => {
      const params = h("div", { class: "fe-row fe-params" });
      const drawParams = () => {
        const spec = STRATEGIES[s.name];
        if (!spec) {
          // A custom strategy: its parameters as JSON (Unleash's SDKs need its code to use it).
          const f = bound("Parameters (JSON object)", `${p}.parameters`, { type: "textarea", rows: 3,
            get: () => JSON.stringify(s.parameters, null, 1),
            set: (x) => {
              try {
                s.parameters = JSON.parse(x || "{}");
                f.querySelector("textarea").removeAttribute("aria-invalid");
              } catch {
                f.querySelector("textarea").setAttribute("aria-invalid", "true");
              }
            } });
          return fill(params, f);
        }
        fill(params, spec.length ? spec.map((q) => bound(q.label, `${p}.parameters.${q.key}`, {
          type: q.type, min: q.min, max: q.max, help: q.help, list: q.list ? `${datalist}-stickiness` : undefined,
          get: () => s.parameters[q.key] ?? "", set: (x) => { s.parameters[q.key] = String(x); } }))
          : h("p", { class: "muted" }, "On for everyone the constraints and segments let through."));
      };
      drawParams();
      const names = Object.keys(STRATEGIES);
      return h("div", {},
        h("div", { class: "fe-row" },
          bound("Strategy", `${p}.name`, { options: names.includes(s.name) ? names : [s.name, ...names],
            get: () => s.name, set: (x) => { s.parameters = defaultParameters(x, flagName, s.parameters); s.name = x; drawParams(); } }),
          bound("Disabled (skipped)", `${p}.disabled`, { type: "checkbox", get: () => s.disabled, set: (x) => { s.disabled = x; } })),
        params,
        h("div", { class: "fe-sub" }, h("h4", {}, "Constraints"), constraintsEditor(s.constraints, `${p}.constraints`, { datalist })),
        h("div", { class: "fe-sub" }, h("h4", {}, "Segments"), segmentsPicker(s, `${p}.segments`, segments)),
        h("div", { class: "fe-sub" }, h("h4", {}, "Strategy variants"),
          variantsEditor(s.variants, `${p}.variants`, { overrides: false, datalist, noun: "strategy variant" })));
    },
  });
}

function segmentsPicker(s, path, segments) {
  const known = new Map(segments.map((g) => [g.id, g]));
  const ids = [...segments.map((g) => g.id), ...s.segments.filter((id) => !known.has(id))];
  if (!ids.length) return h("p", { class: "muted", "data-path": path }, "No segments yet: create them in the Segments view.");
  return h("fieldset", { class: "checks", "data-path": path }, h("legend", { class: "visually-hidden" }, "Segments"),
    ids.map((id) => {
      const cid = nextId("seg");
      const g = known.get(id);
      const box = h("input", { type: "checkbox", id: cid, checked: s.segments.includes(id), value: id });
      box.addEventListener("change", () => {
        const chosen = new Set(s.segments);
        if (box.checked) chosen.add(id);
        else chosen.delete(id);
        // Kept in the order the segments are listed, so the same choice saves the same way.
        s.segments = ids.filter((x) => chosen.has(x));
      });
      return h("span", { class: "check" }, box, h("label", { for: cid }, g ? `${g.name} (#${id})` : `#${id} (missing)`));
    }));
}

// ------------------------------------------------------------------ dependencies
export function dependenciesEditor(deps, path, { flagNames }) {
  return listEditor({
    items: deps, path, noun: "dependency", addLabel: "Add dependency", reorder: false,
    create: () => ({ feature: flagNames[0] || "", enabled: true, variants: [] }),
    render: (d, i, p) => h("div", { class: "fe-row" },
      bound("Parent flag", `${p}.feature`, { options: flagNames.includes(d.feature) ? flagNames : [d.feature, ...flagNames],
        get: () => d.feature, set: (x) => { d.feature = x; } }),
      bound("Parent must be", `${p}.enabled`, { options: [["true", "enabled"], ["false", "disabled"]],
        get: () => String(d.enabled), set: (x) => { d.enabled = x === "true"; } }),
      bound("With variant (one per line, optional)", `${p}.variants`, { type: "textarea",
        get: () => d.variants.join("\n"), set: (x) => { d.variants = lines(x); } })),
  });
}

// Datalists the editors' free-text fields suggest from (context fields, stickiness).
export function datalists(id, extraContext = []) {
  return [
    h("datalist", { id }, [...CONTEXT_FIELDS, ...extraContext].map((f) => h("option", { value: f }))),
    h("datalist", { id: `${id}-stickiness` }, STICKINESS.map((f) => h("option", { value: f }))),
  ];
}

// ------------------------------------------------------------------ errors next to fields
// The API's paths for one environment come as `$.strategies[0]…` (the body) or
// `$.environments.ENV.strategies[0]…` (the whole flag checked): both name the same field.
export function placeErrors(root, problem, normalize = (p) => p) {
  for (const n of root.querySelectorAll(".field-error")) n.remove();
  for (const n of root.querySelectorAll("[aria-invalid]")) n.removeAttribute("aria-invalid");
  const targets = [...root.querySelectorAll("[data-path]")];
  let first = null;
  for (const e of (problem && problem.errors) || []) {
    const path = normalize(e.path || "");
    let best = null;
    for (const t of targets) {
      const dp = t.dataset.path;
      if (path.startsWith(dp) && [undefined, ".", "["].includes(path[dp.length]) && (!best || dp.length > best.dataset.path.length)) best = t;
    }
    if (!best) continue;
    const msg = h("small", { class: "field-error", id: nextId("err") }, e.message || "invalid");
    if (/^(INPUT|SELECT|TEXTAREA)$/.test(best.tagName)) {
      best.setAttribute("aria-invalid", "true");
      best.setAttribute("aria-describedby", `${best.getAttribute("aria-describedby") || ""} ${msg.id}`.trim());
      (best.closest(".field") || best.parentElement).append(msg);
      first = first || best;
    } else {
      const legend = best.querySelector(":scope > legend");
      if (legend) legend.after(msg);
      else best.prepend(msg);
      first = first || best;
    }
  }
  return first;
}
