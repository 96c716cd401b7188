import { h, clear, fill, table, toolbar, button, badge, fmtDate, section, showProblem, notify, field, readForm } from "../ui.js";

const TYPES = { ndjson: "application/x-ndjson", jsonl: "application/x-ndjson", json: "application/json", csv: "text/csv" };

function sample() {
  const now = Math.floor(Date.now() / 1000);
  const lines = [];
  for (let i = 0; i < 10; i++) {
    for (const host of ["web-1", "web-2"]) {
      lines.push(JSON.stringify({ namespace: "demo", name: "cpu_usage", labels: { host }, value: Math.round((40 + 30 * Math.sin(i / 2 + (host === "web-2" ? 1 : 0))) * 10) / 10, timestamp: now - (9 - i) * 60 }));
    }
  }
  return lines.join("\n");
}

export default {
  id: "metrics",
  title: "Metrics Ingestion",
  blurb: "Send points as JSON, NDJSON or CSV (gzip too). All or nothing by default; partial mode keeps the good rows.",
  render(root, { api, act, token }) {
    const uploadFields = [
      { name: "file", label: "Metrics file (.ndjson, .json, .csv, optionally .gz)", type: "file", accept: ".ndjson,.jsonl,.json,.csv,.gz" },
      { name: "partial", label: "Partial: accept the good points, report the bad ones", type: "checkbox" },
    ];
    const progress = h("progress", { max: 100, value: 0, "aria-label": "Upload progress", class: "hidden" });
    const progressText = h("span", { class: "muted", "aria-live": "polite" });
    const uploadForm = h("form", { "aria-label": "Upload a metrics file" }, uploadFields.map(field),
      h("div", { class: "toolbar" }, h("button", { type: "submit", class: "primary" }, "Upload file"), progressText), progress);
    const batchFields = [
      { name: "body", label: "Points (NDJSON, a JSON array, or CSV)", type: "textarea", rows: 9, value: sample() },
      { name: "format", label: "Format", type: "select", options: [["ndjson", "NDJSON"], ["json", "JSON"], ["csv", "CSV"]] },
      { name: "partial", label: "Partial mode", type: "checkbox" },
    ];
    const batchForm = h("form", { "aria-label": "Send a batch" }, batchFields.map(field),
      h("div", { class: "toolbar" }, h("button", { type: "submit", class: "primary" }, "Send batch"),
        button("Fresh sample", () => { batchForm.elements.body.value = sample(); })));
    const card = h("div", { id: "last-ingest", "aria-live": "polite" }, h("p", { class: "muted" }, "Nothing sent from this page yet."));
    const recent = h("div");
    const store = h("div", { id: "store-state", "aria-live": "polite" });
    root.append(
      h("div", { class: "grid-2" },
        section("Upload a file", uploadForm),
        section("Send a batch", batchForm)),
      section("Last ingest", card),
      section("Store: write log not yet compacted into chunks (remote mode: the backend)", toolbar(button("Refresh", () => loadStore())), store),
      section("Recent batches of this client", toolbar(button("Refresh", () => loadRecent())), recent));

    function showResult(result, { status, bytes, ms, name }) {
      const ok = status < 300;
      const rejected = result.rejected_total ?? (result.errors ? result.errors.length : 0);
      fill(card, 
        h("div", { class: "stat-row" },
          h("div", { class: "stat" }, h("span", { class: "muted" }, "Status"), h("b", {}, ok ? badge("accepted", "ok") : badge(`HTTP ${status}`, "err"))),
          h("div", { class: "stat" }, h("span", { class: "muted" }, "Accepted points"), h("b", { "data-testid": "accepted" }, String(result.accepted ?? 0))),
          h("div", { class: "stat" }, h("span", { class: "muted" }, "Rejected"), h("b", {}, String(rejected))),
          h("div", { class: "stat" }, h("span", { class: "muted" }, "Size"), h("b", {}, `${(bytes / 1024).toFixed(1)} KiB`)),
          h("div", { class: "stat" }, h("span", { class: "muted" }, "Time"), h("b", {}, `${Math.round(ms)} ms`))),
        h("p", { class: "muted" }, `${name} · ${fmtDate(Date.now() / 1000)}`),
        (result.rejected && result.rejected.length) || (result.errors && result.errors.length)
          ? table({
            caption: "Rejected rows",
            rows: (result.rejected || result.errors).slice(0, 100),
            columns: [
              { label: "Row", render: (r) => (r.index !== undefined ? String(r.index) : r.path) },
              { label: "Reason", render: (r) => r.reason || r.message },
            ],
          })
          : null);
    }

    // XMLHttpRequest rather than fetch: it reports upload progress.
    async function send(body, type, { partial, gzip, name }) {
      const bearer = await token();
      const started = performance.now();
      const size = body.size ?? new Blob([body]).size;
      progress.classList.remove("hidden");
      progress.value = 0;
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", `/v1/metrics/bulk${partial ? "?partial=true" : ""}`);
        xhr.setRequestHeader("Authorization", `Bearer ${bearer}`);
        xhr.setRequestHeader("Content-Type", type);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.setRequestHeader("Idempotency-Key", crypto.randomUUID ? crypto.randomUUID() : String(Math.random()));
        if (gzip) xhr.setRequestHeader("Content-Encoding", "gzip");
        xhr.upload.addEventListener("progress", (e) => {
          if (e.lengthComputable) {
            progress.value = Math.round((e.loaded / e.total) * 100);
            progressText.textContent = `${progress.value}% of ${(e.total / 1024).toFixed(1)} KiB sent`;
          }
        });
        xhr.addEventListener("load", () => {
          progress.value = 100;
          let result = {};
          try {
            result = JSON.parse(xhr.responseText || "{}");
          } catch {
            result = { detail: xhr.responseText };
          }
          showResult(result, { status: xhr.status, bytes: size, ms: performance.now() - started, name });
          if (xhr.status >= 400) {
            progressText.textContent = "Rejected";
            showProblem({ ...result, status: result.status || xhr.status, title: result.title || "Ingest failed" });
            reject(new Error(result.detail || `HTTP ${xhr.status}`));
          } else {
            progressText.textContent = "Done";
            notify(`${result.accepted} point(s) ingested${result.rejected_total ? `, ${result.rejected_total} rejected` : ""}`);
            resolve(result);
          }
          loadRecent();
          loadStore().catch(() => {});
          setTimeout(() => loadStore().catch(() => {}), 2000);  // after the next compaction pass
        });
        xhr.addEventListener("error", () => {
          progressText.textContent = "Failed";
          showProblem({ title: "Network error", detail: "The upload did not reach the server." });
          reject(new Error("network error"));
        });
        xhr.send(body);
      });
    }

    uploadForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = readForm(uploadForm, uploadFields);
      if (!v.file) return showProblem({ title: "No file chosen", detail: "Choose a metrics file to upload." });
      const gzip = /\.gz$/i.test(v.file.name);
      const ext = v.file.name.replace(/\.gz$/i, "").split(".").pop().toLowerCase();
      const type = TYPES[ext];
      if (!type) return showProblem({ title: "Unknown format", detail: `Use .ndjson, .json or .csv files, not .${ext}.` });
      await send(v.file, type, { partial: v.partial, gzip, name: v.file.name }).catch(() => {});
    });
    batchForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = readForm(batchForm, batchFields);
      if (!v.body.trim()) return showProblem({ title: "Nothing to send", detail: "Paste some points first." });
      await send(v.body, TYPES[v.format], { partial: v.partial, name: "pasted batch" }).catch(() => {});
    });

    async function loadRecent() {
      const res = await api("GET", "/v1/metrics/ingest-status", { query: { limit: 10 } });
      fill(recent, table({
        rows: res.items,
        empty: "No batches sent by the console's client yet.",
        columns: [
          { label: "When", render: (b) => fmtDate(b.at) },
          { label: "Accepted", key: "accepted", class: "num" },
          { label: "Rejected", key: "rejected", class: "num" },
          { label: "Bytes", key: "bytes", class: "num" },
          { label: "Duration", class: "num", render: (b) => `${b.duration_ms.toFixed(1)} ms` },
        ],
      }));
    }
    loadRecent().catch(() => {});

    async function loadStore() {
      const s = await api("GET", "/v1/metrics/store");
      const stat = (label, value, id) => h("div", { class: "stat" }, h("span", { class: "muted" }, label), h("b", id ? { "data-testid": id } : {}, value));
      if (s.mode === "remote" && s.remote) {
        // Remote mode: the backend stores the samples; what waits for its acknowledgement.
        const r = s.remote;
        fill(store, h("div", { class: "stat-row" },
          stat("Store", "remote backend", "store-mode"),
          stat("Remote write URL", r.write_url, "remote-url"),
          stat("Waiting for the backend", `${r.queue_requests} request(s)`, "remote-queue"),
          stat("Queued", `${(r.queue_bytes / 1024).toFixed(1)} of ${(r.queue_limit_bytes / 1048576).toFixed(0)} MiB`)));
        return;
      }
      fill(store, h("div", { class: "stat-row" },
        stat("Samples in the log", s.log_samples.toLocaleString(), "log-samples"),
        stat("Blocks", String(s.log_blocks)),
        stat("Log size", `${(s.log_bytes / 1024).toFixed(1)} KiB`),
        stat("Compaction lag", `${s.compaction_lag_seconds.toFixed(1)} s`, "compaction-lag"),
        stat("Chunks awaiting pcodec", s.open_chunks.toLocaleString())));
    }
    loadStore().catch(() => {});
    void act;
  },
};
