-- wrk script for bench/flags/run.py. It loads bench/harness/wrk.lua for the Authorization header
-- (BENCH_AUTH, sent as is: "Bearer <jwt>" for Hearth's own API, the bare token for the Unleash
-- APIs) and the done() hook that prints the "BENCH_JSON {...}" summary, then builds each
-- request itself according to BENCH_MODE (a random user "user-<1..100000>" per request, and the
-- property plan=gold, the same for every target):
--   frontend      GET /api/frontend?userId=<user>&properties[plan]=gold (Unleash's frontend API,
--                 as its browser SDKs send the context)
--   evaluate      POST /v1/flags/evaluate?environment=BENCH_ENV
--                 {"context":{"userId":<user>,"properties":{"plan":"gold"}}}
--   features      GET /api/client/features (the backend SDKs' poll)
--   config-get    GET /v1/config/<key>?environment=BENCH_ENV, a random key of BENCH_KEYS
--   config-set    POST /v1/config to a random key of BENCH_KEYS, a unique value per request

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "../harness/wrk.lua")

local mode = os.getenv("BENCH_MODE") or "evaluate"
local env = os.getenv("BENCH_ENV") or "production"
local keys = {}
for k in string.gmatch(os.getenv("BENCH_KEYS") or "", "[^,]+") do
  keys[#keys + 1] = k
end

local run = tostring(os.time())
local counter = 0
math.randomseed(os.time() + math.floor(os.clock() * 1e6))

local EVAL = '{"context":{"userId":"user-%d","properties":{"plan":"gold"}}}'

if mode == "evaluate" or mode == "config-set" then
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
else
  wrk.method = "GET"
end
wrk.body = nil

if mode == "frontend" then
  function request()
    return wrk.format(nil, string.format(
      "/api/frontend?userId=user-%d&properties%%5Bplan%%5D=gold", math.random(1, 100000)))
  end
elseif mode == "evaluate" then
  local path = "/v1/flags/evaluate?environment=" .. env
  function request()
    return wrk.format(nil, path, nil, string.format(EVAL, math.random(1, 100000)))
  end
elseif mode == "features" then
  function request()
    return wrk.format(nil, "/api/client/features")
  end
elseif mode == "config-get" then
  function request()
    local key = keys[math.random(1, #keys)]
    return wrk.format(nil, "/v1/config/" .. key .. "?environment=" .. env)
  end
elseif mode == "config-set" then
  function request()
    counter = counter + 1
    local body = string.format(
      '{"environment":"%s","key":"%s","value":{"run":%s,"n":%d,"r":%d,"timeout_ms":%d}}',
      env, keys[math.random(1, #keys)], run, counter, math.random(0, 999999),
      math.random(100, 5000))
    return wrk.format(nil, "/v1/config", nil, body)
  end
end
