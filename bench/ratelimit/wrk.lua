-- wrk script for bench/ratelimit/run.py. It loads bench/harness/wrk.lua for the method, the body
-- (BENCH_METHOD, BENCH_BODY), the Authorization header (BENCH_AUTH) and the done() hook that
-- prints the "BENCH_JSON {...}" summary; the body is sent as JSON.
--
-- A "*" in the URL's path makes it a template: each request replaces it with a random n in
-- 0..BENCH_KEYS-1 (default 1000), e.g. /v1/ratelimits/bench/k*/check spreads the checks over
-- 1000 buckets. Without "*", every request goes to the same path (one bucket).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "../harness/wrk.lua")

wrk.headers["Content-Type"] = "application/json"

local keys = tonumber(os.getenv("BENCH_KEYS") or "1000")
local head, tail = wrk.path:match("^(.-)%*(.*)$")
math.randomseed(os.time() + math.floor(os.clock() * 1e6))

if head then
  function request()
    return wrk.format(nil, head .. math.random(0, keys - 1) .. tail)
  end
end
