import { h, clear, fill, table, pager, toolbar, button, badge, fmtDate, formDialog, confirmDialog, field, readForm, readFileText } from "../ui.js";

const STATUS_KIND = { active: "ok", inactive: "warn", erased: "err" };

export default {
  id: "users",
  title: "User Management",
  blurb: "People who sign in: profiles, roles and status.",
  render(root, { api, act }) {
    const state = { page: 1, limit: 25, filters: {} };
    const filterFields = [
      { name: "email", label: "Email (exact)", type: "search" },
      { name: "q", label: "Name starts with", type: "search" },
      { name: "role", label: "Role", type: "search" },
      { name: "status", label: "Status", type: "select", options: [["", "Any"], "active", "inactive", "erased"] },
      { name: "sort", label: "Sort", type: "select", options: [["-created_at", "Newest first"], ["created_at", "Oldest first"], ["-last_login", "Last login"], ["status", "Status"]] },
    ];
    const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter users" },
      filterFields.map(field), h("button", { type: "submit" }, "Apply"),
      h("button", { type: "reset" }, "Clear"));
    filters.addEventListener("submit", (e) => {
      e.preventDefault();
      state.filters = readForm(filters, filterFields);
      state.page = 1;
      load();
    });
    filters.addEventListener("reset", () => setTimeout(() => { state.filters = {}; state.page = 1; load(); }));
    const list = h("div", { "aria-live": "polite" });
    root.append(toolbar(
      button("Create user", () => editUser(null), { class: "primary" }),
      button("Bulk import", importDialog),
      button("Refresh", () => load()),
    ), filters, list);

    async function load() {
      const res = await api("GET", "/v1/users", { query: { ...state.filters, page: state.page, limit: state.limit } });
      fill(list, 
        table({
          caption: `${res.total} user${res.total === 1 ? "" : "s"}`,
          rows: res.items,
          empty: "No users match these filters.",
          columns: [
            { label: "Email", render: (u) => u.email ?? h("em", { class: "muted" }, "erased") },
            { label: "Name", key: "display_name" },
            { label: "Roles", render: (u) => (u.roles.length ? u.roles.map((r) => badge(r)) : "—") },
            { label: "Status", render: (u) => badge(u.status, STATUS_KIND[u.status]) },
            { label: "Last login", render: (u) => fmtDate(u.last_login) },
            { label: "Created", render: (u) => fmtDate(u.created_at) },
            { label: "Actions", class: "actions", render: (u) => [
              button("Edit", () => editUser(u), { class: "link", "aria-label": `Edit ${u.email || u.user_id}` }),
              button("Delete", () => deleteUser(u), { class: "link danger", "aria-label": `Delete ${u.email || u.user_id}` }),
            ] },
          ],
        }),
        pager({ page: res.page, limit: res.limit, total: res.total, onPage: (p) => { state.page = p; load(); } }),
      );
    }

    function editUser(u) {
      const fields = [
        { name: "email", label: "Email", type: "email", required: !u, value: u ? u.email : "" },
        { name: "display_name", label: "Display name", value: u ? u.display_name : "" },
        { name: "password", label: u ? "New password (leave empty to keep)" : "Password", type: "password", autocomplete: "new-password", help: "At least 8 characters." },
        { name: "roles", label: "Roles", value: u ? u.roles.join(", ") : "", help: "Comma-separated role names." },
        { name: "status", label: "Status", type: "select", value: u ? u.status : "active", options: ["active", "inactive"] },
        { name: "attributes", label: "Attributes (JSON object)", type: "json", value: u ? u.attributes : {}, rows: 3 },
      ];
      formDialog({
        title: u ? `Edit ${u.email || u.user_id}` : "Create user",
        fields,
        submitLabel: u ? "Save" : "Create",
        onSubmit: async (v) => {
          const body = {
            email: v.email || undefined,
            display_name: v.display_name || null,
            roles: v.roles.split(/[,\s;]+/).filter(Boolean),
            status: v.status,
            attributes: v.attributes || {},
          };
          if (v.password) body.password = v.password;
          if (u) {
            if (body.email === u.email) delete body.email;
            await act("User saved", () => api("PUT", `/v1/users/${u.user_id}`, { json: body }));
          } else {
            await act((r) => `User ${r.email} created`, () => api("POST", "/v1/users", { json: body }));
          }
          load();
        },
      });
    }

    async function deleteUser(u) {
      const answer = await confirmDialog(
        `Deactivate ${u.email || u.user_id}? They can no longer sign in and their tokens stop working at once.`,
        { confirmLabel: "Deactivate", fields: [{ name: "erase", label: "Also erase personal data (right to be forgotten)", type: "checkbox" }] });
      if (!answer) return;
      await act(answer.erase ? "User erased" : "User deactivated",
        () => api("DELETE", `/v1/users/${u.user_id}`, { query: { erase: answer.erase ? "true" : undefined } }));
      load();
    }

    function importDialog() {
      const results = h("div");
      formDialog({
        title: "Bulk import users",
        wide: true,
        submitLabel: "Import",
        extra: results,
        fields: [
          { name: "file", label: "CSV or YAML file", type: "file", accept: ".csv,.yaml,.yml,text/csv,application/yaml" },
          { name: "text", label: "…or paste it here", type: "textarea", rows: 5, placeholder: "email,display_name,roles\nada@example.com,Ada,admin" },
          { name: "format", label: "Format", type: "select", options: [["auto", "From the file name (else CSV)"], ["csv", "CSV"], ["yaml", "YAML"]] },
          { name: "mode", label: "Mode", type: "select", options: [["partial", "Partial: keep the good rows"], ["all_or_nothing", "All or nothing"]] },
          { name: "on_conflict", label: "Existing email", type: "select", options: [["update", "Update the user"], ["skip", "Skip the row"]] },
          { name: "dry_run", label: "Dry run (check only, write nothing)", type: "checkbox" },
        ],
        onSubmit: async (v) => {
          const text = v.file ? await readFileText(v.file) : v.text;
          if (!text.trim()) throw Object.assign(new Error("Choose a file or paste rows"), { problem: { title: "Nothing to import", detail: "Choose a file or paste rows." } });
          let fmt = v.format;
          if (fmt === "auto") fmt = v.file && /\.ya?ml$/i.test(v.file.name) ? "yaml" : "csv";
          const res = await act(
            (r) => `Import ${r.committed ? "committed" : "not committed"}: ${r.created} created, ${r.updated} updated, ${r.skipped} skipped, ${r.errors} errors`,
            () => api("POST", "/v1/users/import", {
              query: { mode: v.mode, on_conflict: v.on_conflict, dry_run: v.dry_run ? "true" : undefined },
              body: text,
              headers: { "Content-Type": fmt === "yaml" ? "application/yaml" : "text/csv" },
            }));
          fill(results, 
            h("h3", {}, `Results: ${res.created} created, ${res.updated} updated, ${res.skipped} skipped, ${res.errors} errors${res.dry_run ? " (dry run)" : ""}`),
            table({
              rows: res.rows,
              empty: "No rows.",
              columns: [
                { label: "Row", key: "row", class: "num" },
                { label: "Result", render: (r) => badge(r.status, r.status === "error" ? "err" : r.status === "skipped" ? "warn" : "ok") },
                { label: "User", render: (r) => (r.user_id ? h("code", {}, r.user_id) : "—") },
                { label: "Problem", render: (r) => r.error || "" },
              ],
            }));
          load();
          return false; // keep the dialog open to show the per-row results
        },
      });
    }

    load().catch(() => {});
    return { cleanup() {} };
  },
};
