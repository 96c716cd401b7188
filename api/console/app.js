// The console shell: sign-in, the API wrapper (problem+json → the alert region), the
// text/event-stream reader, and a hash router over the panels.
import * as auth from "./auth.js";
import { h, clear, fill, showProblem, showError, notify } from "./ui.js";
import users from "./panels/users.js";
import roles from "./panels/roles.js";
import flags from "./panels/flags.js";
import config from "./panels/config.js";
import metrics from "./panels/metrics.js";
import analytics from "./panels/analytics.js";
import rooms from "./panels/rooms.js";
import commands from "./panels/commands.js";
import ratelimits from "./panels/ratelimits.js";
import catalog from "./panels/catalog.js";

const PANELS = [users, roles, flags, config, metrics, analytics, rooms, commands, ratelimits, catalog];

export class ApiError extends Error {
  constructor(problem, status) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.problem = problem;
    this.status = status;
  }
}

async function problemOf(resp) {
  const type = resp.headers.get("Content-Type") || "";
  let body = null;
  try {
    body = type.includes("json") ? await resp.json() : await resp.text();
  } catch {
    body = null;
  }
  if (body && typeof body === "object") {
    if (body.title || body.detail) return { ...body, status: body.status || resp.status };
    if (body.error) return { title: body.error, detail: body.error_description || "", status: resp.status };
  }
  return { title: resp.statusText || "Request failed", status: resp.status,
    detail: typeof body === "string" && body ? body.slice(0, 300) : `HTTP ${resp.status}` };
}

// api(method, path, {query, json, body, headers, as: "json"|"text"|"blob"|"response", quiet})
export async function api(method, path, opts = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(opts.query || {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
    else url.searchParams.set(k, v);
  }
  const send = async () => {
    const headers = { Accept: "application/json, application/problem+json;q=0.9, */*;q=0.5", ...(opts.headers || {}) };
    headers.Authorization = `Bearer ${await auth.accessToken()}`;
    let body = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers["Content-Type"] = "application/json";
    }
    return fetch(url, { method, headers, body, signal: opts.signal });
  };
  let resp;
  try {
    resp = await send();
    if (resp.status === 401) {
      await auth.refresh();
      resp = await send();
    }
  } catch (e) {
    if (e.name === "AbortError") throw e;
    const problem = e.problem || { title: "Network error", detail: e.message || String(e) };
    if (!opts.quiet) showProblem(problem);
    throw new ApiError(problem, 0);
  }
  if (opts.as === "response") return resp;
  if (!resp.ok) {
    const problem = await problemOf(resp);
    if (!opts.quiet) showProblem(problem);
    throw new ApiError(problem, resp.status);
  }
  if (resp.status === 204 || opts.as === "none") return null;
  if (opts.as === "text") return resp.text();
  if (opts.as === "blob") return resp.blob();
  const type = resp.headers.get("Content-Type") || "";
  return type.includes("json") ? resp.json() : resp.text();
}

// Server-Sent Events over fetch (EventSource cannot send a bearer token): reconnects with
// Last-Event-ID. Returns {close()}; onState("live"|"reconnecting"|"closed").
export function eventStream(path, { onEvent, onState = () => {} }) {
  let lastId = null;
  let closed = false;
  let ctrl = null;
  let retry = 1000;
  const run = async () => {
    while (!closed) {
      ctrl = new AbortController();
      try {
        const headers = { Accept: "text/event-stream", Authorization: `Bearer ${await auth.accessToken()}` };
        if (lastId !== null) headers["Last-Event-ID"] = lastId;
        const resp = await fetch(path, { headers, signal: ctrl.signal });
        if (resp.status === 401) {
          await auth.refresh();
          continue;
        }
        if (!resp.ok || !resp.body) throw new Error(`stream answered ${resp.status}`);
        onState("live");
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value.replace(/\r\n?/g, "\n");
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = { event: "message", data: [], id: null };
            for (const line of block.split("\n")) {
              if (!line || line.startsWith(":")) continue;
              const c = line.indexOf(":");
              const k = c < 0 ? line : line.slice(0, c);
              const v = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
              if (k === "data") ev.data.push(v);
              else if (k === "event") ev.event = v;
              else if (k === "id") ev.id = v;
              else if (k === "retry" && /^\d+$/.test(v)) retry = Number(v);
            }
            if (ev.id !== null) lastId = ev.id;
            if (ev.data.length) {
              let data = ev.data.join("\n");
              try {
                data = JSON.parse(data);
              } catch {
                /* plain text */
              }
              onEvent(ev.event, data, ev.id);
            }
          }
        }
      } catch (e) {
        if (closed) break;
      }
      if (closed) break;
      onState("reconnecting");
      await new Promise((r) => setTimeout(r, retry));
    }
    onState("closed");
  };
  run();
  return {
    close() {
      closed = true;
      if (ctrl) ctrl.abort();
    },
  };
}

