import uPlot from "../vendor/uPlot.esm.js";
import { h, clear, fill, table, field, readForm, section, badge } from "../ui.js";

const COLORS = ["#b54a22", "#1d6fd1", "#2f9e5b", "#8e44ad", "#d4a017", "#16a0a0", "#c0392b", "#5d6d7e"];
const RANGES = [["900", "Last 15 minutes"], ["3600", "Last hour"], ["21600", "Last 6 hours"], ["86400", "Last 24 hours"], ["604800", "Last 7 days"]];
const STEPS = [["", "Auto"], ["30s", "30 s"], ["1m", "1 min"], ["5m", "5 min"], ["15m", "15 min"], ["1h", "1 h"], ["1d", "1 day"]];
const NICE_STEPS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
const UNITS = { s: 1, m: 60, h: 3600, d: 86400 };
const FUNCS = [["", "(the value)"], ["rate", "rate over 5 min"], ["increase", "increase over 5 min"], ["avg_over_time", "average over 5 min"], ["max_over_time", "max over 5 min"]];
const AGGS = [["", "(each series)"], "sum", "avg", "min", "max", "count"];

// About 250 points over the range, rounded up to a readable step (as the server's default).
function autoStep(range) {
  const want = Math.max(1, range / 250);
  return NICE_STEPS.find((s) => s >= want) || Math.ceil(want / 86400) * 86400;
}
function seconds(step) {
  const m = /^(\d+)([smhd])$/.exec(step);
  return m ? Number(m[1]) * UNITS[m[2]] : Number(step);
}
const quote = (v) => `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

export default {
  id: "analytics",
  title: "Analytics",
  blurb: "PromQL over the metric store (the Prometheus query API, /api/v1/query_range): type a query, or pick a metric, labels and an aggregation to write one.",
  render(root, { api }) {
    let series = [];
    let chart = null;
    const fields = [
      { name: "namespace", label: "Namespace", type: "select", options: [] },
      { name: "metric", label: "Metric", type: "select", options: [] },
      { name: "label", label: "Label", type: "select", options: [["", "(any)"]] },
      { name: "value", label: "Label value", type: "select", options: [["", "(any)"]] },
      { name: "fn", label: "Function", type: "select", options: FUNCS },
      { name: "agg", label: "Aggregation", type: "select", options: AGGS },
      { name: "group_by", label: "Group by label", type: "select", options: [["", "(none)"]] },
      { name: "range", label: "Range", type: "select", options: RANGES, value: "3600" },
      { name: "step", label: "Step", type: "select", options: STEPS },
    ];
    const queryField = { name: "query", label: "PromQL", type: "textarea", rows: 2, help: "Any PromQL expression; the pickers above write one for you." };
    const form = h("form", { class: "filters", "aria-label": "Query" }, fields.map(field), field(queryField), h("button", { type: "submit", class: "primary" }, "Run query"));
    const meta = h("p", { class: "muted", "aria-live": "polite" });
    const chartBox = h("div", { class: "chart", role: "img", "aria-label": "Time-series chart" });
    const data = h("details", {}, h("summary", {}, "Data table"));
    root.append(form, section("Chart", meta, chartBox, data));

    const el = (name) => form.elements[name];
    function fillSelect(sel, options, keep) {
      const cur = keep ? sel.value : "";
      fill(sel, ...options.map((o) => { const [v, l] = Array.isArray(o) ? o : [o, o]; return h("option", { value: v }, l); }));
      if (options.some((o) => (Array.isArray(o) ? o[0] : o) === cur)) sel.value = cur;
    }
    function labelsOfMetric() {
      const ns = el("namespace").value;
      const name = el("metric").value;
      const keys = new Map();
      for (const s of series) {
        if (s.namespace !== ns || s.name !== name) continue;
        for (const [k, v] of Object.entries(s.labels)) {
          if (!keys.has(k)) keys.set(k, new Set());
          keys.get(k).add(v);
        }
      }
      return keys;
    }
    function refreshMetrics() {
      const names = [...new Set(series.filter((s) => s.namespace === el("namespace").value).map((s) => s.name))].sort();
      fillSelect(el("metric"), names.map((n) => [n, n]), true);
      refreshLabels();
    }
    function refreshLabels() {
      const keys = labelsOfMetric();
      const opts = [["", "(any)"], ...[...keys.keys()].sort().map((k) => [k, k])];
      fillSelect(el("label"), opts, true);
      fillSelect(el("group_by"), [["", "(none)"], ...opts.slice(1)], true);
      refreshValues();
    }
    function refreshValues() {
      const vals = labelsOfMetric().get(el("label").value);
      fillSelect(el("value"), [["", "(any)"], ...[...(vals || [])].sort().map((v) => [v, v])], true);
    }
    // The pickers write the PromQL; the text stays editable.
    function writeQuery() {
      const v = readForm(form, fields);
      if (!v.metric) return;
      let expr = v.metric + (v.label && v.value ? `{${v.label}=${quote(v.value)}}` : "");
      if (v.fn) expr = `${v.fn}(${expr}[5m])`;
      if (v.agg) expr = `${v.agg}${v.group_by ? ` by (${v.group_by})` : ""} (${expr})`;
      el("query").value = expr;
    }
    el("namespace").addEventListener("change", () => { refreshMetrics(); writeQuery(); run(); });
    el("metric").addEventListener("change", () => { refreshLabels(); writeQuery(); run(); });
    el("label").addEventListener("change", () => { refreshValues(); writeQuery(); });
    for (const name of ["value", "fn", "agg", "group_by"]) el(name).addEventListener("change", writeQuery);
    form.addEventListener("submit", (e) => { e.preventDefault(); run(); });

    async function loadSeries() {
      const res = await api("GET", "/v1/metrics/series", { query: { limit: 1000 } });
      series = res.items;
      const namespaces = [...new Set(series.map((s) => s.namespace))].sort();
      fillSelect(el("namespace"), namespaces.map((n) => [n, n]), true);
      refreshMetrics();
      if (!series.length) {
        fill(chartBox, h("p", { class: "empty chart-empty" }, "No metrics yet. Send some from the Metrics Ingestion panel."));
        return;
      }
      writeQuery();
      await run();
    }

    async function run() {
      const v = readForm(form, [...fields, queryField]);
      const query = (v.query || "").trim();
      if (!query) return;
      const end = Math.floor(Date.now() / 1000);
      const range = Number(v.range);
      const step = v.step ? seconds(v.step) : autoStep(range);
      const resp = await api("GET", "/api/v1/query_range", {
        query: { query, start: end - range, end, step, namespace: v.namespace || undefined },
        as: "response",
        quiet: true,
      });
      let body;
      try { body = await resp.json(); } catch { body = { status: "error", error: `answered ${resp.status}` }; }
      if (body.status !== "success") {
        showError(body.errorType ? `${body.errorType}: ${body.error}` : body.error || `answered ${resp.status}`);
        return;
      }
      draw(body.data, step, query);
    }

    function showError(message) {
      if (chart) { chart.destroy(); chart = null; }
      clear(chartBox);
      meta.textContent = "";
      meta.append(badge("error", "err"), " ", h("span", { role: "alert" }, message));
    }

    function draw(res, step, title) {
      const result = res.resultType === "matrix" ? res.result : [];
      meta.textContent = "";
      meta.append(`${result.length} series · step ${step}s`);
      if (chart) { chart.destroy(); chart = null; }
      clear(chartBox);
      fill(data, h("summary", {}, "Data table"));
      if (!result.length) {
        chartBox.append(h("p", { class: "empty chart-empty" }, "No points in this range."));
        return;
      }
      const times = [...new Set(result.flatMap((r) => r.values.map((p) => p[0])))].sort((a, b) => a - b);
      const index = new Map(times.map((t, i) => [t, i]));
      const columns = [times];
      const names = [];
      for (const r of result) {
        const col = new Array(times.length).fill(null);
        for (const [t, val] of r.values) col[index.get(t)] = Number(val);
        columns.push(col);
        const labels = Object.entries(r.metric).filter(([k]) => k !== "__name__").map(([k, x]) => `${k}=${x}`).join(", ");
        names.push(labels || title);
      }
      const width = Math.max(280, chartBox.clientWidth || 800);
      chart = new uPlot({
        title,
        width,
        height: 320,
        scales: { x: { time: true } },
        series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true, points: { show: times.length < 60 } }))],
        axes: [{}, { size: 60 }],
      }, columns, chartBox);
      data.append(table({
        rows: times.map((t, i) => ({ t, vals: columns.slice(1).map((c) => c[i]) })),
        columns: [
          { label: "Time", render: (r) => new Date(r.t * 1000).toLocaleString() },
          ...names.map((n, j) => ({ label: n, class: "num", render: (r) => (r.vals[j] === null ? "—" : String(Math.round(r.vals[j] * 1000) / 1000)) })),
        ],
      }));
    }

    const onResize = () => { if (chart) chart.setSize({ width: Math.max(280, chartBox.clientWidth), height: 320 }); };
    window.addEventListener("resize", onResize);
    loadSeries().catch(() => {});
    return { cleanup: () => { window.removeEventListener("resize", onResize); if (chart) chart.destroy(); } };
  },
};
