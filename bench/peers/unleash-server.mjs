// Starts Unleash (npm `unleash-server`, installed by `make bench-peers` into target/peers/unleash)
// for bench/flags: bench/harness/unleash.py runs `node bench/peers/unleash-server.mjs` with
//   UNLEASH_DIR       the directory holding node_modules/unleash-server
//   UNLEASH_PORT      the port to listen on (127.0.0.1)
//   DATABASE_URL      a PostgreSQL database of its own (Unleash migrates it at start)
//   INIT_ADMIN_API_TOKENS / INIT_BACKEND_API_TOKENS / INIT_FRONTEND_API_TOKENS
//                     the tokens Unleash creates at start (its own env variables, read by
//                     createConfig)
// Authentication is Unleash's open-source type: API tokens are checked on every API route
// (admin, client, frontend). Logging is quiet (errors only); no version check, no telemetry.
import path from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.env.UNLEASH_DIR;
if (!dir) {
  console.error("UNLEASH_DIR is not set");
  process.exit(2);
}
const entry = path.join(dir, "node_modules", "unleash-server", "dist", "lib", "server-impl.js");
const unleash = await import(pathToFileURL(entry).href);

await unleash.start({
  db: { ssl: false },
  server: { host: "127.0.0.1", port: Number(process.env.UNLEASH_PORT), enableRequestLogger: false },
  authentication: { type: "open-source", enableApiToken: true, createAdminUser: false },
  versionCheck: { enable: false },
  logLevel: process.env.LOG_LEVEL || "error",
});
