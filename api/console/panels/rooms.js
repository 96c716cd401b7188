import { h, clear, fill, table, pager, toolbar, button, badge, fmtDate, fmtJson, formDialog, confirmDialog, section, dl, field, readForm } from "../ui.js";

const KIND = { scheduled: "info", active: "ok", ended: "warn" };

export default {
  id: "rooms",
  title: "Conference Rooms",
  blurb: "Rooms go scheduled → active (first join) → ended. Select a room to see its details and participants.",
  render(root, { api, act, eventStream }) {
    const state = { page: 1, limit: 20, status: "", sort: "-created_at", selected: null };
    const names = new Map(); // user id → email, looked up once
    let events = null;
    const actions = {
      join: button("Join", () => roomAction("join", "Joined"), { disabled: true }),
      leave: button("Leave", () => roomAction("leave", "Left"), { disabled: true }),
      end: button("End room", () => endRoom(), { disabled: true, class: "danger" }),
    };
    const filterFields = [
      { name: "status", label: "Status", type: "select", options: [["", "Any"], "scheduled", "active", "ended"] },
      { name: "sort", label: "Sort", type: "select", options: [["-created_at", "Newest first"], ["created_at", "Oldest first"], ["name", "Name A–Z"], ["-name", "Name Z–A"]] },
    ];
    const filters = h("form", { class: "filters", "aria-label": "Filter rooms" }, filterFields.map(field), h("button", { type: "submit" }, "Apply"));
    filters.addEventListener("submit", (e) => {
      e.preventDefault();
      Object.assign(state, readForm(filters, filterFields), { page: 1 });
      load();
    });
    const list = h("div");
    const detail = section("Room", h("p", { class: "muted" }, "Select a room in the list."));
    const people = section("Participants", h("p", { class: "muted" }, "—"));
    root.append(toolbar(
      button("Create room", createRoom, { class: "primary" }),
      actions.join, actions.leave, actions.end,
      button("Refresh", () => { load(); if (state.selected) select(state.selected); }),
    ), filters, list, h("div", { class: "workspace" }, detail, people));

    async function load() {
      const res = await api("GET", "/v1/conference/rooms", { query: { status: state.status || undefined, sort: state.sort, page: state.page, limit: state.limit } });
      fill(list, table({
        caption: `${res.total} room${res.total === 1 ? "" : "s"}`,
        rows: res.items,
        empty: "No rooms. Create one to get started.",
        rowAttrs: (r) => ({ "data-room": r.id, class: r.id === state.selected ? "selected" : null }),
        columns: [
          { label: "Name", render: (r) => button(r.name, () => select(r.id), { class: "link", "aria-label": `Open room ${r.name}`, "aria-pressed": String(r.id === state.selected) }) },
          { label: "ID", render: (r) => h("code", {}, r.id.slice(0, 8)) },
          { label: "Participants", key: "participants", class: "num" },
          { label: "Status", render: (r) => badge(r.status, KIND[r.status]) },
          { label: "Scheduled", render: (r) => fmtDate(r.scheduled_for) },
          { label: "Created", render: (r) => fmtDate(r.created_at) },
        ],
      }), pager({ page: res.page, limit: res.limit, total: res.total, onPage: (p) => { state.page = p; load(); } }));
    }

    async function who(id) {
      if (names.has(id)) return names.get(id);
      let label = id;
      if (/^[0-9a-f-]{36}$/i.test(id)) {
        const u = await api("GET", `/v1/users/${id}`, { quiet: true }).catch(() => null);
        if (u && u.email) label = u.email;
      }
      names.set(id, label);
      return label;
    }

    async function select(id) {
      if (state.selected !== id && events) { events.close(); events = null; }
      state.selected = id;
      const [room, parts] = await Promise.all([
        api("GET", `/v1/conference/rooms/${id}`),
        api("GET", `/v1/conference/rooms/${id}/participants`),
      ]);
      for (const tr of list.querySelectorAll("tr[data-room]")) tr.classList.toggle("selected", tr.dataset.room === id);
      actions.join.disabled = room.status === "ended";
      actions.leave.disabled = room.status === "ended";
      actions.end.disabled = room.status === "ended";
      fill(detail, h("h2", {}, room.name),
        dl([
          ["ID", h("code", {}, room.id)],
          ["Status", badge(room.status, KIND[room.status])],
          ["Participants", String(room.participants)],
          ["Created", `${fmtDate(room.created_at)} by ${room.created_by}`],
          ["Scheduled for", fmtDate(room.scheduled_for)],
          ["Started", fmtDate(room.started_at)],
          ["Ended", fmtDate(room.ended_at)],
          ["Settings", h("pre", {}, fmtJson(room.settings, 2))],
        ]),
        h("div", { class: "toolbar" },
          button("Edit", () => editRoom(room), { disabled: room.status === "ended" }),
          button("Delete", () => deleteRoom(room), { class: "danger" })));
      const rows = await Promise.all(parts.items.map(async (p) => ({ ...p, who: await who(p.user_id) })));
      fill(people, h("h2", {}, `Participants (${parts.total})`),
        rows.length
          ? h("ul", { class: "list-plain", "aria-label": "Participants" }, rows.map((p) => h("li", {}, h("span", {}, p.who), h("span", {}, badge(p.role), h("small", { class: "muted" }, ` since ${fmtDate(p.joined_at)}`)))))
          : h("p", { class: "muted" }, "Nobody is in this room."),
        room.status === "ended" ? null : addParticipantForm(room));
      if (!events && room.status !== "ended") {
        events = eventStream(`/v1/conference/rooms/${id}/events`, {
          onEvent: () => { if (state.selected === id) { select(id).catch(() => {}); load().catch(() => {}); } },
        });
      }
    }

    function addParticipantForm(room) {
      const fields = [
        { name: "email", label: "Add participant (email or user id)", required: true },
        { name: "role", label: "Role", type: "select", options: ["participant", "moderator", "viewer"] },
      ];
      const form = h("form", { class: "inline-form", "aria-label": "Add participant" }, fields.map(field), h("button", { type: "submit" }, "Add"));
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const v = readForm(form, fields);
        let userId = v.email.trim();
        await act(`${userId} added`, async () => {
          if (userId.includes("@")) {
            const found = await api("GET", "/v1/users", { query: { email: userId, limit: 1 } });
            if (!found.items.length) throw Object.assign(new Error("no such user"), { problem: { title: "Not found", status: 404, detail: `No user has the email ${userId}.` } });
            userId = found.items[0].user_id;
          }
          return api("POST", `/v1/conference/rooms/${room.id}/participants`, { json: { user_id: userId, role: v.role } });
        });
        select(room.id);
        load();
      });
      return form;
    }

    function roomForm(room) {
      return [
        { name: "name", label: "Name", required: true, value: room ? room.name : "" },
        { name: "max_participants", label: "Max participants", type: "number", min: 1, value: room ? room.settings.max_participants ?? "" : "" },
        { name: "locked", label: "Locked (nobody new can join)", type: "checkbox", value: room ? room.settings.locked : false },
        { name: "scheduled_for", label: "Scheduled for", type: "datetime-local", value: room && room.scheduled_for ? room.scheduled_for.slice(0, 16) : "" },
        { name: "settings", label: "Other settings (JSON object)", type: "json", rows: 3,
          value: room ? Object.fromEntries(Object.entries(room.settings).filter(([k]) => !["max_participants", "locked"].includes(k))) : {} },
      ];
    }
    function roomBody(v) {
      const settings = { ...(v.settings || {}) };
      if (v.max_participants) settings.max_participants = v.max_participants;
      if (v.locked) settings.locked = true;
      return { name: v.name, settings, scheduled_for: v.scheduled_for ? new Date(v.scheduled_for).toISOString() : null };
    }

    function createRoom() {
      formDialog({
        title: "Create room",
        fields: roomForm(null),
        submitLabel: "Create room",
        onSubmit: async (v) => {
          const room = await act((r) => `Room ${r.name} created`, () => api("POST", "/v1/conference/rooms", { json: roomBody(v) }));
          await load();
          select(room.id);
        },
      });
    }

    function editRoom(room) {
      formDialog({
        title: `Edit ${room.name}`,
        fields: roomForm(room),
        onSubmit: async (v) => {
          await act("Room saved", () => api("PUT", `/v1/conference/rooms/${room.id}`, { json: roomBody(v) }));
          load();
          select(room.id);
        },
      });
    }

    async function deleteRoom(room) {
      if (!(await confirmDialog(`Delete room ${room.name}? This cannot be undone.`))) return;
      await act(`Room ${room.name} deleted`, () => api("DELETE", `/v1/conference/rooms/${room.id}`));
      state.selected = null;
      if (events) { events.close(); events = null; }
      fill(detail, h("h2", {}, "Room"), h("p", { class: "muted" }, "Select a room in the list."));
      fill(people, h("h2", {}, "Participants"), h("p", { class: "muted" }, "—"));
      load();
    }

    async function roomAction(what, text) {
      if (!state.selected) return;
      await act(`${text} the room`, () => api("POST", `/v1/conference/rooms/${state.selected}/${what}`));
      load();
      select(state.selected);
    }

    async function endRoom() {
      if (!(await confirmDialog("End this room? Everyone leaves and it is kept as an archive.", { confirmLabel: "End room" }))) return;
      await roomAction("end", "Ended");
    }

    load().catch(() => {});
    return { cleanup: () => events && events.close() };
  },
};
