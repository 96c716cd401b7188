import { h, clear, fill, table, toolbar, button, badge, fmtDate, formDialog, confirmDialog, download } from "../ui.js";

const SCOPES = [
  "auth.introspect", "auth.admin", "profile.read", "profile.write", "role.read", "role.write",
  "flag.read", "flag.write", "config.read", "config.write", "metrics.read", "metrics.write",
  "ratelimit.read", "ratelimit.write", "room.read", "room.write", "command.read", "command.write",
  "command.execute", "usage.read", "audit.read",
];

export default {
  id: "roles",
  title: "Roles & Permissions",
  blurb: "A role is a description and the scopes it grants; a user's roles bound the scopes of their tokens.",
  render(root, { api, act }) {
    let roles = [];
    const list = h("div");
    root.append(toolbar(
      button("Add role", () => editRole(null), { class: "primary" }),
      button("Assign role", () => assignDialog()),
      button("Export JSON", () => exportRoles("json")),
      button("Export CSV", () => exportRoles("csv")),
      button("Refresh", () => load()),
    ), list);

    async function load() {
      const res = await api("GET", "/v1/roles");
      roles = res.items;
      fill(list, table({
        caption: `${res.total} role${res.total === 1 ? "" : "s"}`,
        rows: roles,
        empty: "No roles yet. Add one to grant scopes to users.",
        columns: [
          { label: "Role", render: (r) => h("strong", {}, r.name) },
          { label: "Description", key: "description" },
          { label: "Scopes", render: (r) => (r.scopes.length ? r.scopes.map((s) => badge(s, "info")) : "—") },
          { label: "Assigned", key: "members", class: "num" },
          { label: "Updated", render: (r) => fmtDate(r.updated_at) },
          { label: "Actions", class: "actions", render: (r) => [
            button("Assign", () => assignDialog(r.name), { class: "link", "aria-label": `Assign ${r.name}` }),
            button("Edit", () => editRole(r), { class: "link", "aria-label": `Edit ${r.name}` }),
            button("Delete", () => deleteRole(r), { class: "link danger", "aria-label": `Delete ${r.name}` }),
          ] },
        ],
      }));
    }

    function editRole(r) {
      const fields = [
        ...(r ? [] : [{ name: "name", label: "Name", required: true, help: "Letters, digits, '.', '_', '-'." }]),
        { name: "description", label: "Description", value: r ? r.description : "" },
        { name: "scopes", label: "Scopes", type: "checkboxes", options: SCOPES, value: r ? r.scopes : [] },
      ];
      formDialog({
        title: r ? `Edit role ${r.name}` : "Add role",
        wide: true,
        fields,
        submitLabel: r ? "Save" : "Add role",
        onSubmit: async (v) => {
          if (r) await act("Role saved", () => api("PUT", `/v1/roles/${encodeURIComponent(r.name)}`, { json: { description: v.description, scopes: v.scopes } }));
          else await act(`Role ${v.name} added`, () => api("POST", "/v1/roles", { json: v }));
          load();
        },
      });
    }

    async function deleteRole(r) {
      const answer = await confirmDialog(`Delete role ${r.name}?${r.members ? ` It is assigned to ${r.members} user(s).` : ""}`,
        { fields: r.members ? [{ name: "force", label: "Remove it from those users too", type: "checkbox" }] : [] });
      if (!answer) return;
      await act(`Role ${r.name} deleted`, () => api("DELETE", `/v1/roles/${encodeURIComponent(r.name)}`, { query: { force: answer.force ? "true" : undefined } }));
      load();
    }

    function assignDialog(role) {
      formDialog({
        title: "Assign a role",
        fields: [
          { name: "email", label: "User email", type: "email", required: true, help: "The user is looked up by exact email." },
          { name: "role", label: "Role", type: "select", value: role, options: roles.map((r) => r.name) },
          { name: "action", label: "Action", type: "select", options: [["assign", "Assign the role"], ["remove", "Remove the role"]] },
        ],
        submitLabel: "Apply",
        onSubmit: async (v) => {
          const found = await api("GET", "/v1/users", { query: { email: v.email, limit: 1 } });
          if (!found.items.length) {
            throw Object.assign(new Error("no such user"), { problem: { title: "Not found", status: 404, detail: `No user has the email ${v.email}.` } });
          }
          const body = { user_id: found.items[0].user_id, role: v.role };
          if (v.action === "remove") await act(`Role ${v.role} removed from ${v.email}`, () => api("DELETE", "/v1/userroles", { json: body }));
          else await act((r) => (r.added ? `Role ${v.role} assigned to ${v.email}` : `${v.email} already had ${v.role}`), () => api("POST", "/v1/userroles", { json: body }));
          load();
        },
      });
    }

    async function exportRoles(format) {
      const text = await act(`Roles exported as ${format.toUpperCase()}`, () => api("GET", "/v1/roles/export", { query: { format }, as: "text" }));
      download(`roles.${format}`, text, format === "csv" ? "text/csv" : "application/json");
    }

    load().catch(() => {});
  },
};
