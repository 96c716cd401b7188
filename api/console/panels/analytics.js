import uPlot from "../vendor/uPlot.esm.js";
import { h, clear, fill, table, field, readForm, section, badge } from "../ui.js";

const COLORS = ["#b54a22", "#1d6fd1", "#2f9e5b", "#8e44ad", "#d4a017", "#16a0a0", "#c0392b", "#5d6d7e"];
const RANGES = [["900", "Last 15 minutes"], ["3600", "Last hour"], ["21600", "Last 6 hours"], ["86400", "Last 24 hours"], ["604800", "Last 7 days"]];
const STEPS = [["", "Auto"], ["30s", "30 s"], ["1m", "1 min"], ["5m", "5 min"], ["15m", "15 min"], ["1h", "1 h"], ["1d", "1 day"]];

export default {
  id: "analytics",
  title: "Analytics",
  blurb: "Time series from /v1/metrics/query: pick a metric, a range, a step and label filters.",
  render(root, { api }) {
    let series = [];
    let chart = null;
    const fields = [
      { name: "metric", label: "Metric", type: "select", options: [] },
      { name: "range", label: "Range", type: "select", options: RANGES, value: "3600" },
      { name: "step", label: "Step", type: "select", options: STEPS },
      { name: "agg", label: "Aggregation", type: "select", options: ["avg", "sum", "min", "max", "count", "last", "rate"] },
      { name: "label", label: "Label", type: "select", options: [["", "(any)"]] },
      { name: "value", label: "Label value", type: "select", options: [["", "(any)"]] },
      { name: "group_by", label: "Group by label", type: "select", options: [["", "(each series)"]] },
    ];
    const form = h("form", { class: "filters", "aria-label": "Query" }, fields.map(field), h("button", { type: "submit", class: "primary" }, "Run query"));
    const meta = h("p", { class: "muted", "aria-live": "polite" });
    const chartBox = h("div", { class: "chart", role: "img", "aria-label": "Time-series chart" });
    const data = h("details", {}, h("summary", {}, "Data table"));
    root.append(form, section("Chart", meta, chartBox, data));

    const el = (name) => form.elements[name];
    const metricKey = (s) => `${s.namespace}\u0000${s.name}`;
    function fillSelect(sel, options, keep) {
      const cur = keep ? sel.value : "";
      fill(sel, ...options.map(([v, l]) => h("option", { value: v }, l)));
      if (options.some(([v]) => v === cur)) sel.value = cur;
    }
    function labelsOfMetric() {
      const [ns, name] = el("metric").value.split("\u0000");
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
    function refreshLabels() {
      const keys = labelsOfMetric();
      const opts = [["", "(any)"], ...[...keys.keys()].sort().map((k) => [k, k])];
      fillSelect(el("label"), opts, true);
      fillSelect(el("group_by"), [["", "(each series)"], ...opts.slice(1)], true);
      refreshValues();
    }
    function refreshValues() {
      const vals = labelsOfMetric().get(el("label").value);
      fillSelect(el("value"), [["", "(any)"], ...[...(vals || [])].sort().map((v) => [v, v])], true);
    }
    el("metric").addEventListener("change", () => { refreshLabels(); run(); });
    el("label").addEventListener("change", refreshValues);
    form.addEventListener("submit", (e) => { e.preventDefault(); run(); });

    async function loadSeries() {
      const res = await api("GET", "/v1/metrics/series", { query: { limit: 1000 } });
      series = res.items;
      const metrics = new Map();
      for (const s of series) metrics.set(metricKey(s), `${s.namespace} / ${s.name}`);
      fillSelect(el("metric"), [...metrics.entries()].sort((a, b) => a[1].localeCompare(b[1])), true);
      refreshLabels();
      if (!metrics.size) {
        fill(chartBox, h("p", { class: "empty chart-empty" }, "No metrics yet. Send some from the Metrics Ingestion panel."));
        return;
      }
      await run();
    }

    async function run() {
      const v = readForm(form, fields);
      if (!v.metric) return;
      const [namespace, name] = v.metric.split("\u0000");
      const end = Math.floor(Date.now() / 1000);
      const query = { namespace, name, start: end - Number(v.range), end, agg: v.agg, step: v.step || undefined, group_by: v.group_by || undefined };
      if (v.label && v.value) query.match = `${v.label}="${v.value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
      const res = await api("GET", "/v1/metrics/query", { query });
      draw(res, `${name} (${v.agg})`);
    }

    function draw(res, title) {
      const result = res.data.result;
      meta.textContent = "";
      meta.append(`${result.length} series · step ${res.step}s · source `, badge(res.source, "info"));
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
        for (const [t, val] of r.values) col[index.get(t)] = val;
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
