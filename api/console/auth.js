// Sign-in through the server's own authorization_code + PKCE (S256) flow, as the public
// client "hearth-console". Tokens live in sessionStorage (this tab only) and are refreshed
// (rotating refresh tokens) a minute before the access token expires.

export const CLIENT_ID = "hearth-console";
const SCOPES = [
  "openid", "profile", "email",
  "profile.read", "profile.write", "role.read", "role.write",
  "flag.read", "flag.write", "config.read", "config.write",
  "metrics.read", "metrics.write", "ratelimit.read", "ratelimit.write",
  "room.read", "room.write", "command.read", "command.write", "command.execute",
  "usage.read", "audit.read", "auth.admin",
];
const TOKENS = "hearth.console.tokens";
const PENDING = "hearth.console.pending";

export const redirectUri = () => `${location.origin}/console/callback`;

function b64url(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(n = 32) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

async function sha256(text) {
  const data = new TextEncoder().encode(text);
  if (crypto.subtle) return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return sha256Fallback(data); // plain http on a non-loopback host has no crypto.subtle
}

export async function beginLogin(returnTo = location.hash || "#/users") {
  const verifier = randomString(48);
  const state = randomString(16);
  const nonce = randomString(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce, returnTo }));
  const params = new URLSearchParams({
    client_id: CLIENT_ID,
    redirect_uri: redirectUri(),
    response_type: "code",
    scope: SCOPES.join(" "),
    state,
    nonce,
    code_challenge: b64url(await sha256(verifier)),
    code_challenge_method: "S256",
  });
  location.assign(`/oauth/authorize?${params}`);
}

class AuthError extends Error {
  constructor(detail, title = "Sign-in failed") {
    super(detail);
    this.problem = { title, detail };
  }
}

async function tokenRequest(form) {
  const resp = await fetch("/oauth/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({ client_id: CLIENT_ID, ...form }),
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    throw new AuthError(body.error_description || body.error || `token endpoint answered ${resp.status}`);
  }
  return body;
}

function store(body) {
  const tokens = {
    access_token: body.access_token,
    refresh_token: body.refresh_token || (tokens_() || {}).refresh_token,
    id_token: body.id_token,
    scope: body.scope,
    expires_at: Date.now() + (body.expires_in || 900) * 1000,
  };
  sessionStorage.setItem(TOKENS, JSON.stringify(tokens));
  schedule();
  return tokens;
}

function tokens_() {
  try {
    return JSON.parse(sessionStorage.getItem(TOKENS) || "null");
  } catch {
    return null;
  }
}

export const signedIn = () => !!tokens_();
export const grantedScopes = () => new Set(((tokens_() || {}).scope || "").split(" "));

// On /console/callback: check state, exchange the code, return the hash to go back to.
export async function finishLogin() {
  const q = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  if (q.get("error")) throw new AuthError(q.get("error_description") || q.get("error"));
  if (!pending || q.get("state") !== pending.state) {
    throw new AuthError("the sign-in answer does not belong to this tab (state mismatch); sign in again");
  }
  const body = await tokenRequest({
    grant_type: "authorization_code",
    code: q.get("code") || "",
    redirect_uri: redirectUri(),
    code_verifier: pending.verifier,
  });
  if (body.id_token) {
    const claims = decodeJwt(body.id_token);
    if (claims.nonce && claims.nonce !== pending.nonce) throw new AuthError("ID token nonce mismatch");
  }
  store(body);
  return pending.returnTo || "#/users";
}

function decodeJwt(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

let refreshing = null;
let timer = null;
let onExpired = () => {};
export function setExpiredHandler(fn) {
  onExpired = fn;
}

export function refresh() {
  if (refreshing) return refreshing;
  const t = tokens_();
  if (!t || !t.refresh_token) return Promise.reject(new AuthError("session expired", "Signed out"));
  refreshing = tokenRequest({ grant_type: "refresh_token", refresh_token: t.refresh_token })
    .then(store)
    .catch((e) => {
      sessionStorage.removeItem(TOKENS);
      onExpired(e);
      throw e;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

function schedule() {
  clearTimeout(timer);
  const t = tokens_();
  if (!t || !t.refresh_token) return;
  const wait = Math.max(5000, t.expires_at - Date.now() - 60000);
  timer = setTimeout(() => refresh().catch(() => {}), wait);
}

export async function accessToken() {
  const t = tokens_();
  if (!t) throw new AuthError("not signed in", "Signed out");
  if (t.expires_at - Date.now() < 30000 && t.refresh_token) return (await refresh()).access_token;
  return t.access_token;
}

export function start() {
  schedule();
}

export async function signOut() {
  const t = tokens_();
  sessionStorage.removeItem(TOKENS);
  clearTimeout(timer);
  if (t && t.refresh_token) {
    await fetch("/oauth/revoke", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: CLIENT_ID, token: t.refresh_token }),
    }).catch(() => {});
  }
}

// SHA-256 for insecure contexts (FIPS 180-4), used only when crypto.subtle is missing.
function sha256Fallback(bytes) {
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const len = bytes.length;
  const padded = new Uint8Array(((len + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[len] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 4, len * 8);
  view.setUint32(padded.length - 8, Math.floor(len / 0x20000000));
  const W = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) W[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(W[i - 15], 7) ^ rotr(W[i - 15], 18) ^ (W[i - 15] >>> 3);
      const s1 = rotr(W[i - 2], 17) ^ rotr(W[i - 2], 19) ^ (W[i - 2] >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = H;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += hh;
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  H.forEach((v, i) => ov.setUint32(i * 4, v));
  return out;
}
