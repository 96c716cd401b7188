-- wrk script for POST /v1/users in bench/users/run.py: every request creates a new user.
-- It loads bench/harness/wrk.lua for the Authorization header (BENCH_AUTH) and the done() hook
-- that prints the "BENCH_JSON {...}" summary, then builds each request itself, because every
-- request needs a unique email: "bench-<run>-<counter>-<random>@example.test", where <run> is
-- the start time (warm-up and measurement are separate wrk runs) and <counter> counts per run.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "../harness/wrk.lua")

wrk.method = "POST"
wrk.body = nil
wrk.headers["Content-Type"] = "application/json"

local run = tostring(os.time())
local counter = 0
math.randomseed(os.time() + math.floor(os.clock() * 1e6))

function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"bench-%s-%d-%06d@example.test","display_name":"Bench User"}',
    run, counter, math.random(0, 999999))
  return wrk.format(nil, nil, nil, body)
end
