-- wrk script for bench/flags/run.py. It loads bench/harness/wrk.lua for the Authorization header
-- (BENCH_AUTH) and the done() hook that prints the "BENCH_JSON {...}" summary, then builds each
-- request itself according to BENCH_MODE:
--   evaluate      POST /v1/flags/evaluate, a random user "user-<1..100000>" per request
--   evaluate304   POST /v1/flags/evaluate, the fixed user "user-1" with If-None-Match: BENCH_ETAG
--   config-get    GET /v1/config/<key>?environment=prod, a random key of BENCH_KEYS (comma list)
--   config-set    POST /v1/config to a random key of BENCH_KEYS, a unique value per request

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "../harness/wrk.lua")

local mode = os.getenv("BENCH_MODE") or "evaluate"
local keys = {}
for k in string.gmatch(os.getenv("BENCH_KEYS") or "", "[^,]+") do
  keys[#keys + 1] = k
end

local run = tostring(os.time())
local counter = 0
math.randomseed(os.time() + math.floor(os.clock() * 1e6))

local EVAL = '{"context":{"targetingKey":"user-%d","environment":"prod","plan":"gold"}}'

if mode == "evaluate" or mode == "evaluate304" or mode == "config-set" then
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

if mode == "evaluate304" then
  wrk.body = string.format(EVAL, 1)
  wrk.headers["If-None-Match"] = os.getenv("BENCH_ETAG")
elseif mode == "evaluate" then
  function request()
    return wrk.format(nil, nil, nil, string.format(EVAL, math.random(1, 100000)))
  end
elseif mode == "config-get" then
  wrk.method = "GET"
  wrk.body = nil
  function request()
    local key = keys[math.random(1, #keys)]
    return wrk.format(nil, "/v1/config/" .. key .. "?environment=prod")
  end
elseif mode == "config-set" then
  wrk.body = nil
  function request()
    counter = counter + 1
    local body = string.format(
      '{"environment":"prod","key":"%s","value":{"run":%s,"n":%d,"r":%d,"timeout_ms":%d}}',
      keys[math.random(1, #keys)], run, counter, math.random(0, 999999), math.random(100, 5000))
    return wrk.format(nil, "/v1/config", nil, body)
  end
end
