import { h, clear, fill, table, toolbar, button, badge, fmtDate, formDialog, confirmDialog, section, field, readForm, dl } from "../ui.js";

const path = (service, key) => `/v1/ratelimits/${encodeURIComponent(service)}/${encodeURIComponent(key)}`;

export default {
  id: "ratelimits",
  title: "Rate Limits",
  blurb: "Token-bucket policies per service and key (“*” is a service's default). Service “api” limits this API itself.",
  render(root, { api, act }) {
    const list = h("div");
    const checkFields = [
      { name: "service", label: "Service", required: true },
      { name: "key", label: "Key", required: true, help: "Falls back to the service's “*” policy." },
      { name: "cost", label: "Cost", type: "number", min: 1, value: 1, required: true },
    ];
    const checkForm = h("form", { class: "inline-form", "aria-label": "Live check" }, checkFields.map(field),
      h("button", { type: "submit", class: "primary" }, "Check (spend)"),
      h("button", { type: "button", onclick: () => peek() }, "Peek"));
    const result = h("div", { id: "check-result", "aria-live": "polite" }, h("p", { class: "muted" }, "Run a check to spend tokens from a bucket, or peek at it."));
    root.append(toolbar(
      button("Add policy", () => editPolicy(null), { class: "primary" }),
      button("Refresh", () => load()),
    ), list, section("Live check", checkForm, result));

    async function load() {
      const res = await api("GET", "/v1/ratelimits");
      fill(list, table({
        caption: `${res.total} polic${res.total === 1 ? "y" : "ies"}`,
        rows: res.items,
        empty: "No policies: nothing is limited.",
        columns: [
          { label: "Service", render: (p) => h("strong", {}, p.service) },
          { label: "Key", render: (p) => h("code", {}, p.key) },
          { label: "Limit", class: "num", render: (p) => `${p.limit} / ${p.window_sec}s` },
          { label: "Burst", class: "num", render: (p) => (p.burst == null ? "—" : String(p.burst)) },
          { label: "Fail mode", render: (p) => badge(p.fail_mode, p.fail_mode === "open" ? "ok" : "warn") },
          { label: "Updated", render: (p) => fmtDate(p.updated_at) },
          { label: "Actions", class: "actions", render: (p) => [
            button("Check", () => { checkForm.elements.service.value = p.service; checkForm.elements.key.value = p.key === "*" ? "someone" : p.key; checkForm.elements.key.focus(); }, { class: "link", "aria-label": `Check ${p.service}/${p.key}` }),
            button("Edit", () => editPolicy(p), { class: "link", "aria-label": `Edit ${p.service}/${p.key}` }),
            button("Delete", () => remove(p), { class: "link danger", "aria-label": `Delete ${p.service}/${p.key}` }),
          ] },
        ],
      }));
    }

    function editPolicy(p) {
      formDialog({
        title: p ? `Edit ${p.service}/${p.key}` : "Add policy",
        fields: [
          ...(p ? [] : [
            { name: "service", label: "Service", required: true, help: "e.g. checkout, or api to limit this API" },
            { name: "key", label: "Key", required: true, value: "*", help: "An exact key, or * for the service's default" },
          ]),
          { name: "limit", label: "Tokens per window", type: "number", min: 1, required: true, value: p ? p.limit : 100 },
          { name: "window_sec", label: "Window (seconds)", type: "number", min: 1, required: true, value: p ? p.window_sec : 60 },
          { name: "burst", label: "Burst capacity (optional)", type: "number", min: 1, value: p && p.burst != null ? p.burst : "" },
          { name: "fail_mode", label: "When Redis is unreachable", type: "select", value: p ? p.fail_mode : "open", options: [["open", "open: limit in-process"], ["closed", "closed: refuse"]] },
        ],
        submitLabel: p ? "Save" : "Add policy",
        onSubmit: async (v) => {
          const service = p ? p.service : v.service.trim();
          const key = p ? p.key : v.key.trim();
          const body = { limit: v.limit, window_sec: v.window_sec, fail_mode: v.fail_mode };
          if (v.burst) body.burst = v.burst;
          await act(`Policy ${service}/${key} saved`, () => api("PUT", path(service, key), { json: body }));
          load();
        },
      });
    }

    async function remove(p) {
      if (!(await confirmDialog(`Delete the policy ${p.service}/${p.key}?`))) return;
      await act("Policy deleted", () => api("DELETE", path(p.service, p.key)));
      load();
    }

    checkForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = readForm(checkForm, checkFields);
      const r = await act((x) => (x.allowed ? `Allowed: ${x.remaining} left` : `Refused: retry in ${x.retry_after.toFixed(1)} s`),
        () => api("POST", `${path(v.service, v.key)}/check`, { json: { cost: v.cost || 1 } })).catch(() => null);
      if (!r) return;
      fill(result, 
        h("p", {}, r.allowed ? badge("allowed", "ok") : badge("refused", "err"), ` policy ${r.policy} via ${r.source}`),
        dl([
          ["Remaining", String(r.remaining)],
          ["Limit", `${r.limit} per ${r.window_sec}s`],
          ["Full again in", `${r.reset_after.toFixed(2)} s`],
          ["Retry after", r.allowed ? "—" : `${r.retry_after.toFixed(2)} s`],
        ]));
    });

    async function peek() {
      const v = readForm(checkForm, checkFields);
      if (!v.service || !v.key) return;
      const r = await api("GET", path(v.service, v.key)).catch(() => null);
      if (!r) return;
      fill(result, 
        h("p", {}, badge("peek", "info"), ` policy ${r.policy.service}/${r.policy.key} via ${r.bucket.source}`),
        dl([["Tokens now", String(r.bucket.tokens)], ["Limit", `${r.policy.limit} per ${r.policy.window_sec}s`], ["Full again in", `${r.bucket.reset_after.toFixed(2)} s`]]));
    }

    load().catch(() => {});
  },
};