// Runs a user action: success message on success; errors are already shown by api().
export async function act(successText, fn) {
  try {
    const result = await fn();
    if (successText) notify(typeof successText === "function" ? successText(result) : successText);
    return result;
  } catch (e) {
    if (!(e instanceof ApiError)) showError(e);
    throw e;
  }
}

// ------------------------------------------------------------------ shell
const main = () => document.getElementById("main");
let current = null;

function navigate() {
  const id = (location.hash.replace(/^#\/?/, "").split("?")[0]) || "users";
  const panel = PANELS.find((p) => p.id === id) || PANELS[0];
  if (current && current.cleanup) {
    try {
      current.cleanup();
    } catch {
      /* ignore */
    }
  }
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.panel === panel.id) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.body.classList.remove("nav-open");
  clear(document.getElementById("status"));
  document.getElementById("menu-btn").setAttribute("aria-expanded", "false");
  document.title = `${panel.title} · Hearth console`;
  const root = clear(main());
  root.className = `panel panel-${panel.id}`;
  const heading = h("h1", { tabindex: "-1" }, panel.title);
  root.append(h("header", { class: "panel-head" }, heading, panel.blurb ? h("p", { class: "muted" }, panel.blurb) : null));
  const body = h("div", { class: "panel-body" });
  root.append(body);
  const ctx = { api, act, eventStream, notify, token: auth.accessToken, navigate: (hash) => (location.hash = hash) };
  current = { cleanup: null };
  try {
    const r = panel.render(body, ctx);
    current.cleanup = (r && r.cleanup) || null;
    if (r && typeof r.then === "function") r.then((x) => (current.cleanup = (x && x.cleanup) || null), showError);
  } catch (e) {
    showError(e);
  }
  heading.focus({ preventScroll: true });
}

function buildNav() {
  const nav = document.getElementById("nav");
  clear(nav);
  nav.append(h("ul", {}, PANELS.map((p) =>
    h("li", {}, h("a", { href: `#/${p.id}`, "data-panel": p.id }, p.title)))));
}

async function showUser() {
  const slot = document.getElementById("user");
  try {
    const info = await api("GET", "/oauth/userinfo", { quiet: true });
    fill(slot, h("span", { class: "user-name", title: info.email || "" }, info.name || info.email || info.sub));
  } catch {
    fill(slot, h("span", { class: "user-name" }, "signed in"));
  }
  slot.append(h("button", { type: "button", id: "signout", onclick: async () => {
    await auth.signOut();
    signedOutScreen("You are signed out.");
  } }, "Sign out"));
}

function signedOutScreen(text) {
  document.body.classList.add("signed-out");
  clear(document.getElementById("user"));
  const root = clear(main());
  root.className = "panel signin";
  const btn = h("button", { type: "button", class: "primary", id: "signin", onclick: () => auth.beginLogin() }, "Sign in");
  root.append(h("div", { class: "card signin-card" }, h("h1", { tabindex: "-1" }, "Hearth console"), h("p", {}, text), btn));
  btn.focus();
}

async function boot() {
  document.getElementById("menu-btn").addEventListener("click", (ev) => {
    const open = document.body.classList.toggle("nav-open");
    ev.currentTarget.setAttribute("aria-expanded", String(open));
  });
  auth.setExpiredHandler(() => signedOutScreen("Your session ended. Sign in again to continue."));
  if (location.pathname.endsWith("/console/callback")) {
    try {
      const back = await auth.finishLogin();
      history.replaceState(null, "", `/console/${back}`);
    } catch (e) {
      history.replaceState(null, "", "/console/");
      signedOutScreen("Sign-in did not complete.");
      showError(e);
      return;
    }
  }
  if (!auth.signedIn()) {
    if (sessionStorage.getItem("hearth.console.visited")) return signedOutScreen("Sign in to manage Hearth Core Services.");
    sessionStorage.setItem("hearth.console.visited", "1");
    return auth.beginLogin();
  }
  document.body.classList.remove("signed-out");
  auth.start();
  buildNav();
  showUser();
  window.addEventListener("hashchange", navigate);
  navigate();
}

window.addEventListener("unhandledrejection", (ev) => {
  if (ev.reason instanceof ApiError) return; // already shown
  showError(ev.reason);
});
boot();
